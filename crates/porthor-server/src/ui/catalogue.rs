//! The message catalogue: every sentence a page shows, per language, from
//! the built-in `messages/<lang>.toml` and an operator's
//! `messages.<lang>.toml`. Nested tables name keys by their path
//! (`[login] title` is `login.title`). English is complete and is the
//! fallback for any key another language lacks.

use std::collections::BTreeMap;

/// The language every other falls back to.
pub(crate) const FALLBACK: &str = "en";

const BUILTIN: [(&str, &str); 2] = [
    ("en", include_str!("messages/en.toml")),
    ("de", include_str!("messages/de.toml")),
];

/// Messages by language, then by key.
#[derive(Debug, Default)]
pub struct Catalogue {
    languages: BTreeMap<String, BTreeMap<String, String>>,
}

impl Catalogue {
    /// The built-in catalogues.
    pub(crate) fn builtin() -> Result<Self, String> {
        let mut catalogue = Self::default();
        for (lang, text) in BUILTIN {
            catalogue.merge(lang, text)?;
        }
        Ok(catalogue)
    }

    /// Adds the messages of `text` (TOML) to `lang`, replacing those with
    /// the same keys.
    pub(crate) fn merge(&mut self, lang: &str, text: &str) -> Result<(), String> {
        let valid =
            !lang.is_empty() && lang.len() <= 8 && lang.chars().all(|c| c.is_ascii_lowercase());
        if !valid {
            return Err(format!(
                "{lang:?} is not a language code such as \"en\" or \"de\" (lower case, no region)"
            ));
        }
        let table: toml::Table = toml::from_str(text).map_err(|error| error.to_string())?;
        let messages = self.languages.entry(lang.to_owned()).or_default();
        flatten("", &table, messages)
    }

    /// The languages with messages.
    pub(crate) fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.keys().map(String::as_str)
    }

    /// Whether `lang` has messages.
    pub(crate) fn has(&self, lang: &str) -> bool {
        self.languages.contains_key(lang)
    }

    /// The message `key` in `lang`, or in English.
    pub(crate) fn get(&self, lang: &str, key: &str) -> Option<&str> {
        [lang, FALLBACK]
            .iter()
            .find_map(|lang| self.languages.get(*lang)?.get(key))
            .map(String::as_str)
    }

    /// The English keys `lang` lacks.
    #[cfg(test)]
    pub(crate) fn missing(&self, lang: &str) -> Vec<&str> {
        let (Some(english), Some(other)) = (self.languages.get(FALLBACK), self.languages.get(lang))
        else {
            return vec!["(the language itself)"];
        };
        english
            .keys()
            .filter(|key| !other.contains_key(*key))
            .map(String::as_str)
            .collect()
    }
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::String(text) => {
                out.insert(key, text.clone());
            }
            toml::Value::Table(table) => flatten(&key, table, out)?,
            _ => return Err(format!("{key}: a message must be a string")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_and_fall_back() {
        let mut catalogue = Catalogue::builtin().unwrap();
        catalogue
            .merge("de", "[login]\ntitle = \"Einloggen\"")
            .unwrap();
        catalogue
            .merge("fr", "[login]\ntitle = \"Connexion\"")
            .unwrap();
        assert_eq!(catalogue.get("de", "login.title"), Some("Einloggen"));
        assert_eq!(catalogue.get("de", "login.username"), Some("Benutzername"));
        assert_eq!(catalogue.get("fr", "login.title"), Some("Connexion"));
        assert_eq!(catalogue.get("fr", "login.username"), Some("Username"));
        assert_eq!(catalogue.get("fr", "no.such.key"), None);
    }

    #[test]
    fn bad_catalogues_are_refused() {
        let mut catalogue = Catalogue::default();
        assert!(catalogue.merge("de", "title = 3").is_err());
        assert!(catalogue.merge("de", "title = ").is_err());
        assert!(catalogue.merge("../x", "").is_err());
        assert!(catalogue.merge("de-AT", "").is_err());
    }
}
