//! The configuration's public face: [`load()`] what the file and the
//! environment say, then [`validate()`] it into the [`Config`] the commands run
//! on.
//!
//! Inside, dependencies point one way, as the steps run:
//!
//! ```text
//! problem    Problem, ConfigErrors: the errors both steps report
//!    ^
//! raw        the serde structs, file + PORTHOR_* layering      (load)
//!    ^
//! validate   raw -> the plain structs each crate takes         (validate)
//! schema     raw -> its JSON Schema, for editors and the docs  (config-schema)
//! ```
//!
//! `raw` knows nothing of `validate` (`tests/layering.rs` holds it to that):
//! what a key may say is decided in one place, and the parsed form stays a
//! plain image of the file and the environment.

mod problem;
mod raw;
mod schema;
mod validate;

pub use problem::ConfigErrors;
pub use raw::{ClientSettings, Loaded, LogFormat, Settings, UserSettings, load, resolve, to_toml};
pub use schema::json_schema;
pub use validate::{Config, KeyFiles, check_entries, validate};

#[cfg(test)]
mod tests;
