//! Property tests of the configuration loader: any bytes as the file, any
//! document built from the real keys with hostile values, and the good
//! file with one key made hostile, are loaded and validated without a
//! panic, and every failure names its key. Each case writes a file and
//! loads a signing key, which costs about a millisecond: proptest's default
//! 256 cases each run in well under a second.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use toml::Value;

use super::super::problem::ConfigErrors;
use super::super::validate::MAX_DURATION;
use super::super::{Config, KeyFiles, load, validate};
use super::{Fixture, good_toml};

/// One directory with the key files for every case; each case writes its
/// own file there, so that the tests may run in parallel.
static FIXTURE: LazyLock<Fixture> = LazyLock::new(Fixture::new);
static CASE: AtomicUsize = AtomicUsize::new(0);

/// Loads and validates `bytes` as the configuration file.
fn load_bytes(bytes: &[u8]) -> Result<Config, ConfigErrors> {
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf = FIXTURE.dir.path().join(format!("case-{case}.toml"));
    std::fs::write(&path, bytes).unwrap();
    let result =
        load(Some(&path), Vec::new()).and_then(|loaded| validate(&loaded, KeyFiles::OwnerOnly));
    std::fs::remove_file(&path).unwrap();
    result
}

/// The sections of the file and their scalar keys.
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "server",
        &[
            "listen",
            "workers",
            "trusted_proxies",
            "max_header_bytes",
            "max_form_bytes",
        ],
    ),
    (
        "store",
        &[
            "backend",
            "redis_url",
            "pool_size",
            "key_prefix",
            "encryption_key_file",
        ],
    ),
    ("signing", &["key_file", "previous_key_files"]),
    (
        "tokens",
        &[
            "code_lifetime",
            "id_token_lifetime",
            "access_token_lifetime",
            "session_lifetime",
            "refresh_token_lifetime",
            "refresh_token_idle_timeout",
            "consent_lifetime",
        ],
    ),
    ("limits", &["sessions_per_user"]),
    ("log", &["format"]),
    (
        "throttle",
        &[
            "enabled",
            "window",
            "lockout",
            "user_failures",
            "ip_failures",
            "client_failures",
        ],
    ),
    ("login", &["queue_timeout"]),
];

const CLIENT_KEYS: &[&str] = &[
    "client_id",
    "client_secret_hash",
    "token_endpoint_auth_method",
    "redirect_uris",
    "require_pkce",
    "post_logout_redirect_uris",
    "always_issue_refresh_token",
    "name",
    "consent",
    "allowed_scopes",
    "allow_offline_access",
    "introspect_any",
];

const USER_KEYS: &[&str] = &["username", "password_hash", "name", "email", "groups"];

/// Every key the file may hold, as the problems name them.
fn every_key() -> Vec<String> {
    let mut keys = vec!["issuer".to_owned()];
    for (section, names) in SECTIONS {
        keys.extend(names.iter().map(|name| format!("{section}.{name}")));
    }
    for index in 0..2 {
        keys.extend(
            CLIENT_KEYS
                .iter()
                .map(|name| format!("clients[{index}].{name}")),
        );
        keys.extend(
            USER_KEYS
                .iter()
                .map(|name| format!("users[{index}].{name}")),
        );
    }
    keys.extend(
        [
            "clients[0].redirect_uris[0]",
            "clients[1].redirect_uris[1]",
            "clients[0]",
            "users[1]",
            "log",
            "tokens",
        ]
        .map(str::to_owned),
    );
    keys
}

/// Strings that are nearly right, or wrong in the ways operators get them
/// wrong, or hostile.
const STRINGS: &[&str] = &[
    "",
    " ",
    "0",
    "1",
    "-1",
    "0s",
    "1s",
    "-5s",
    "-1h",
    "1.5h",
    "10 minutes",
    "99999999999999999999999d",
    "18446744073709551615s",
    "584942417355y",
    "1000000000y",
    "https://auth.example.com",
    "https://auth.example.com/",
    "http://auth.example.com",
    "http://127.0.0.1:8080",
    "https://",
    "https://a.example/#frag",
    "https://user:pass@a.example",
    "javascript:alert(1)",
    "redis://",
    "redis://127.0.0.1:99999",
    "rediss://h/0",
    "unix:///tmp/redis.sock",
    "127.0.0.1:0",
    "[::1]:8080",
    "0.0.0.0:70000",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "::/0",
    "10.0.0.0/33",
    "redis",
    "memory",
    "json",
    "text",
    "none",
    "client_secret_basic",
    "openid",
    "secrets/signing.pem",
    "secrets/store.key",
    "secrets",
    "/nonexistent/key.pem",
    "../../../etc/passwd",
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
    "é",
    "\u{202e}",
    "\u{0}",
    "\n",
    "a\"b",
];

fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(STRINGS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn hostile_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => hostile_string().prop_map(Value::String),
        2 => prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(u32::MAX.into()),
            any::<i64>(),
        ]
        .prop_map(Value::Integer),
        1 => prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-0.5)].prop_map(Value::Float),
        1 => any::<bool>().prop_map(Value::Boolean),
    ]
}

/// A value of any shape: scalar, list, table.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => hostile_scalar(),
        2 => proptest::collection::vec(hostile_scalar(), 0..3).prop_map(Value::Array),
        1 => Just(Value::Table(toml::map::Map::new())),
        1 => (hostile_string(), hostile_scalar()).prop_map(|(key, value)| {
            Value::Table([(key, value)].into_iter().collect())
        }),
    ]
}

/// The segments of a key path: `clients[1].redirect_uris[0]` is
/// `clients`, 1, `redirect_uris`, 0.
enum Segment<'a> {
    Name(&'a str),
    Index(usize),
}

fn segments(key: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let mut pieces = part.split('[');
        if let Some(name) = pieces.next() {
            out.push(Segment::Name(name));
        }
        for index in pieces {
            out.push(Segment::Index(index.trim_end_matches(']').parse().unwrap()));
        }
    }
    out
}

/// `document` with the value at `key` replaced by `value` (created if
/// absent, where its parent exists).
fn set(document: &mut Value, key: &str, value: Value) {
    let segments = segments(key);
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut here = document;
    for segment in parents {
        here = match (segment, here) {
            (Segment::Name(name), Value::Table(table)) => table
                .entry(*name)
                .or_insert_with(|| Value::Table(toml::map::Map::new())),
            (Segment::Index(index), Value::Array(array)) if *index < array.len() => {
                &mut array[*index]
            }
            _ => return,
        };
    }
    match (last, here) {
        (Segment::Name(name), Value::Table(table)) => {
            table.insert((*name).to_owned(), value);
        }
        (Segment::Index(index), Value::Array(array)) if *index < array.len() => {
            array[*index] = value
        }
        _ => {}
    }
}

/// Documents built from the real keys: any subset of the sections and of
/// their keys, a client and a user perhaps, with hostile values.
fn hostile_document() -> impl Strategy<Value = Value> {
    let keys = every_key();
    let issuer = proptest::option::of(hostile_value());
    let assignments =
        proptest::collection::vec((proptest::sample::select(keys), hostile_value()), 0..12);
    (issuer, any::<bool>(), any::<bool>(), assignments).prop_map(
        |(issuer, client, user, assignments)| {
            let mut document = Value::Table(toml::map::Map::new());
            if let Some(issuer) = issuer {
                set(&mut document, "issuer", issuer);
            }
            for (present, list) in [(client, "clients"), (user, "users")] {
                if present {
                    let entries = vec![Value::Table(toml::map::Map::new()); 2];
                    set(&mut document, list, Value::Array(entries));
                }
            }
            for (key, value) in assignments {
                set(&mut document, &key, value);
            }
            document
        },
    )
}

/// The top-level name a problem's key starts with.
fn top_level(key: &str) -> &str {
    key.split(['.', '[']).next().unwrap_or(key)
}

/// Whether a problem at `problem` is about `key`: the key itself, inside
/// it (`clients[0].redirect_uris[0]` for `clients[0].redirect_uris`), or
/// the value holding it (`clients[0]` when an entry lost a required key).
fn names(problem: &str, key: &str) -> bool {
    let within = |inner: &str, outer: &str| {
        inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    within(problem, key) || within(key, problem)
}

/// Every duration a valid configuration holds is one the stores can
/// expire and the clock can add (see `MAX_DURATION`).
fn check_durations(config: &Config) -> Result<(), TestCaseError> {
    let lifetimes = &config.oidc.lifetimes;
    let throttle = &config.oidc.throttle;
    for duration in [
        lifetimes.code,
        lifetimes.id_token,
        lifetimes.access_token,
        lifetimes.session,
        lifetimes.refresh_token,
        lifetimes.refresh_token_idle,
        lifetimes.consent,
        throttle.window,
        throttle.lockout,
        config.oidc.password_queue_timeout,
    ] {
        prop_assert!(duration <= MAX_DURATION, "{:?}", duration);
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_bytes_are_refused_or_loaded_without_panic(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<String>().prop_map(String::into_bytes),
            "([a-z_]{1,10} = (\"[^\"]{0,10}\"|[0-9-]{1,5}|true)\n|\\[\\[?[a-z]{1,8}\\]\\]?\n){0,8}"
                .prop_map(String::into_bytes),
        ],
    ) {
        if let Err(errors) = load_bytes(&bytes) {
            prop_assert!(!errors.problems().is_empty());
            prop_assert!(errors.to_string().starts_with("invalid configuration"));
        }
    }

    #[test]
    fn documents_of_the_real_keys_fail_at_a_key(document in hostile_document()) {
        let text = toml::to_string(&document).unwrap();
        let known: Vec<&str> = SECTIONS
            .iter()
            .map(|(section, _)| *section)
            .chain(["issuer", "clients", "users"])
            .collect();
        let result = load_bytes(text.as_bytes());
        if let Ok(config) = &result {
            check_durations(config)?;
        }
        if let Err(errors) = result {
            for problem in errors.problems() {
                let key = problem.key.as_deref();
                prop_assert!(
                    key.is_some_and(|key| known.contains(&top_level(key))),
                    "{}\n---\n{}", errors, text
                );
            }
        }
    }

    #[test]
    fn one_hostile_key_validates_or_is_named(
        key in proptest::sample::select(every_key()),
        value in hostile_value(),
    ) {
        let mut document: Value = toml::from_str(&good_toml()).unwrap();
        set(&mut document, &key, value);
        let text = toml::to_string(&document).unwrap();
        let result = load_bytes(text.as_bytes());
        if let Ok(config) = &result {
            check_durations(config)?;
        }
        if let Err(errors) = result {
            // A rule across keys is reported at one of them, and its
            // message names the other.
            let name = key.rsplit(['.', '[']).next().unwrap_or(&key).trim_end_matches(']');
            for problem in errors.problems() {
                let named = problem.key.as_deref().is_some_and(|at| names(at, &key))
                    || problem.message.contains(name);
                prop_assert!(named, "{} is not about {}\n---\n{}", errors, key, text);
            }
        }
    }
}

/// The good file loads from this same fixture, so that a failure above is
/// the mutation's.
#[test]
fn the_good_file_loads() {
    load_bytes(good_toml().as_bytes()).unwrap();
}

/// Found by `one_hostile_key_validates_or_is_named`: a duration beyond what
/// Redis can expire (`PX` over 2^63 milliseconds) validated, and would then
/// have failed at the store instead of at `check-config`.
#[test]
fn durations_beyond_a_hundred_years_are_refused() {
    let base = good_toml();
    for (key, text) in [
        ("tokens.id_token_lifetime", "18446744073709551615s"),
        ("tokens.session_lifetime", "1000000000y"),
        ("throttle.lockout", "36501d"),
    ] {
        let mut document: Value = toml::from_str(&base).unwrap();
        set(&mut document, key, Value::String(text.to_owned()));
        let errors = load_bytes(toml::to_string(&document).unwrap().as_bytes()).unwrap_err();
        let keys: Vec<_> = errors.problems().iter().map(|p| p.key.as_deref()).collect();
        assert_eq!(keys, [Some(key)], "{errors}");
        assert!(errors.to_string().contains("at most 100 years"), "{errors}");
    }
    // A hundred years exactly is still accepted.
    let mut document: Value = toml::from_str(&base).unwrap();
    set(
        &mut document,
        "tokens.session_lifetime",
        Value::String("36500d".to_owned()),
    );
    load_bytes(toml::to_string(&document).unwrap().as_bytes()).unwrap();
}
