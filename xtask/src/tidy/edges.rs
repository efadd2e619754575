//! The workspace's dependency edges against two allow-lists: which workspace
//! crate may depend on which (the layers of docs/ARCHITECTURE.md), and which
//! workspace crates may use each quarantined third-party crate.
//!
//! The edges come from `cargo metadata --no-deps`: each workspace package's
//! declared dependencies, of every kind. A dependency is known by its
//! package name, so renaming it in a manifest (`config-rs = { package =
//! "config" }`) changes nothing here.

use std::collections::BTreeSet;

use serde::Deserialize;
use xtask::process::{capture, cargo};

/// Where the allow-lists live, for the messages.
const HERE: &str = "xtask/src/tidy/edges.rs";

/// Every dependency between workspace crates, as `from -> to`, with ` (dev)`
/// or ` (build)` after a dev- or build-dependency.
const WORKSPACE_EDGES: &[&str] = &[
    // The layers, pointing down:
    // porthor-models <- porthor-signer, porthor-store <- porthor-oidc <- porthor-server <- porthor
    "porthor-signer -> porthor-models",
    "porthor-store -> porthor-models",
    "porthor-oidc -> porthor-models",
    "porthor-oidc -> porthor-signer",
    "porthor-server -> porthor-models",
    "porthor-server -> porthor-oidc",
    "porthor -> porthor-models",
    "porthor -> porthor-oidc",
    "porthor -> porthor-server",
    "porthor -> porthor-signer",
    "porthor -> porthor-store",
    // The server's HTTP tests build whole providers, with a store and keys.
    "porthor-server -> porthor-signer (dev)",
    "porthor-server -> porthor-store (dev)",
    // The test helpers sit on the store, and are only ever a dev-dependency.
    "porthor-test-support -> porthor-models",
    "porthor-test-support -> porthor-store",
    "porthor-store -> porthor-test-support (dev)",
    "porthor-oidc -> porthor-test-support (dev)",
    "porthor-server -> porthor-test-support (dev)",
    "porthor -> porthor-test-support (dev)",
    // Tooling: the bench verifies ID tokens and measures signing with the
    // signer, and starts its servers with xtask's harness. xtask depends on
    // nothing in the workspace.
    "porthor-bench -> porthor-signer",
    "porthor-bench -> xtask",
];

/// The programs: the binary and the tooling.
const PROGRAMS: &[&str] = &["porthor", "porthor-bench", "xtask"];

/// Third-party crates (by package name) and the only workspace crates that
/// may depend on them, with any kind of dependency.
const QUARANTINES: &[(&str, &[&str])] = &[
    ("actix-web", &["porthor-server"]),
    ("deadpool", &["porthor-store"]),
    ("deadpool-redis", &["porthor-store"]),
    // The store reaches Redis through deadpool-redis; the test helpers talk
    // to it raw, to plant corrupt records (a normal dependency of a crate
    // that is only ever a dev-dependency).
    ("redis", &["porthor-store", "porthor-test-support"]),
    ("jsonwebtoken", &["porthor-signer"]),
    // The pages are the server's: templates render nowhere else.
    ("minijinja", &["porthor-server"]),
    ("anyhow", PROGRAMS),
    ("clap", PROGRAMS),
    ("config", PROGRAMS),
    ("tracing-subscriber", PROGRAMS),
    // Libraries emit through the `metrics` facade; only the binary chooses
    // the exporter (the server's tests install it to scrape what operators
    // see, as a dev-dependency).
    (
        "metrics-exporter-prometheus",
        &["porthor", "porthor-server"],
    ),
];

/// The allow-lists a check runs against.
struct Rules<'a> {
    edges: &'a [&'a str],
    quarantines: &'a [(&'a str, &'a [&'a str])],
}

const RULES: Rules<'static> = Rules {
    edges: WORKSPACE_EDGES,
    quarantines: QUARANTINES,
};

/// The part of `cargo metadata --format-version 1 --no-deps` read here.
#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    /// The package's name, whatever the manifest calls it.
    name: String,
    /// `None` for a normal dependency, else `dev` or `build`.
    kind: Option<String>,
    /// Set for a path dependency, as every workspace crate is.
    path: Option<String>,
}

/// What breaks the rules, one message each.
fn check(metadata: &Metadata, rules: &Rules<'_>) -> Vec<String> {
    let members: BTreeSet<&str> = metadata.packages.iter().map(|p| p.name.as_str()).collect();
    let mut problems = Vec::new();
    let mut edges = BTreeSet::new();
    for package in &metadata.packages {
        for dependency in &package.dependencies {
            let to = dependency.name.as_str();
            let edge = match dependency.kind.as_deref() {
                Some(kind) => format!("{} -> {to} ({kind})", package.name),
                None => format!("{} -> {to}", package.name),
            };
            if dependency.path.is_some() && members.contains(to) {
                edges.insert(edge);
            } else if let Some((_, allowed)) = rules.quarantines.iter().find(|(q, _)| *q == to)
                && !allowed.contains(&package.name.as_str())
            {
                problems.push(format!(
                    "`{edge}`: {to} is confined to {}. If {} must use it, add it to {to}'s \
                     entry in QUARANTINES in {HERE} (and docs/ARCHITECTURE.md)",
                    allowed.join(", "),
                    package.name
                ));
            }
        }
    }
    for edge in &edges {
        if !rules.edges.contains(&edge.as_str()) {
            problems.push(format!(
                "`{edge}` is a new edge between workspace crates. If it points down the \
                 layers of docs/ARCHITECTURE.md, allow it in WORKSPACE_EDGES in {HERE}"
            ));
        }
    }
    for edge in rules.edges {
        if !edges.contains(*edge) {
            problems.push(format!(
                "`{edge}` is allowed in WORKSPACE_EDGES in {HERE} but no longer exists; \
                 remove it there"
            ));
        }
    }
    problems
}

#[test]
fn the_dependency_edges_are_allowed() {
    let json = capture(
        cargo().args(["metadata", "--format-version", "1", "--no-deps"]),
        None,
    )
    .unwrap();
    let metadata: Metadata = serde_json::from_str(&json).unwrap();
    assert!(
        metadata.packages.len() > 5,
        "cargo metadata listed {:?}",
        metadata.packages
    );
    let problems = check(&metadata, &RULES);
    assert!(
        problems.is_empty(),
        "the dependency edges break {} rule(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn new_edges_breaches_and_stale_entries_are_found() {
    // Trimmed from `cargo metadata`: three crates, path dependencies
    // between them, a renamed registry dependency.
    let json = r#"{"packages": [
        {"name": "app", "version": "0.1.0", "dependencies": [
            {"name": "lib", "kind": null, "rename": null, "path": "/w/crates/lib"},
            {"name": "config", "kind": null, "rename": "config-rs", "source": "registry+https://github.com/rust-lang/crates.io-index"},
            {"name": "web", "kind": "dev", "rename": null, "source": "registry+https://github.com/rust-lang/crates.io-index"}
        ]},
        {"name": "lib", "version": "0.1.0", "dependencies": [
            {"name": "base", "kind": null, "rename": null, "path": "/w/crates/base"},
            {"name": "app", "kind": "dev", "rename": null, "path": "/w/crates/app"},
            {"name": "web", "kind": null, "rename": null, "source": "registry+https://github.com/rust-lang/crates.io-index"}
        ]},
        {"name": "base", "version": "0.1.0", "dependencies": [
            {"name": "lib", "kind": null, "rename": null, "source": "registry+https://github.com/rust-lang/crates.io-index"}
        ]}
    ]}"#;
    let metadata: Metadata = serde_json::from_str(json).unwrap();
    let rules = Rules {
        edges: &["app -> lib", "lib -> base", "base -> nothing"],
        quarantines: &[("web", &["lib"]), ("config", &["lib"])],
    };
    let problems = check(&metadata, &rules);
    let [renamed, dev, new, stale] = problems.as_slice() else {
        panic!("{problems:#?}");
    };
    // A renamed dependency is known by its package name.
    assert!(
        renamed.starts_with("`app -> config`: config is confined to lib."),
        "{renamed}"
    );
    assert!(
        renamed.contains("QUARANTINES in xtask/src/tidy/edges.rs"),
        "{renamed}"
    );
    // Any kind of dependency on a quarantined crate counts.
    assert!(
        dev.starts_with("`app -> web (dev)`: web is confined to lib."),
        "{dev}"
    );
    // An edge upwards, if only for tests, is new (`base`'s registry
    // dependency named `lib` is not the workspace's `lib`, so no edge).
    assert!(new.starts_with("`lib -> app (dev)` is a new edge"), "{new}");
    assert!(
        new.contains("WORKSPACE_EDGES in xtask/src/tidy/edges.rs"),
        "{new}"
    );
    assert!(stale.starts_with("`base -> nothing` is allowed"), "{stale}");
}
