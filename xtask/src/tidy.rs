//! Tidy checks over the workspace's Rust sources, run as a unit test.
//!
//! Every file under a package's `src/` (and each `main.rs`/`lib.rs` under its
//! `tests/`) starts with a `//!` doc comment, and no file leaves debugging
//! macros, placeholders or ignored/`should_panic` tests behind. The
//! dependency edges between crates are checked in [`edges`].

mod edges;

use std::fs;
use std::path::{Path, PathBuf};

use xtask::process::workspace_root;

/// Text no Rust file may contain, with why. Spelled in pieces so that this
/// file does not trip over itself.
const FORBIDDEN: [(&str, &str); 4] = [
    (concat!("dbg", "!("), "leftover debugging"),
    (concat!("todo", "!("), "unfinished code"),
    (concat!("#[", "ignore"), "a test that never runs"),
    (
        concat!("#[", "should_panic"),
        "assert on a Result or a caught panic instead",
    ),
];

/// The directories whose Rust files are checked, relative to the root.
const ROOTS: &[&str] = &["crates", "xtask"];

#[test]
fn the_sources_are_tidy() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ROOTS {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.iter().any(|file| file.ends_with("xtask/src/tidy.rs")),
        "the walk did not find this very file; it looked at {files:?}"
    );
    let mut problems = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file)
            .unwrap_or_else(|error| panic!("could not read {}: {error}", file.display()));
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        problems.extend(
            check(file, &text)
                .into_iter()
                .map(|p| format!("{shown}:{p}")),
        );
    }
    assert!(
        problems.is_empty(),
        "tidy found {} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Collects the `.rs` files under `dir`, skipping build output and hidden
/// directories, in a stable order.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("could not list {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, files);
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}

/// The problems in one file, as `line: message`.
fn check(file: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if needs_module_doc(file) && !text.trim_start().starts_with("//!") {
        problems.push("1: does not start with a `//!` doc comment".to_owned());
    }
    for (number, line) in text.lines().enumerate() {
        for (pattern, why) in FORBIDDEN {
            if contains_token(line, pattern) {
                problems.push(format!("{}: contains `{pattern}` ({why})", number + 1));
            }
        }
    }
    problems
}

/// Whether `line` contains `pattern`, not continued as a longer identifier
/// when it ends in one: the `ignore` attribute is found with or without a
/// reason, but an attribute merely starting with `ignore` is not.
fn contains_token(line: &str, pattern: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(pattern).any(|(at, _)| {
        !pattern.ends_with(is_ident)
            || !line
                .get(at + pattern.len()..)
                .is_some_and(|rest| rest.starts_with(is_ident))
    })
}

/// Whether a file must start with a `//!` doc comment: everything in a
/// package's `src/`, and the crate roots (`main.rs`, `lib.rs`) in `tests/`.
fn needs_module_doc(file: &Path) -> bool {
    let Some(package) = file
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("Cargo.toml").is_file())
    else {
        return false;
    };
    let Ok(inside) = file.strip_prefix(package) else {
        return false;
    };
    let top = inside.components().next().map(|c| c.as_os_str());
    let name = file.file_name().unwrap_or_default();
    match top.and_then(|top| top.to_str()) {
        Some("src") => true,
        Some("tests") => name == "main.rs" || name == "lib.rs",
        _ => false,
    }
}

#[test]
fn forbidden_text_is_found() {
    let [dbg, todo, ignore, should_panic] = FORBIDDEN.map(|(pattern, _)| pattern);
    let file = Path::new("not/in/a/package.rs");
    assert!(check(file, "fn f() {}\n").is_empty());
    let text =
        format!("let x = {dbg}1);\n{todo});\n{ignore}]\n{ignore} = \"slow\"]\n{should_panic}]\n");
    assert_eq!(
        check(file, &text)
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        ["1", "2", "3", "4", "5"]
    );
    assert!(check(file, &format!("{ignore}_me]\n")).is_empty());
}

#[test]
fn module_docs_are_required_in_src_and_test_crate_roots() {
    let xtask = workspace_root().join("xtask");
    assert!(needs_module_doc(&xtask.join("src/main.rs")));
    assert!(needs_module_doc(&xtask.join("src/some/module.rs")));
    assert!(needs_module_doc(&xtask.join("tests/it/main.rs")));
    assert!(!needs_module_doc(&xtask.join("tests/it/helpers.rs")));
    assert!(!needs_module_doc(&xtask.join("build.rs")));
    let undocumented = "use std::fs;\n";
    assert_eq!(check(&xtask.join("src/x.rs"), undocumented).len(), 1);
    assert!(check(&xtask.join("src/x.rs"), "\n//! Docs.\n").is_empty());
}
