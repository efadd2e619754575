//! The dependency audit of `cargo xtask lint`: no crate may be built in two
//! semver-incompatible versions unless `xtask/allowed-duplicates.txt` allows
//! exactly those versions, with a reason.
//!
//! The duplicates come from `cargo tree --workspace --duplicates --edges
//! normal,build` for this machine's target: what the workspace's crates and
//! their build scripts and proc-macros compile, leaving out dev-dependencies,
//! which only tests and benchmarks link. One version built twice (for a
//! proc-macro and for the target, with other features) is not a duplicate.
//! An allowed duplicate that is gone fails too, so the list stays true.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use anyhow::{Context as _, Result, bail};
use xtask::process::{capture, cargo, workspace_root};

/// The allow-list, relative to the workspace root.
const ALLOWED: &str = "xtask/allowed-duplicates.txt";

/// Fails, listing every problem, unless the duplicates are exactly those
/// allowed.
pub fn audit() -> Result<()> {
    let tree = capture(
        cargo().args([
            "tree",
            "--workspace",
            "--duplicates",
            "--edges",
            "normal,build",
            "--depth",
            "0",
        ]),
        None,
    )?;
    let path = workspace_root().join(ALLOWED);
    let text =
        fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
    let allowed = parse_allowed(&text)?;
    let found = duplicates(&tree);
    let problems = compare(&found, &allowed);
    if !problems.is_empty() {
        bail!(
            "the dependency audit found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    eprintln!("{} duplicate(s), all allowed in {ALLOWED}", found.len());
    Ok(())
}

/// The crates in more than one version, from `cargo tree --duplicates
/// --depth 0` (lines like `syn v2.0.119` or `foo v1.0.0 (proc-macro)`).
fn duplicates(tree: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in tree.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(version)) = (words.next(), words.next())
            && let Some(version) = version.strip_prefix('v')
        {
            versions
                .entry(name.to_owned())
                .or_default()
                .insert(version.to_owned());
        }
    }
    versions.retain(|_, versions| versions.len() > 1);
    versions
}

/// The semver-compatible series a version belongs to: `1` for `1.2.2`,
/// `0.9` for `0.9.12+spec-1.1.0`, `0.0.3` for `0.0.3`.
fn series(version: &str) -> String {
    let core = version.split(['+', '-']).next().unwrap_or(version);
    let parts: Vec<&str> = core.split('.').collect();
    match parts.as_slice() {
        ["0", "0", patch, ..] => format!("0.0.{patch}"),
        ["0", minor, ..] => format!("0.{minor}"),
        [major, ..] => (*major).to_owned(),
        [] => version.to_owned(),
    }
}

/// The allow-list: per crate, the series allowed side by side. Each entry is
/// `<crate> <series> <series>...: <reason>`; `#` starts a comment line.
fn parse_allowed(text: &str) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut allowed = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{ALLOWED}:{}", number + 1);
        let Some((entry, reason)) = line.split_once(':') else {
            bail!("{}: expected `<crate> <series>...: <reason>`", at());
        };
        let mut words = entry.split_whitespace();
        let Some(name) = words.next() else {
            bail!("{}: no crate name", at());
        };
        let series: BTreeSet<String> = words.map(str::to_owned).collect();
        if series.len() < 2 || reason.trim().is_empty() {
            bail!("{}: an entry names two series or more, and a reason", at());
        }
        if allowed.insert(name.to_owned(), series).is_some() {
            bail!("{}: {name} is listed twice", at());
        }
    }
    Ok(allowed)
}

/// What differs between the duplicates found and those allowed.
fn compare(
    found: &BTreeMap<String, BTreeSet<String>>,
    allowed: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, versions) in found {
        let series: BTreeSet<String> = versions.iter().map(|v| series(v)).collect();
        let shown = versions.iter().cloned().collect::<Vec<_>>().join(", ");
        let first = versions.first().map_or("", String::as_str);
        match allowed.get(name) {
            Some(allowed) if *allowed == series => {}
            Some(allowed) => problems.push(format!(
                "{name} is built as {shown}, but {ALLOWED} allows {}; `cargo tree -e \
                 normal,build -i {name}@{first}` shows what pulls each in",
                allowed.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            None => problems.push(format!(
                "{name} is built as {shown}: a new duplicate. Unify the versions (`cargo tree \
                 -e normal,build -i {name}@{first}` shows what pulls each in), or allow it in \
                 {ALLOWED} with a reason"
            )),
        }
    }
    for name in allowed.keys().filter(|name| !found.contains_key(*name)) {
        problems.push(format!(
            "{name} is allowed in {ALLOWED} but no longer duplicated; remove its line"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo tree --duplicates --depth 0` output, trimmed.
    const TREE: &str = "\
actix-router v0.5.4

actix-router v0.5.4

getrandom v0.2.17

getrandom v0.3.4

syn v2.0.119

syn v3.0.10 (proc-macro)

toml v0.9.12+spec-1.1.0

toml v1.2.2+spec-1.1.0
";

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|&item| item.to_owned()).collect()
    }

    #[test]
    fn one_version_built_twice_is_not_a_duplicate() {
        let found = duplicates(TREE);
        assert_eq!(
            found.keys().map(String::as_str).collect::<Vec<_>>(),
            ["getrandom", "syn", "toml"]
        );
        assert_eq!(
            found["toml"],
            set(&["0.9.12+spec-1.1.0", "1.2.2+spec-1.1.0"])
        );
    }

    #[test]
    fn versions_fall_into_semver_series() {
        assert_eq!(series("1.2.2+spec-1.1.0"), "1");
        assert_eq!(series("0.9.12"), "0.9");
        assert_eq!(series("0.0.3"), "0.0.3");
        assert_eq!(series("2.0.0-rc.1"), "2");
    }

    #[test]
    fn the_allowed_duplicates_match_or_fail() {
        let allowed = parse_allowed(
            "# comment\n\ngetrandom 0.2 0.3: rand_core 0.6 and 0.9\n\
             syn 2 3: proc-macros\nold 1 2: gone since\n",
        )
        .unwrap();
        assert_eq!(allowed["syn"], set(&["2", "3"]));
        let problems = compare(&duplicates(TREE), &allowed);
        let [new, stale] = problems.as_slice() else {
            panic!("{problems:#?}");
        };
        assert!(
            new.starts_with(
                "toml is built as 0.9.12+spec-1.1.0, 1.2.2+spec-1.1.0: a new duplicate."
            ),
            "{new}"
        );
        assert!(
            new.contains("allow it in xtask/allowed-duplicates.txt"),
            "{new}"
        );
        assert!(new.contains("-i toml@0.9.12+spec-1.1.0"), "{new}");
        assert_eq!(
            stale,
            "old is allowed in xtask/allowed-duplicates.txt but no longer duplicated; \
             remove its line"
        );

        // A third series of an allowed crate is new too.
        let third = "getrandom v0.1.16\n".to_owned() + TREE;
        let problems = compare(&duplicates(&third), &allowed);
        assert!(
            problems[0].starts_with("getrandom is built as 0.1.16, 0.2.17, 0.3.4, but"),
            "{problems:#?}"
        );
    }

    #[test]
    fn an_entry_needs_two_series_and_a_reason() {
        assert!(parse_allowed("syn 2 3\n").is_err());
        assert!(parse_allowed("syn 2 3:  \n").is_err());
        assert!(parse_allowed("syn 2: one series\n").is_err());
        assert!(parse_allowed("syn 2 3: a\nsyn 2 3: b\n").is_err());
    }

    #[test]
    fn the_allow_list_parses() {
        let text = fs::read_to_string(workspace_root().join(ALLOWED)).unwrap();
        assert!(!parse_allowed(&text).unwrap().is_empty());
    }
}
