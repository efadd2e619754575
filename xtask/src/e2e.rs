//! The `e2e` task: the pages a person sees, in a real browser.
//!
//! It builds `porthor` (debug, as `test` has just built its dependencies),
//! makes sure Debian's Chromium is installed (installing it as root, as for
//! Redis), installs playwright-core and axe-core pinned in `xtask/e2e/` into
//! `target/e2e/node_modules` (again only when the pins change), starts a
//! throwaway `redis-server` and `porthor serve` on loopback (Redis store, one
//! confidential client that must use PKCE, one user), and runs
//! `xtask/e2e/flow.mjs`: the login, consent and logout pages, then the
//! built-in demo relying party (`[demo]`, turned on here) from the landing
//! page's button to its logout, at a desktop and a 360 px phone viewport,
//! with axe-core on every page and a screenshot of each under
//! `target/e2e/screenshots/`. What the flow covers is the
//! script's; this task only sets the stage.
//!
//! The script reports like `interop`'s relying parties (a plan line, then one
//! `ok`/`not ok` line per step and viewport), and the task ends with one
//! line, `N passed, M failed`, counting steps.
#![allow(
    clippy::print_stdout,
    reason = "the results go to stdout, for whoever reads the output"
)]

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use xtask::process::{apt_install, cargo, is_root, run, step, target_dir, workspace_root};
use xtask::redis::{Redis, free_port};
use xtask::server::{self, Client, Credentials, Setup, Store};

use crate::interop::{Tally, run_rp, start_logged, summarized};
use crate::npm;

/// Debian's Chromium, which playwright-core drives instead of downloading
/// a browser of its own.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The client the flow logs in to.
const CLIENT_ID: &str = "e2e";
/// How long the whole flow may take, both viewports.
const FLOW_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs the task; prints the summary line last, whatever happened.
pub fn e2e() -> Result<()> {
    summarized(run_flow)
}

fn run_flow(tally: &mut Tally) -> Result<()> {
    let target_dir = target_dir().context("could not find cargo's target directory")?;
    let out = target_dir.join("e2e");
    step("build porthor", || {
        run(cargo().args(["build", "-p", "porthor"]))
    })?;
    let porthor = target_dir.join("debug").join("porthor");
    step("chromium", ensure_chromium)?;
    let script = step("install playwright-core and axe-core", || {
        npm::require_node(20, "playwright-core")?;
        fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
        npm::install(
            &workspace_root().join("xtask").join("e2e"),
            &out,
            "flow.mjs",
        )
    })?;
    let screenshots = out.join("screenshots");
    // Only this run's screenshots, so that none is mistaken for a new one.
    if screenshots.exists() {
        fs::remove_dir_all(&screenshots)
            .with_context(|| format!("could not remove {}", screenshots.display()))?;
    }

    // The client's callback, answered by a listener in the script on this
    // port, which the script then reads the code from.
    let redirect_uri = format!("http://127.0.0.1:{}/callback", free_port()?);
    let redis = Redis::start(&target_dir)?;
    let credentials = Credentials::generate(&porthor)?;
    let setup = Setup {
        porthor: &porthor,
        dir: out.join("server"),
        alg: "ES256",
        store: Store::Redis(redis.url()),
        client: Client {
            id: CLIENT_ID,
            redirect_uri: &redirect_uri,
            require_pkce: true,
        },
        users: 1,
        credentials: &credentials,
        // Per-request logs, for the reason behind any refusal; and the
        // demo relying party, which the flow logs in to from `/`.
        env: &[
            ("RUST_LOG".to_owned(), "info".to_owned()),
            ("PORTHOR_DEMO__ENABLED".to_owned(), "true".to_owned()),
        ],
    };
    let server = start_logged(&setup, &redis)?;

    let mut command = Command::new("node");
    command.arg(script).envs([
        ("E2E_ISSUER", format!("http://{}", server.address)),
        ("E2E_CLIENT_ID", CLIENT_ID.to_owned()),
        ("E2E_CLIENT_SECRET", credentials.client_secret.clone()),
        ("E2E_REDIRECT_URI", redirect_uri.clone()),
        ("E2E_USERNAME", server::username(0)),
        ("E2E_PASSWORD", credentials.password.clone()),
        ("E2E_SCREENSHOTS", screenshots.display().to_string()),
        ("E2E_CHROMIUM", CHROMIUM.to_owned()),
        // Chromium's sandbox refuses to run as root.
        ("E2E_SANDBOX", if is_root() { "0" } else { "1" }.to_owned()),
    ]);
    let _ = step("run the browser flow", || {
        *tally = run_rp("e2e", command, FLOW_TIMEOUT);
        if tally.failed > 0 {
            bail!(
                "{} of {} steps failed",
                tally.failed,
                tally.passed + tally.failed
            );
        }
        Ok(())
    });
    eprintln!("screenshots: {}", screenshots.display());
    if tally.failed > 0 {
        eprintln!(
            "the server's log: {}",
            setup.dir.join("porthor.log").display()
        );
    }
    Ok(())
}

/// Makes sure Debian's Chromium is installed, installing it as root.
fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).is_file() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "{CHROMIUM} is missing. Install Debian's Chromium \
             (`sudo apt-get install chromium`), then re-run"
        );
    }
    eprintln!("{CHROMIUM} is missing; installing Debian's chromium as root");
    apt_install("chromium")?;
    if !Path::new(CHROMIUM).is_file() {
        bail!("installed chromium, but {CHROMIUM} is still missing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_and_its_exact_pins_are_there() {
        let source = workspace_root().join("xtask").join("e2e");
        for file in ["package.json", "package-lock.json", "flow.mjs"] {
            assert!(source.join(file).is_file(), "{file} is missing");
        }
        let manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(source.join("package.json")).unwrap())
                .unwrap();
        let dependencies = manifest["dependencies"].as_object().unwrap();
        for name in ["playwright-core", "axe-core"] {
            let version = dependencies[name].as_str().unwrap();
            assert!(
                version.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
                "{name} is not pinned exactly: {version}"
            );
        }
        // The lock file must be the manifest's, or `npm ci` refuses it.
        let lock: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(source.join("package-lock.json")).unwrap())
                .unwrap();
        for (name, version) in dependencies {
            assert_eq!(
                &lock["packages"][format!("node_modules/{name}")]["version"],
                version,
                "{name}"
            );
        }
    }
}
