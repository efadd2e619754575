//! The `interop` task: real relying-party libraries against a release build.
//!
//! It builds `porthor`, installs each relying party's library from its
//! registry into a cache under `target/interop/` (reinstalled only when the
//! pins in `xtask/interop/<ecosystem>/` change), starts a throwaway
//! `redis-server` and `porthor serve` on loopback (Redis store, RS256, one
//! confidential client that must use PKCE, one user), and runs each relying
//! party's script: Python's authlib (`python/rp.py`) and Node's openid-client
//! (`node/rp.mjs`). Each script does one full login as an application would,
//! with the library doing discovery, PKCE, the code exchange, ID token
//! validation, userinfo and the refresh-token grant, while the script plays
//! the browser at the login form.
//!
//! The scripts report a plan line `1..N` and then one `ok N - ...` or
//! `not ok N - ...` line per check. This task re-prints those lines under the
//! relying party's name and ends with one line, `N passed, M failed`,
//! counting checks across all relying parties: that says more than a count
//! of relying parties would, as both are expected to pass the same kinds of
//! check. Whatever keeps a relying party from reporting (its install failing,
//! a crash, a timeout, a planned check that never reported) counts as one
//! failed check more, so M is above zero whenever anything went wrong.
#![allow(
    clippy::print_stdout,
    reason = "the results go to stdout, for whoever reads the output"
)]

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use xtask::process::{Reported, apt_install, is_root, run, step, target_dir, workspace_root};
use xtask::redis::Redis;
use xtask::server::{self, Client, Credentials, Server, Setup, Store};

use crate::npm;

/// The client the relying parties authenticate as (client_secret_basic).
const CLIENT_ID: &str = "interop";
/// Where the provider sends the browser back. Nothing listens there: the
/// scripts play the browser, stop at that redirect and hand its URL to the
/// library, as an application's callback handler would.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
/// How long one relying party may take for all its checks.
const RP_TIMEOUT: Duration = Duration::from_secs(120);

/// One relying party: a library in an ecosystem and its script.
#[derive(Debug, Clone, Copy)]
struct RelyingParty {
    /// How its lines are labelled, e.g. `python/authlib`.
    name: &'static str,
    /// Installs the library (if needed) and returns the script's command.
    prepare: fn(source: &Path, cache: &Path) -> Result<Command>,
    /// Its directory under `xtask/interop/` and under `target/interop/`.
    dir: &'static str,
}

const RELYING_PARTIES: [RelyingParty; 2] = [
    RelyingParty {
        name: "python/authlib",
        prepare: python,
        dir: "python",
    },
    RelyingParty {
        name: "node/openid-client",
        prepare: node,
        dir: "node",
    },
];

/// Checks that passed and failed, over one or all relying parties (or
/// browser steps).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) passed: usize,
    pub(crate) failed: usize,
}

/// Runs the task; prints the summary line last, whatever happened.
pub fn interop() -> Result<()> {
    summarized(run_all)
}

/// Runs `checks`, counting into a [`Tally`], then prints `N passed, M
/// failed` as the last line, whatever happened (an error that stopped the
/// checks counts as one failure, reported before the summary); fails if
/// anything failed. Shared by `interop` and `e2e`.
pub(crate) fn summarized(checks: impl FnOnce(&mut Tally) -> Result<()>) -> Result<()> {
    let mut tally = Tally::default();
    if let Err(error) = checks(&mut tally) {
        eprintln!("error: {error:#}");
        tally.failed += 1;
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed > 0 {
        return Err(Reported.into());
    }
    Ok(())
}

fn run_all(tally: &mut Tally) -> Result<()> {
    let target_dir = target_dir().context("could not find cargo's target directory")?;
    let out = target_dir.join("interop");
    step("build", server::build_release)?;
    let porthor = target_dir.join("release").join("porthor");

    let source = workspace_root().join("xtask").join("interop");
    let mut ready = Vec::new();
    for rp in RELYING_PARTIES {
        let prepared = step(&format!("set up {}", rp.name), || {
            let cache = out.join(rp.dir);
            fs::create_dir_all(&cache)
                .with_context(|| format!("could not create {}", cache.display()))?;
            (rp.prepare)(&source.join(rp.dir), &cache)
        });
        match prepared {
            Ok(command) => ready.push((rp, command)),
            Err(error) => {
                say(rp.name, &format!("not run: {error:#}"));
                tally.failed += 1;
            }
        }
    }

    let redis = Redis::start(&target_dir)?;
    let credentials = Credentials::generate(&porthor)?;
    let setup = Setup {
        porthor: &porthor,
        dir: out.join("server"),
        alg: "RS256",
        store: Store::Redis(redis.url()),
        client: Client {
            id: CLIENT_ID,
            redirect_uri: REDIRECT_URI,
            // A library that left PKCE out is refused at the authorization
            // endpoint, rather than passing unnoticed.
            require_pkce: true,
        },
        users: 1,
        credentials: &credentials,
        // Per-request logs, for the reason behind any refusal.
        env: &[("RUST_LOG".to_owned(), "info".to_owned())],
    };
    let server = start_logged(&setup, &redis)?;

    let env = rp_env(&server, &credentials);
    for (rp, mut command) in ready {
        let mut result = Tally::default();
        let _ = step(&format!("run {}", rp.name), || {
            command.envs(env.iter().map(|(name, value)| (name, value)));
            result = run_rp(rp.name, command, RP_TIMEOUT);
            if result.failed > 0 {
                bail!("{} of {} checks failed", result.failed, result.total());
            }
            Ok(())
        });
        tally.passed += result.passed;
        tally.failed += result.failed;
    }
    if tally.failed > 0 {
        eprintln!(
            "the server's log: {}",
            setup.dir.join("porthor.log").display()
        );
    }
    Ok(())
}

/// What the scripts are told: where the provider is and who to log in as.
fn rp_env(server: &Server, credentials: &Credentials) -> Vec<(String, String)> {
    [
        ("INTEROP_ISSUER", format!("http://{}", server.address)),
        ("INTEROP_CLIENT_ID", CLIENT_ID.to_owned()),
        ("INTEROP_CLIENT_SECRET", credentials.client_secret.clone()),
        ("INTEROP_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("INTEROP_USERNAME", server::username(0)),
        ("INTEROP_PASSWORD", credentials.password.clone()),
        ("INTEROP_NAME", server::display_name(0)),
        ("INTEROP_EMAIL", server::email(0)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// Prints one line of results for a relying party.
fn say(rp: &str, line: &str) {
    println!("{rp}: {line}");
}

/// Writes `setup`'s keys and starts its `porthor serve` (with `redis`
/// behind it), saying where it runs and where it logs.
pub(crate) fn start_logged(setup: &Setup, redis: &Redis) -> Result<Server> {
    let server = step("start porthor", || {
        setup.keys()?;
        setup.start()
    })?;
    eprintln!(
        "porthor serve (pid {}) is up on http://{} (log: {}), with redis-server (pid {})",
        server.pid(),
        server.address,
        setup.dir.join("porthor.log").display(),
        redis.pid()
    );
    Ok(server)
}

/// Runs a relying party's script (or `e2e`'s, which reports the same way),
/// printing its lines as they come under `name`, and tallies its checks. The script's stderr (tracebacks) goes to ours.
pub(crate) fn run_rp(name: &str, mut command: Command, timeout: Duration) -> Tally {
    let started = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match started {
        Ok(child) => child,
        Err(error) => {
            say(name, &format!("could not start: {error}"));
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    let reader = child.stdout.take().map(|stdout| {
        let name = name.to_owned();
        thread::spawn(move || {
            let mut report = Report::default();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                say(&name, &line);
                report.read_line(&line);
            }
            report
        })
    });
    let status = wait_at_most(&mut child, timeout);
    // The pipe closes when the script ends (or is killed), ending the reader.
    let report = reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let (tally, problems) = report.tally(status.as_ref().map_err(ToString::to_string));
    for problem in &problems {
        say(name, problem);
    }
    say(
        name,
        &format!("{} of {} checks passed", tally.passed, tally.total()),
    );
    tally
}

/// Waits for `child`, killing it after `timeout`.
fn wait_at_most(child: &mut Child, timeout: Duration) -> Result<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("killed after {timeout:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

impl Tally {
    fn total(self) -> usize {
        self.passed + self.failed
    }
}

/// What a script reported on stdout.
#[derive(Debug, Default, PartialEq, Eq)]
struct Report {
    /// From the plan line `1..N`.
    planned: Option<usize>,
    passed: usize,
    failed: usize,
}

impl Report {
    fn read_line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("not ok ") {
            if is_result(rest) {
                self.failed += 1;
            }
        } else if let Some(rest) = line.strip_prefix("ok ") {
            if is_result(rest) {
                self.passed += 1;
            }
        } else if let Some(count) = line.strip_prefix("1..")
            && self.planned.is_none()
        {
            self.planned = count.trim().parse().ok();
        }
    }

    /// The checks' tally, counting as failed each planned check that never
    /// reported, and one more for any other way the run went wrong that no
    /// failed check accounts for; with what went wrong, to print.
    fn tally(&self, exit: Result<&ExitStatus, String>) -> (Tally, Vec<String>) {
        let mut problems = Vec::new();
        let mut failed = self.failed;
        let reported = self.passed + self.failed;
        match self.planned {
            None => {
                problems.push("printed no plan line (1..N)".to_owned());
                failed += 1;
            }
            Some(planned) if reported < planned => {
                problems.push(format!(
                    "{} planned check(s) never reported",
                    planned - reported
                ));
                failed += planned - reported;
            }
            Some(planned) if reported > planned => {
                problems.push(format!("reported {reported} checks, planned {planned}"));
                failed += 1;
            }
            Some(_) => {}
        }
        // With failed checks a script exits 1; otherwise its exit matters.
        let bad_exit = match exit {
            Err(error) => Some(format!("did not finish: {error}")),
            Ok(status) if !status.success() => Some(format!("exited with {status}")),
            Ok(_) => None,
        };
        if let Some(bad_exit) = bad_exit
            && self.failed == 0
        {
            problems.push(bad_exit);
            failed = failed.max(1);
        }
        let tally = Tally {
            passed: self.passed,
            failed,
        };
        (tally, problems)
    }
}

/// Whether `rest`, after `ok ` or `not ok `, is `<number> - <description>`.
fn is_result(rest: &str) -> bool {
    rest.split_once(" - ")
        .is_some_and(|(number, _)| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
}

/// The Python relying party: a venv with the pinned requirements.
fn python(source: &Path, cache: &Path) -> Result<Command> {
    let python = venv(&source.join("requirements.txt"), cache)?;
    let mut command = Command::new(python);
    command.arg(source.join("rp.py"));
    Ok(command)
}

/// A venv at `cache/venv` with the pinned `requirements` installed, made
/// afresh only when the pins change; returns its `python`. Shared with
/// `deploy-lint`, whose linters come from PyPI the same way.
pub(crate) fn venv(requirements: &Path, cache: &Path) -> Result<std::path::PathBuf> {
    let pins = npm::read(requirements)?;
    let venv = cache.join("venv");
    let python = venv.join("bin").join("python");
    // A copy of the requirements the venv was made from, written last.
    let stamp = cache.join("installed-requirements.txt");
    if python.is_file() && fs::read(&stamp).ok().as_ref() == Some(&pins) {
        eprintln!("the venv in {} is up to date", venv.display());
    } else {
        ensure_venv_module()?;
        // Start afresh, so that a package no longer pinned does not linger.
        let _ = fs::remove_file(&stamp);
        if venv.exists() {
            fs::remove_dir_all(&venv)
                .with_context(|| format!("could not remove {}", venv.display()))?;
        }
        fs::create_dir_all(cache)
            .with_context(|| format!("could not create {}", cache.display()))?;
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--requirement")
            .arg(requirements))?;
        fs::write(&stamp, &pins).with_context(|| format!("could not write {}", stamp.display()))?;
    }
    Ok(python)
}

/// Makes sure `python3 -m venv` works: Debian splits it (with ensurepip)
/// into the python3-venv package, installed here when running as root.
fn ensure_venv_module() -> Result<()> {
    let works = || {
        Command::new("python3")
            .args(["-c", "import ensurepip, venv"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if works() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "`python3 -m venv` is not available. Install Python 3 with its venv \
             module (Debian/Ubuntu: `sudo apt-get install python3-venv`), then re-run"
        );
    }
    eprintln!("python3's venv module is missing; installing Debian's python3-venv as root");
    apt_install("python3-venv")?;
    if !works() {
        bail!("installed python3-venv, but `python3 -m venv` is still not available");
    }
    Ok(())
}

/// The Node relying party: `npm ci` from the pinned lock file.
fn node(source: &Path, cache: &Path) -> Result<Command> {
    npm::require_node(20, "openid-client 6")?;
    let script = npm::install(source, cache, "rp.mjs")?;
    let mut command = Command::new("node");
    command.arg(script);
    Ok(command)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;
    use std::path::PathBuf;

    use super::*;

    /// Where a relying party's files live in the repository.
    fn source_dir(rp: &RelyingParty) -> PathBuf {
        workspace_root().join("xtask").join("interop").join(rp.dir)
    }

    fn report(lines: &str) -> Report {
        let mut report = Report::default();
        for line in lines.lines() {
            report.read_line(line);
        }
        report
    }

    fn exit(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn results_are_counted_from_ok_and_not_ok_lines() {
        let report = report(
            "1..4\nok 1 - discovery: fine\nnot ok 2 - login: refused\n\
             # a comment\nok 3 - userinfo\nnot ok 4 - refresh: not run, as 'x' failed\n",
        );
        assert_eq!(
            report,
            Report {
                planned: Some(4),
                passed: 2,
                failed: 2
            }
        );
        let (tally, problems) = report.tally(Ok(&exit(1)));
        assert_eq!(
            tally,
            Tally {
                passed: 2,
                failed: 2
            }
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn lines_that_only_look_like_results_are_not_counted() {
        let report = report("1..1\nok then\nnot ok\nok x - y\nok 1 - real\n");
        assert_eq!((report.passed, report.failed), (1, 0));
    }

    #[test]
    fn checks_that_never_reported_fail() {
        let report = report("1..5\nok 1 - a\nok 2 - b\n");
        let (tally, problems) = report.tally(Ok(&exit(1)));
        assert_eq!(
            tally,
            Tally {
                passed: 2,
                failed: 3
            }
        );
        assert_eq!(
            problems,
            [
                "3 planned check(s) never reported",
                "exited with exit status: 1"
            ]
        );
    }

    #[test]
    fn a_crash_after_all_checks_passed_is_one_failure() {
        let report = report("1..2\nok 1 - a\nok 2 - b\n");
        let (tally, problems) = report.tally(Ok(&exit(134)));
        assert_eq!(
            tally,
            Tally {
                passed: 2,
                failed: 1
            }
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (tally, _) = report.tally(Err("killed after 120s".to_owned()));
        assert_eq!(
            tally,
            Tally {
                passed: 2,
                failed: 1
            }
        );
    }

    #[test]
    fn no_plan_is_a_failure_even_with_a_clean_exit() {
        let (tally, problems) = Report::default().tally(Ok(&exit(0)));
        assert_eq!(
            tally,
            Tally {
                passed: 0,
                failed: 1
            }
        );
        assert_eq!(problems, ["printed no plan line (1..N)"]);
    }

    #[test]
    fn a_clean_run_has_no_problems() {
        let (tally, problems) = report("1..1\nok 1 - a\n").tally(Ok(&exit(0)));
        assert_eq!(
            tally,
            Tally {
                passed: 1,
                failed: 0
            }
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn every_relying_party_has_its_pinned_files() {
        for rp in RELYING_PARTIES {
            let dir = source_dir(&rp);
            let files: &[&str] = match rp.dir {
                "python" => &["requirements.txt", "rp.py"],
                "node" => &["package.json", "package-lock.json", "rp.mjs"],
                other => panic!("unexpected relying party directory {other}"),
            };
            for file in files {
                assert!(
                    dir.join(file).is_file(),
                    "{} is missing",
                    dir.join(file).display()
                );
            }
        }
    }

    #[test]
    fn the_pins_are_exact() {
        let requirements =
            fs::read_to_string(source_dir(&RELYING_PARTIES[0]).join("requirements.txt")).unwrap();
        for line in requirements
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            assert!(line.contains("=="), "not pinned exactly: {line}");
        }
        let manifest: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(source_dir(&RELYING_PARTIES[1]).join("package.json")).unwrap(),
        )
        .unwrap();
        let version = manifest["dependencies"]["openid-client"].as_str().unwrap();
        assert!(
            version.starts_with("6.") && version.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
            "{version}"
        );
    }
}
