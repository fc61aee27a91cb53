//! `up`'s opt-out from the shipped runtime config's `block_networks = ["private"]`, for local
//! development that delivers to a receiver on this machine: explicit, and printed.

use std::path::{Path, PathBuf};

/// Whether deliveries may reach loopback and private networks, and what turned that on.
pub(super) struct PrivateDestinations {
    /// Allowed.
    pub allowed: bool,
    /// The flag that allowed it.
    pub by: &'static str,
}

impl PrivateDestinations {
    /// The runtime config the app runs with: the one named, else the shipped one that blocks
    /// private networks, or its development twin without `block_networks`.
    pub fn runtime_config(&self, named: Option<&Path>) -> PathBuf {
        match named {
            Some(file) => file.to_owned(),
            None if self.allowed => PathBuf::from("runtime-config.dev.toml"),
            None => PathBuf::from("runtime-config.toml"),
        }
    }

    /// The line saying so.
    pub fn notice(&self, named: Option<&Path>) -> String {
        let config = match named {
            Some(file) => format!("{} as given", file.display()),
            None => "runtime-config.dev.toml, without block_networks".to_owned(),
        };
        format!(
            "Private destinations allowed ({}): deliveries may reach loopback and private \
             networks (allow_private_destinations=true; runtime config {config}). Local \
             development only.",
            self.by
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_flag_leaves_the_blocking_config() {
        let blocked = PrivateDestinations {
            allowed: false,
            by: "--dev-chain",
        };
        assert_eq!(
            blocked.runtime_config(None),
            PathBuf::from("runtime-config.toml")
        );
        let dev = PrivateDestinations {
            allowed: true,
            by: "--dev-chain",
        };
        assert_eq!(
            dev.runtime_config(None),
            PathBuf::from("runtime-config.dev.toml")
        );
        assert!(dev.notice(None).contains("--dev-chain"));
        assert!(dev.notice(None).contains("without block_networks"));
        let named = Path::new("mine.toml");
        assert_eq!(dev.runtime_config(Some(named)), PathBuf::from("mine.toml"));
        assert!(dev.notice(Some(named)).contains("mine.toml as given"));
        assert_eq!(
            blocked.runtime_config(Some(named)),
            PathBuf::from("mine.toml")
        );
    }
}
