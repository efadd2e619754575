//! Running the programs the tasks are made of, and reporting on them.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use std::{env, io};

use anyhow::{Context as _, Result, bail};

/// The workspace's root directory: the parent of this crate's directory.
///
/// `cargo run` and the test runners tell the running program where its
/// manifest is; the path baked in at compile time is only the fallback, as a
/// build may be reused by another checkout sharing the target directory.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    match manifest_dir.parent() {
        Some(root) => root.to_path_buf(),
        None => manifest_dir,
    }
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> io::Result<PathBuf> {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Ok(env::current_dir()?.join(dir)),
        None => Ok(workspace_root().join("target")),
    }
}

/// A `cargo` command (the same cargo that runs xtask) in the workspace root.
pub fn cargo() -> Command {
    let program = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(workspace_root());
    command
}

/// Runs `command` with inherited stdio, failing unless it exits successfully.
pub fn run(command: &mut Command) -> Result<()> {
    let shown = display(command);
    eprintln!("$ {shown}");
    let status = command
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `command` (feeding it `input`), returning its stdout; fails with its
/// stderr unless it succeeds.
pub fn capture(command: &mut Command, input: Option<&str>) -> Result<String> {
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{command:?}");
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start {shown}"))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("{shown} printed non-UTF-8"))
}

/// Whether xtask runs as root, and so may install Debian's packages.
pub fn is_root() -> bool {
    match Command::new("id").arg("-u").output() {
        Ok(output) if output.status.success() => output.stdout.trim_ascii() == b"0",
        _ => env::var("USER").is_ok_and(|user| user == "root"),
    }
}

/// Installs one of Debian's packages with apt-get (as root).
pub fn apt_install(package: &str) -> Result<()> {
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "--no-install-recommends", package]))
}

/// An error whose details were already printed: `main` exits with a failure
/// without repeating them.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed; see the output above")
    }
}

impl std::error::Error for Reported {}

/// Runs `body` as a named step between a header and a footer with its time.
pub fn step<T>(name: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("\n==> {name}");
    let started = Instant::now();
    let result = body();
    let seconds = started.elapsed().as_secs_f64();
    let outcome = if result.is_ok() { "ok" } else { "FAILED" };
    eprintln!("==> {name}: {outcome} ({seconds:.1}s)");
    result
}

/// `command` as a shell-like line, with the program shown by its file name.
fn display(command: &Command) -> String {
    let program = command.get_program();
    let program = Path::new(program).file_name().unwrap_or(program);
    std::iter::once(program)
        .chain(command.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    if word.is_empty() || word.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
        format!("'{}'", word.replace('\'', r"'\''"))
    } else {
        word.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_display_like_a_shell_line() {
        let mut command = Command::new("/usr/bin/redis-server");
        command.args(["--save", "", "--dir", "a b"]);
        assert_eq!(display(&command), "redis-server --save '' --dir 'a b'");
    }

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("xtask").is_dir());
    }
}
