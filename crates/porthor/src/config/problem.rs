//! The configuration's errors: a [`Problem`] at one key, all of them at once
//! as [`ConfigErrors`], and the [`Problems`] collector that gathers them.
//!
//! Both loading and validation report in this one form, `key: message`
//! (`store.redis_url: ...`, `clients[1].redirect_uris[0]: ...`), so an
//! operator reads the same kind of error whichever step found it.

use std::fmt;

/// One thing wrong with the configuration, at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key's path (`store.redis_url`, `clients[1].client_id`), or `None`
    /// for the file as a whole.
    pub key: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// A problem with the file as a whole (unreadable, not TOML).
    pub fn file(message: impl Into<String>) -> Self {
        Self {
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{key}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Everything wrong with a configuration; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<Problem>);

impl ConfigErrors {
    pub fn one(problem: Problem) -> Self {
        Self(vec![problem])
    }

    pub fn problems(&self) -> &[Problem] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [first, rest @ ..] = self.0.as_slice() else {
            return f.write_str("invalid configuration");
        };
        if rest.is_empty() {
            return write!(f, "invalid configuration: {first}");
        }
        write!(f, "invalid configuration ({} problems):", self.0.len())?;
        for problem in &self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects problems while validating, so that all are reported at once,
/// and warnings: what is odd but harmless, such as a key the chosen backend
/// does not use (so that an environment variable can override a file that
/// names a Redis with `PORTHOR_STORE__BACKEND=memory`).
#[derive(Debug, Default)]
pub struct Problems {
    errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Problems {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Problem::new(key, message));
    }

    pub fn warn(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem::new(key, message));
    }

    /// `result`'s value, or `None` with its error recorded at `key`.
    pub fn check<T, E: fmt::Display>(&mut self, key: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|error| self.push(key, error.to_string()))
            .ok()
    }

    /// `value` if no problem was recorded, every problem otherwise.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, ConfigErrors> {
        match value {
            _ if !self.errors.is_empty() => Err(ConfigErrors(self.errors)),
            Some(value) => Ok(value),
            // A check that came to nothing must have said why.
            None => Err(ConfigErrors::one(Problem::file(
                "invalid configuration (no details: this is a bug)",
            ))),
        }
    }
}
