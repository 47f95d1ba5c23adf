//! JAAS configuration text as Kafka's `JaasConfig` reads one login module:
//! `<LoginModuleClass> <flag> key="value" key2=value2;` (the flag one of required, requisite,
//! sufficient, optional). PLAIN's users come from its `user_<name>="<password>"` options.

use std::collections::BTreeMap;

use crate::SecurityError;

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    pub login_module: String,
    pub options: BTreeMap<String, String>,
}

impl JaasEntry {
    /// Parses exactly one entry from the value of `key` (named in errors).
    pub fn parse(key: &str, text: &str) -> Result<Self, SecurityError> {
        let error = |reason: &str| SecurityError::config(key, reason);
        let mut tokens = Tokens { rest: text.trim() };
        let login_module = tokens
            .word()
            .ok_or_else(|| error("expected a login module class"))?;
        let flag = tokens
            .word()
            .ok_or_else(|| error("expected a control flag"))?;
        if !matches!(
            flag.as_str(),
            "required" | "requisite" | "sufficient" | "optional"
        ) {
            return Err(error(&format!("invalid control flag `{flag}`")));
        }
        let mut options = BTreeMap::new();
        loop {
            tokens.skip_space();
            if tokens.rest.starts_with(';') {
                tokens.rest = &tokens.rest[1..];
                break;
            }
            let name = tokens
                .word_until('=')
                .ok_or_else(|| error("expected `name=value` or `;`"))?;
            if !tokens.rest.starts_with('=') {
                return Err(error(&format!("expected `=` after `{name}`")));
            }
            tokens.rest = &tokens.rest[1..];
            let value = tokens
                .value()
                .ok_or_else(|| error(&format!("expected a value for `{name}`")))?;
            options.insert(name, value);
        }
        if !tokens.rest.trim().is_empty() {
            return Err(error("expected exactly one login module"));
        }
        Ok(Self {
            login_module,
            options,
        })
    }

    /// PLAIN's users: the `user_<name>` options.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
            .collect()
    }
}

struct Tokens<'a> {
    rest: &'a str,
}

impl Tokens<'_> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn word(&mut self) -> Option<String> {
        self.skip_space();
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || c == ';')
            .unwrap_or(self.rest.len());
        (end > 0).then(|| {
            let word = self.rest[..end].to_string();
            self.rest = &self.rest[end..];
            word
        })
    }

    fn word_until(&mut self, stop: char) -> Option<String> {
        self.skip_space();
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || c == stop || c == ';')
            .unwrap_or(self.rest.len());
        (end > 0).then(|| {
            let word = self.rest[..end].to_string();
            self.rest = self.rest[end..].trim_start();
            word
        })
    }

    /// A quoted value (`\"` and `\\` escaped) or a bare word.
    fn value(&mut self) -> Option<String> {
        self.skip_space();
        let Some(quoted) = self.rest.strip_prefix('"') else {
            return self.word();
        };
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?.1),
                '"' => {
                    self.rest = &quoted[i + 1..];
                    return Some(value);
                }
                c => value.push(c),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_login_module_gives_its_users() {
        let entry = JaasEntry::parse(
            "listener.name.sasl_ssl.plain.sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret" user_admin="admin-secret" user_alice="p;w\"x";"#,
        )
        .unwrap();
        assert_eq!(
            entry.login_module,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        let users = entry.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "p;w\"x");
        assert_eq!(entry.options["username"], "admin");
    }

    #[test]
    fn malformed_entries_are_refused() {
        for text in [
            "",
            "Module",
            "Module sometimes a=\"b\";",
            "Module required a=\"b\"",
            "Module required a=\"b\"; Other required;",
            "Module required a;",
        ] {
            assert!(
                JaasEntry::parse("k", text).is_err(),
                "{text:?} was accepted"
            );
        }
        assert!(JaasEntry::parse("k", "Module required;").is_ok());
    }
}
