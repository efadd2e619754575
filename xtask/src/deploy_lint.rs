//! The `deploy-lint` task: every artefact under `deploy/` checked by its
//! ecosystem's linter or validator, offline.
//!
//! The linters come from PyPI, pinned in `xtask/deploy-lint/requirements.txt`
//! and installed into a venv under `target/deploy-lint/` (again only when
//! the pins change, by the helper `interop` uses), and `systemd-analyze`
//! from Debian's `systemd` (installed when missing and running as root).
//! `xtask/deploy-lint/lint.py` runs them: hadolint on the Dockerfile,
//! yamllint, compose.yaml against the compose-spec schema, the Helm chart
//! linted, its values checked against `values.schema.json` and rendered (by
//! Helm's Go SDK as a library) and every manifest validated against the
//! Kubernetes schemas and its rendered `porthor.toml` through `porthor
//! check-config`, and the systemd unit verified and rated. It prints a
//! line per check and `N passed, M failed` last. What cannot run here (an
//! image build, a chart install: no Docker daemon, no cluster) is written
//! down in docs/operations.md.

use std::process::Command;

use anyhow::{Result, bail};

use xtask::process::{apt_install, cargo, is_root, run, step, target_dir, workspace_root};

use crate::interop;

pub fn deploy_lint() -> Result<()> {
    let root = workspace_root();
    let source = root.join("xtask").join("deploy-lint");
    let cache = target_dir()?.join("deploy-lint");
    let python = step("set up the deploy linters", || {
        interop::venv(&source.join("requirements.txt"), &cache)
    })?;
    step("systemd-analyze", ensure_systemd_analyze)?;
    // The chart's rendered configuration is checked by `porthor
    // check-config` itself (the debug build the tests use anyway).
    step("build porthor", || {
        run(cargo().args(["build", "--package", "porthor"]))
    })?;
    let porthor = target_dir()?.join("debug").join("porthor");
    step("lint deploy/", || {
        run(Command::new(&python)
            .arg(source.join("lint.py"))
            .arg(&root)
            .arg(&porthor))
    })
}

/// Makes sure `systemd-analyze` is there: Debian's `systemd` package,
/// installed when running as root (a CI container may lack it).
fn ensure_systemd_analyze() -> Result<()> {
    let works = || {
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if works() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "systemd-analyze is missing; install it (Debian/Ubuntu: `sudo apt-get install systemd`), then re-run"
        );
    }
    eprintln!("systemd-analyze is missing; installing Debian's systemd as root");
    apt_install("systemd")?;
    if !works() {
        bail!("installed systemd, but systemd-analyze still does not run");
    }
    Ok(())
}
