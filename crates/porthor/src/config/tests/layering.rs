//! The one-way dependencies inside `config/` (see its module docs): Rust
//! lets sibling modules use each other freely, so this reads the sources.

/// `problem` uses nothing of `config/`; `raw` uses only `problem`; neither
/// names `validate` (the module or the function) or goes around through
/// `crate::config`.
#[test]
fn dependencies_point_one_way() {
    let files = [
        ("problem.rs", include_str!("../problem.rs"), &[][..]),
        ("raw.rs", include_str!("../raw.rs"), &["problem"][..]),
    ];
    for (file, text, allowed) in files {
        assert!(!names_word(text, "validate"), "{file} names validate");
        assert!(
            !text.contains("crate::config"),
            "{file} names crate::config"
        );
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

/// Whether `word` occurs in `text` other than as the start of a longer word
/// (`validated` is prose, `validate::` or `validate;` a path).
fn names_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        !text[at + word.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
    })
}
