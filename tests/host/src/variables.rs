//! Application and component variables, resolved the way Spin's default providers do:
//! an environment variable `SPIN_VARIABLE_<NAME>` wins, then the manifest's `default`.
//!
//! Everything is resolved at startup, so an unset `required` variable stops the host with a message
//! that says how to set it, instead of failing the first request that reads it.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};

use crate::manifest::VariableDecl;

/// A source of variable values (Spin's "providers"); the process environment in production.
pub trait Provider {
    /// The value of `SPIN_VARIABLE_<NAME>`-style variables.
    fn get(&self, env_name: &str) -> Option<String>;
}

/// The process environment.
pub struct EnvProvider;

impl Provider for EnvProvider {
    fn get(&self, env_name: &str) -> Option<String> {
        std::env::var(env_name).ok()
    }
}

impl Provider for BTreeMap<String, String> {
    fn get(&self, env_name: &str) -> Option<String> {
        BTreeMap::get(self, env_name).cloned()
    }
}

/// The environment variable that overrides application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// Spin's rule for variable names: lowercase ASCII letters, digits and underscores, starting with
/// a letter, ending with a letter or digit, no `__`.
pub fn check_name(name: &str) -> Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        bail!(
            "variable name {name:?} is invalid: use lower-case letters, digits and single \
             underscores, starting with a letter"
        );
    }
    Ok(())
}

/// The application's variables with their values.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// Resolves every declared variable, listing every required one that has no value.
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        provider: &dyn Provider,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in decls {
            check_name(name).map_err(|e| e.context("[variables]"))?;
            if decl.required && decl.default.is_some() {
                bail!("[variables] {name}: a variable is either `required` or has a `default`, not both");
            }
            if !decl.required && decl.default.is_none() {
                bail!("[variables] {name}: give it a `default` or mark it `required = true`");
            }
            match provider
                .get(&env_name(name))
                .or_else(|| decl.default.clone())
            {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None => missing.push(name.as_str()),
            }
        }
        if !missing.is_empty() {
            let how: Vec<String> = missing
                .iter()
                .map(|n| format!("{n} (set {}=…)", env_name(n)))
                .collect();
            bail!(
                "required application variable(s) have no value: {}",
                how.join(", ")
            );
        }
        Ok(Self { values })
    }

    /// Expands a component variable's template: `{{ name }}` refers to an application variable.
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| anyhow!("template {template:?} has an unclosed `{{{{`"))?;
            let name = after[..end].trim();
            let value = self.values.get(name).ok_or_else(|| {
                anyhow!("template {template:?} refers to {name:?}, which is not in [variables]")
            })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolves a component's `variables` table into its final values.
    pub fn component_values(
        &self,
        templates: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        templates
            .iter()
            .map(|(name, template)| {
                check_name(name)?;
                Ok((name.clone(), self.expand(template)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>, required: bool) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_owned),
            required,
            secret: false,
            description: None,
        }
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults() {
        let decls = BTreeMap::from([
            ("greeting".to_string(), decl(Some("hi"), false)),
            ("token".to_string(), decl(None, true)),
        ]);
        let vars =
            AppVariables::resolve(&decls, &env(&[("SPIN_VARIABLE_TOKEN", "s3cret")])).expect("ok");
        assert_eq!(
            vars.expand("{{ greeting }}, {{token}}!").expect("expand"),
            "hi, s3cret!"
        );
    }

    #[test]
    fn missing_required_variables_are_all_named_with_the_fix() {
        let decls = BTreeMap::from([
            ("a_token".to_string(), decl(None, true)),
            ("b_token".to_string(), decl(None, true)),
        ]);
        let err = AppVariables::resolve(&decls, &env(&[]))
            .expect_err("missing")
            .to_string();
        assert!(
            err.contains("SPIN_VARIABLE_A_TOKEN") && err.contains("SPIN_VARIABLE_B_TOKEN"),
            "{err}"
        );
    }

    #[test]
    fn bad_names_and_dangling_templates_are_rejected() {
        assert!(check_name("Admin").is_err());
        assert!(check_name("1x").is_err());
        assert!(check_name("a__b").is_err());
        assert!(check_name("a_").is_err());
        assert!(check_name("admin_token2").is_ok());
        let vars = AppVariables::default();
        assert!(vars.expand("{{ nope }}").is_err());
        assert!(vars.expand("{{ open").is_err());
    }
}
