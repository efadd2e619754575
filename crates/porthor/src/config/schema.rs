//! The JSON Schema of the configuration file, for editors (taplo, VS Code's
//! Even Better TOML) and for `cargo xtask codegen`, which renders
//! docs/configuration.md's reference from it.
//!
//! It is derived from the `raw` structs, so it cannot drift from what
//! `load` accepts: their doc comments are the descriptions, their `Default`
//! impls the defaults. Each key a `PORTHOR_*` variable may set carries that
//! variable's name as `x-porthor-env`, taken from the list `load` itself
//! uses.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::raw::{ENV_KEYS, Settings, env_var};

/// The annotation naming a key's environment variable.
pub const ENV_ANNOTATION: &str = "x-porthor-env";

/// The schema of the whole file, as JSON.
pub fn json_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Settings>().to_value();
    drop_null(&mut schema);
    if let Some(root) = schema.as_object_mut() {
        root.insert(
            "title".to_owned(),
            Value::from("Porthor configuration (porthor.toml)"),
        );
    }
    for key in ENV_KEYS {
        if let Some(property) = property_mut(&mut schema, key) {
            property.insert(ENV_ANNOTATION.to_owned(), Value::from(env_var(key)));
        }
    }
    schema
}

/// Removes `null` from every schema: TOML has no null, an optional key is
/// one that is absent, so `Option<T>` is just `T` here.
fn drop_null(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|kind| kind != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    map.insert("type".to_owned(), only);
                }
            }
            let alternatives = map.get_mut("anyOf").and_then(Value::as_array_mut);
            if let Some(alternatives) = alternatives {
                alternatives
                    .retain(|alternative| alternative.get("type") != Some(&Value::from("null")));
                if let [only] = alternatives.as_slice() {
                    let only = only.clone();
                    map.remove("anyOf");
                    if let Value::Object(only) = only {
                        for (key, value) in only {
                            map.entry(key).or_insert(value);
                        }
                    }
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// The schema of the dotted `key` (`store.redis_url`) where its table
/// names it: the tables on the way are followed through their `$ref`s into
/// `$defs`, the key's own `$ref` (an enum's) is not, so that an annotation
/// lands on the key, never on a type that others may share.
fn property_mut<'a>(schema: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let mut path: Vec<String> = Vec::new();
    for segment in key.split('.') {
        path = resolve(schema, &path)?;
        path.push("properties".to_owned());
        path.push(segment.to_owned());
    }
    let mut value = &mut *schema;
    for segment in &path {
        value = value.get_mut(segment)?;
    }
    value.as_object_mut()
}

/// The JSON path of the schema at `path`, with a `$ref` there followed (once
/// per level; schemars never chains them).
fn resolve(schema: &Value, path: &[String]) -> Option<Vec<String>> {
    let mut value = schema;
    for segment in path {
        value = value.get(segment)?;
    }
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix("#/")?;
            Some(pointer.split('/').map(str::to_owned).collect())
        }
        None => Some(path.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;

    /// Every key whose schema is a scalar (not a table, not a list), as
    /// dotted paths.
    fn scalar_keys(schema: &Value, at: &Value, prefix: &str, out: &mut Vec<String>) {
        let at = match at.get("$ref").and_then(Value::as_str) {
            Some(reference) => schema
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or(at),
            None => at,
        };
        let Some(properties) = at.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (name, property) in properties {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            let resolved = match property.get("$ref").and_then(Value::as_str) {
                Some(reference) => schema
                    .pointer(reference.trim_start_matches('#'))
                    .unwrap_or(property),
                None => property,
            };
            match resolved.get("type").and_then(Value::as_str) {
                Some("object") => scalar_keys(schema, resolved, &key, out),
                Some("array") => {}
                _ => out.push(key),
            }
        }
    }

    /// The schema's view of which keys the environment may set is exactly
    /// the list `load` uses: a new scalar key without a variable, or a
    /// variable naming no key, fails here.
    #[test]
    fn every_scalar_key_and_only_those_have_a_variable() {
        let schema = json_schema();
        let mut scalars = Vec::new();
        scalar_keys(&schema, &schema, "", &mut scalars);
        scalars.sort();
        let mut env_keys: Vec<String> = ENV_KEYS.iter().map(|key| (*key).to_owned()).collect();
        env_keys.sort();
        assert_eq!(scalars, env_keys);
        for key in ENV_KEYS {
            let property = property_mut(&mut schema.clone(), key)
                .unwrap_or_else(|| panic!("{key} is not in the schema"))
                .clone();
            assert_eq!(
                property.get(ENV_ANNOTATION),
                Some(&Value::from(env_var(key))),
                "{key}"
            );
        }
        assert_eq!(env_var("store.redis_url"), "PORTHOR_STORE__REDIS_URL");
        assert_eq!(env_var("issuer"), "PORTHOR_ISSUER");
    }

    /// The defaults the schema states are the ones a file of empty tables
    /// loads with: the value at each key with a `default`, as the loaded
    /// settings serialize it.
    #[test]
    fn the_stated_defaults_are_the_loaded_defaults() {
        let schema = json_schema();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("porthor.toml");
        std::fs::write(&file, "[store]\n[signing]\n").unwrap();
        let loaded = load(Some(&file), []).unwrap().settings;
        let loaded = serde_json::to_value(&loaded).unwrap();
        let mut checked = 0;
        for key in ENV_KEYS {
            let property = property_mut(&mut schema.clone(), key).unwrap().clone();
            let Some(default) = property.get("default") else {
                continue;
            };
            let pointer = format!("/{}", key.replace('.', "/"));
            // A key of an optional table (`[store.sentinel]`) has its
            // default only once the table is there.
            let table = &pointer[..pointer.rfind('/').unwrap_or(0)];
            if !table.is_empty() && loaded.pointer(table).is_none() {
                continue;
            }
            assert_eq!(loaded.pointer(&pointer), Some(default), "{key}");
            checked += 1;
        }
        assert!(checked >= 25, "only {checked} defaults checked");
    }

    #[test]
    fn unknown_keys_are_refused_like_the_loader_does() {
        let schema = json_schema();
        assert_eq!(schema["additionalProperties"], Value::Bool(false));
        for table in ["server", "store", "tokens", "metrics"] {
            let path = resolve(&schema, &["properties".into(), table.into()]).unwrap();
            let table_schema = path
                .iter()
                .fold(&schema, |value, segment| &value[segment.as_str()]);
            assert_eq!(
                table_schema["additionalProperties"],
                Value::Bool(false),
                "{table}"
            );
        }
    }
}
