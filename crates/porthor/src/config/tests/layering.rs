//! The one-way dependencies inside `config/` (see its module docs): Rust
//! lets sibling modules use each other freely, so this reads the sources.

/// `problem` uses nothing of `config/`; `raw` uses only `problem`; neither
/// names `validate` or goes around through `crate::config`.
#[test]
fn dependencies_point_one_way() {
    let files = [
        ("problem.rs", include_str!("../problem.rs"), &[][..]),
        ("raw.rs", include_str!("../raw.rs"), &["problem"][..]),
    ];
    for (file, text, allowed) in files {
        for pattern in ["validate", "crate::config"] {
            assert!(!text.contains(pattern), "{file} names {pattern}");
        }
        // Top-level `use`s only: an inline test module's `use super::*` is
        // its own file.
        for line in text.lines() {
            if let Some(path) = line.strip_prefix("use super::") {
                assert!(
                    allowed
                        .iter()
                        .any(|module| path.starts_with(&format!("{module}::"))),
                    "{file}: {line}"
                );
            }
        }
    }
}
