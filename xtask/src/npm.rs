//! Node.js and pinned npm packages for the tasks that run Node scripts
//! (`interop`'s openid-client relying party, `e2e`'s browser test).
//!
//! A script's directory under `xtask/` holds its `package.json` and
//! `package-lock.json` with exact versions; [`install`] runs `npm ci` into a
//! cache directory under `target/` only when those files have changed since
//! the last install, and copies the script beside `node_modules`, where Node
//! resolves its imports.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use xtask::process::{capture, run};

/// Fails with a clear message unless `node` is at least version `major`;
/// `who` says what needs it (e.g. `openid-client 6`).
pub(crate) fn require_node(major: u32, who: &str) -> Result<()> {
    let version = capture(Command::new("node").arg("--version"), None).with_context(|| {
        format!("Node.js {major} or newer is needed (`node` and `npm` on the PATH)")
    })?;
    let found = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|found| found.parse::<u32>().ok());
    if found.is_none_or(|found| found < major) {
        bail!(
            "{who} needs Node.js {major} or newer; `node --version` says {}",
            version.trim()
        );
    }
    Ok(())
}

/// Installs the packages pinned in `source` into `cache` (unless already
/// installed from the same pins) and copies `script` from `source` beside
/// them; returns the copy's path, to run with `node`.
pub(crate) fn install(source: &Path, cache: &Path, script: &str) -> Result<PathBuf> {
    let manifest = read(&source.join("package.json"))?;
    let lock = read(&source.join("package-lock.json"))?;
    // The manifest and lock file node_modules was installed from, written last.
    let stamp = cache.join("installed-package-lock.json");
    let installed = [manifest.as_slice(), b"\n", lock.as_slice()].concat();
    if cache.join("node_modules").is_dir() && fs::read(&stamp).ok().as_ref() == Some(&installed) {
        eprintln!("node_modules in {} is up to date", cache.display());
    } else {
        let _ = fs::remove_file(&stamp);
        write(&cache.join("package.json"), &manifest)?;
        write(&cache.join("package-lock.json"), &lock)?;
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(cache))?;
        write(&stamp, &installed)?;
    }
    // Node resolves a script's imports from its own directory upwards, so
    // the script runs from beside node_modules.
    let copy = cache.join(script);
    write(&copy, &read(&source.join(script))?)?;
    Ok(copy)
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("could not read {}", path.display()))
}

pub(crate) fn write(path: &Path, contents: &[u8]) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("could not write {}", path.display()))
}
