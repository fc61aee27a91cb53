//! The operator's token (`admin_token`) and when it is too weak to open operator access.
//!
//! A deployment that kept the example's placeholder, or chose a short word, would hand the
//! operator's powers (every source, every trigger) to whoever guesses it. Operator access is
//! therefore refused, with a reason, while the token is shorter than [`MIN_ADMIN_TOKEN_LEN`]
//! characters or is a known placeholder; trigger owners are not affected.

/// The fewest characters an operator token may have (`openssl rand -hex 32` gives 64).
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// Placeholders shipped in examples or commonly typed instead of a secret, compared without case
/// and ignoring `-`, `_` and spaces (so `change-me`, `CHANGE_ME` and `changeme` are one).
pub const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "replaceme",
    "replace-me",
    "admin",
    "administrator",
    "secret",
    "password",
    "token",
    "test",
    "example",
    "default",
    "todo",
    "xxx",
    "admin-token",
    "your-admin-token",
    "your-token-here",
];

fn normalized(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Why `token` cannot be the operator's token, or `None` when it may. The reason never contains
/// the token.
pub fn admin_token_weakness(token: &str) -> Option<String> {
    let token = token.trim();
    let plain = normalized(token);
    let placeholder = PLACEHOLDERS.iter().any(|p| normalized(p) == plain)
        || plain.contains("changeme")
        || plain.contains("replaceme");
    if placeholder {
        return Some(
            "the Spin variable admin_token is a placeholder; set it to a generated secret \
             (openssl rand -hex 32)"
                .into(),
        );
    }
    let chars = token.chars().count();
    if chars < MIN_ADMIN_TOKEN_LEN {
        return Some(format!(
            "the Spin variable admin_token has {chars} characters, fewer than the \
             {MIN_ADMIN_TOKEN_LEN} required; set it to a generated secret (openssl rand -hex 32)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_short_tokens_are_refused_with_a_reason_that_hides_them() {
        let long_placeholder = format!("change-me-{}", "0".repeat(40));
        for weak in [
            "",
            "change-me",
            "CHANGE_ME",
            "changeme",
            "admin",
            "secret",
            "password",
            "token",
            "REPLACE-ME",
            "test-admin-token",
            "0123456789abcdef0123456789abcde", // 31 characters
            &long_placeholder,
        ] {
            let why = admin_token_weakness(weak).unwrap_or_else(|| panic!("{weak:?} accepted"));
            assert!(why.contains("admin_token"), "{why}");
            assert!(
                weak.len() < 10 || !why.contains(weak),
                "{why} echoes {weak:?}"
            );
        }
        for strong in [
            "0123456789abcdef0123456789abcdef",
            "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5",
        ] {
            assert_eq!(admin_token_weakness(strong), None, "{strong}");
        }
    }

    #[test]
    fn the_shipped_example_is_refused() {
        let example = include_str!("../../../deploy/secrets.env.example");
        for line in example.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if let Some(value) = line
                .strip_prefix("SPIN_VARIABLE_ADMIN_TOKEN=")
                .or_else(|| line.strip_prefix("AURRAS_ADMIN_TOKEN="))
            {
                assert!(admin_token_weakness(value).is_some(), "{line}");
            }
        }
    }
}
