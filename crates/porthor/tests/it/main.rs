//! The `porthor` binary, run as a user runs it: key and hash commands,
//! `check-config`, `client add` and `user add`, `delete-all-codes` and
//! `revoke-user` against the test Redis, `serve`, and `healthcheck` against
//! it; `rotate-key`, and reloads of a running `serve` (SIGHUP, `reload`);
//! three `serve` replicas on one Redis acting as one provider; and the
//! alerts `serve` posts to a webhook.
//!
//! Tests needing Redis read `PORTHOR_TEST_REDIS_URL` (`cargo xtask test`
//! sets it) and fail without it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

mod alerts;
mod cli;
mod healthcheck;
mod reload;
mod replicas;
mod revoke_user;
mod serve;
mod store;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use porthor_models::ClientSecretHash;
use porthor_signer::SigningAlgorithm;
use tempfile::TempDir;

/// A client secret long enough to be accepted.
pub const SECRET: &str = "an-example-client-secret-of-enough-length";

/// The binary under test, with no `PORTHOR_*` variable from the caller's
/// environment (so a developer's shell cannot change the results) and
/// plain logs.
pub fn porthor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_porthor"));
    for (name, _) in std::env::vars_os() {
        if name
            .to_string_lossy()
            .to_uppercase()
            .starts_with("PORTHOR_")
        {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

/// Runs `command` to completion with `stdin` as its input.
pub fn run(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A loopback port nobody listens on (at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory holding a signing key and a store key, for configuration
/// files that name them relative to the directory.
#[derive(Debug)]
pub struct ConfigDir {
    pub dir: TempDir,
}

impl ConfigDir {
    pub fn new(store_key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pem = porthor_signer::generate_pem(SigningAlgorithm::Es256).unwrap();
        let this = Self { dir };
        this.write_key("signing.pem", pem.as_str());
        this.write_key("store.key", &format!("{store_key}\n"));
        this
    }

    /// Writes a key file readable by its owner only, as `porthor keygen`
    /// does (others' access is refused).
    pub fn write_key(&self, name: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `porthor.toml` and returns its path.
    pub fn write_config(&self, toml: &str) -> PathBuf {
        let path = self.dir.path().join("porthor.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }
}

pub fn secret_hash() -> String {
    ClientSecretHash::from_secret(SECRET).unwrap().to_string()
}
