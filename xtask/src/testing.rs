//! The `test` task: the workspace's tests against a throwaway redis-server.
//!
//! cargo-nextest runs the tests when it is installed; as it does not run
//! doctests, `cargo test --doc` follows. Without nextest, `cargo test` runs
//! both.

use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

use xtask::process::{cargo, run, target_dir, workspace_root};
use xtask::redis::{self, Cluster, Redis, SentinelGroup};

/// Starts a redis-server, a Redis Cluster and a Sentinel group, runs the
/// tests with `runner_args` against them, and stops them again, whether the
/// tests pass, fail or cannot run.
pub fn run_with_redis(runner_args: &[String]) -> Result<()> {
    let target_dir = target_dir().context("could not find cargo's target directory")?;
    let redis = Redis::start(&target_dir)?;
    let url = redis.url();
    eprintln!(
        "redis-server (pid {}) is up: {}={url} (log: {})",
        redis.pid(),
        redis::URL_VAR,
        redis.log().display()
    );
    let cluster = Cluster::start(&target_dir)?;
    let cluster_urls = cluster.urls().join(",");
    eprintln!(
        "redis cluster is up: {}={cluster_urls}",
        redis::CLUSTER_URLS_VAR
    );
    let sentinels = SentinelGroup::start(&target_dir)?;
    let sentinel_urls = sentinels.urls().join(",");
    eprintln!(
        "redis sentinel group is up (master {}): {}={sentinel_urls}",
        redis::SENTINEL_MASTER,
        redis::SENTINEL_URLS_VAR
    );
    let env = [
        (redis::URL_VAR, url),
        (redis::CLUSTER_URLS_VAR, cluster_urls),
        (redis::SENTINEL_URLS_VAR, sentinel_urls),
    ];
    let result = run_tests(runner_args, &env);
    drop((redis, cluster, sentinels));
    result
}

fn run_tests(runner_args: &[String], env: &[(&str, String)]) -> Result<()> {
    let plan = Plan::new(runner_args);
    let with_redis = |command: &mut Command| {
        command.envs(env.iter().map(|(name, value)| (name, value)));
    };
    if !nextest_is_installed() {
        eprintln!("note: cargo-nextest is not installed; falling back to `cargo test`");
        let mut test = cargo();
        test.arg("test")
            .args(plan.workspace_flag())
            .arg("--no-fail-fast")
            .args(runner_args);
        with_redis(&mut test);
        return run(&mut test);
    }

    let mut nextest = cargo();
    nextest
        .args(["nextest", "run"])
        .args(plan.workspace_flag())
        .arg("--no-fail-fast")
        .args(runner_args);
    with_redis(&mut nextest);
    let tests = run(&mut nextest);

    // Run the doctests even when the tests failed, to report everything.
    let doctests = if plan.only_binaries_selected() {
        eprintln!("note: the selected packages have no library, so no doctests");
        Ok(())
    } else {
        let mut doc = cargo();
        doc.arg("test")
            .args(plan.workspace_flag())
            .args(["--doc", "--no-fail-fast"])
            .args(&plan.cargo_args);
        with_redis(&mut doc);
        run(&mut doc)
    };

    match (tests, doctests) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(_), Ok(())) => bail!("tests failed"),
        (Ok(()), Err(_)) => bail!("doctests failed"),
        (Err(_), Err(_)) => bail!("tests and doctests failed"),
    }
}

/// Whether `runner_args` test the whole workspace, rather than packages
/// picked with `-p`.
pub fn is_whole_workspace(runner_args: &[String]) -> bool {
    Plan::new(runner_args).packages.is_empty()
}

fn nextest_is_installed() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Cargo options (each with its short form, if any) that take a value and
/// select what gets built; the doctest run gets them too.
const CARGO_OPTIONS: &[(Option<&str>, &str)] = &[
    (Some("-p"), "--package"),
    (None, "--exclude"),
    (Some("-F"), "--features"),
    (None, "--target-dir"),
];

/// Cargo flags that select what gets built or how; the doctest run gets them too.
const CARGO_FLAGS: &[&str] = &[
    "--workspace",
    "--all",
    "--all-features",
    "--no-default-features",
    "--release",
    "--locked",
    "--frozen",
    "--offline",
];

/// What the runner arguments mean for the commands xtask builds.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// The arguments that cargo itself understands, for the doctest run.
    cargo_args: Vec<String>,
    /// Packages picked with `-p`/`--package` (these replace `--workspace`).
    packages: Vec<String>,
    /// The arguments already say `--workspace` (or `--all`).
    workspace: bool,
}

impl Plan {
    fn new(runner_args: &[String]) -> Self {
        let mut plan = Self::default();
        let mut args = runner_args.iter();
        // Whatever follows a nested `--` belongs to the test binaries.
        while let Some(arg) = args.next().filter(|arg| *arg != "--") {
            if CARGO_FLAGS.contains(&arg.as_str()) {
                plan.workspace |= arg == "--workspace" || arg == "--all";
                plan.cargo_args.push(arg.clone());
                continue;
            }
            for &(short, long) in CARGO_OPTIONS {
                let value = if arg == long || Some(arg.as_str()) == short {
                    let Some(value) = args.next() else { break };
                    plan.cargo_args.extend([arg.clone(), value.clone()]);
                    value.clone()
                } else if let Some(value) = arg
                    .strip_prefix(long)
                    .and_then(|rest| rest.strip_prefix('='))
                    .or_else(|| short.and_then(|short| arg.strip_prefix(short)))
                {
                    plan.cargo_args.push(arg.clone());
                    value.to_owned()
                } else {
                    continue;
                };
                if long == "--package" {
                    plan.packages.push(value);
                }
                break;
            }
        }
        plan
    }

    /// `--workspace`, unless packages were picked or it was already given.
    fn workspace_flag(&self) -> Option<&'static str> {
        (self.packages.is_empty() && !self.workspace).then_some("--workspace")
    }

    /// Whether packages were picked and all of them are known to have no
    /// library target, so that `cargo test --doc` would refuse to run.
    fn only_binaries_selected(&self) -> bool {
        !self.packages.is_empty()
            && self
                .packages
                .iter()
                .all(|package| has_library(package) == Some(false))
    }
}

/// Whether a workspace package has a library target, if it can be told from
/// the layout (`crates/<name>` or `xtask`).
fn has_library(package: &str) -> Option<bool> {
    let dir = if package == "xtask" {
        workspace_root().join("xtask")
    } else {
        workspace_root().join("crates").join(package)
    };
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    Some(dir.join("src/lib.rs").is_file() || manifest.contains("[lib]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Plan {
        Plan::new(&args.iter().map(|&arg| arg.to_owned()).collect::<Vec<_>>())
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|&arg| arg.to_owned()).collect()
    }

    #[test]
    fn no_arguments_mean_the_whole_workspace() {
        let plan = plan(&[]);
        assert_eq!(plan, Plan::default());
        assert_eq!(plan.workspace_flag(), Some("--workspace"));
        assert!(!plan.only_binaries_selected());
    }

    #[test]
    fn picking_packages_replaces_the_workspace() {
        let plan = plan(&["-p", "a", "--package", "b", "-pc", "--package=d"]);
        assert_eq!(plan.packages, strings(&["a", "b", "c", "d"]));
        assert_eq!(
            plan.cargo_args,
            strings(&["-p", "a", "--package", "b", "-pc", "--package=d"])
        );
        assert_eq!(plan.workspace_flag(), None);
        assert!(!is_whole_workspace(&strings(&["-p", "a"])));
        assert!(is_whole_workspace(&strings(&["--exclude", "xtask"])));
        assert!(is_whole_workspace(&[]));
    }

    #[test]
    fn the_doctests_get_only_what_cargo_understands() {
        let plan = plan(&[
            "-E",
            "test(foo)",
            "--exclude",
            "xtask",
            "--retries",
            "2",
            "-F",
            "x,y",
            "--release",
            "some_filter",
            "--no-default-features",
        ]);
        assert_eq!(
            plan.cargo_args,
            strings(&[
                "--exclude",
                "xtask",
                "-F",
                "x,y",
                "--release",
                "--no-default-features"
            ])
        );
        assert!(plan.packages.is_empty());
        assert_eq!(plan.workspace_flag(), Some("--workspace"));
    }

    #[test]
    fn an_explicit_workspace_flag_is_not_doubled() {
        let plan = plan(&["--workspace", "--exclude=xtask"]);
        assert_eq!(
            plan.cargo_args,
            strings(&["--workspace", "--exclude=xtask"])
        );
        assert_eq!(plan.workspace_flag(), None);
    }

    #[test]
    fn arguments_for_the_test_binaries_are_not_cargos() {
        let plan = plan(&["--", "-p", "x", "--release"]);
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn a_dangling_option_is_left_to_the_runner() {
        let plan = plan(&["--package"]);
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn porthor_bench_alone_has_no_doctests() {
        assert_eq!(has_library("porthor-bench"), Some(false));
        assert_eq!(has_library("xtask"), Some(true));
        assert!(plan(&["-p", "porthor-bench"]).only_binaries_selected());
        assert!(!plan(&["-p", "porthor-bench", "-p", "xtask"]).only_binaries_selected());
        assert!(!plan(&["-p", "porthor-bench", "-p", "no-such-crate"]).only_binaries_selected());
    }
}
