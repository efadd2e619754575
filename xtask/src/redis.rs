//! A throwaway `redis-server` for the tests, stopped when its guard drops.
//!
//! The server listens on a free loopback port (never the usual 6379, which
//! may belong to a shared or distro-started instance), keeps nothing on disk
//! (unless started with [`Redis::start_persistent`]) and logs to
//! `target/xtask/redis-<port>.log`. The chaos runs of porthor-bench kill and
//! restart it on the same port ([`Redis::restart`]) or freeze it
//! ([`Redis::pause`], [`Redis::resume`]).
//!
//! Also two topologies built of such servers, for the store's Cluster and
//! Sentinel support: a Redis Cluster of three masters ([`Cluster`]), and a
//! master with one replica watched by three sentinels ([`SentinelGroup`]).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::process::{apt_install, is_root};

/// The environment variable the tests read the server's URL from.
pub const URL_VAR: &str = "PORTHOR_TEST_REDIS_URL";

/// The environment variable the tests read the test Cluster's node URLs
/// from, comma-separated.
pub const CLUSTER_URLS_VAR: &str = "PORTHOR_TEST_REDIS_CLUSTER_URLS";

/// The environment variable the tests read the test Sentinel group's
/// sentinel URLs from, comma-separated.
pub const SENTINEL_URLS_VAR: &str = "PORTHOR_TEST_REDIS_SENTINEL_URLS";

/// The name the test sentinels know their master by.
pub const SENTINEL_MASTER: &str = "porthor-test";

/// How long a topology may take to settle (slots assigned, sentinels and
/// replica discovered).
const TOPOLOGY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a server is started as, besides the common flags: a configuration
/// file first (a sentinel needs one it can rewrite), then more flags.
type Extra<'a> = &'a dyn Fn(u16, &Path) -> Result<(Option<PathBuf>, Vec<OsString>)>;

/// How long a fresh server may take to answer `PING`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// How often to pick another port when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: u32 = 3;

/// A running `redis-server` child process; dropping it kills and reaps it.
#[derive(Debug)]
pub struct Redis {
    child: Child,
    port: u16,
    log: PathBuf,
    /// What it was started with, to start it again the same way.
    launch: Launch,
    /// Startup failed: the error already reported the log, so keep it quietly.
    failed: bool,
}

/// A server's command line beyond its port: a configuration file first (a
/// sentinel needs one it can rewrite), more flags, and whether it keeps an
/// append-only file.
#[derive(Debug)]
struct Launch {
    config: Option<PathBuf>,
    flags: Vec<OsString>,
    /// The append-only files' directory, if persistent.
    aof: Option<PathBuf>,
}

impl Redis {
    /// Installs `redis-server` if missing (as root only) and starts one whose
    /// log goes under `target_dir/xtask`, waiting until it answers `PING`.
    pub fn start(target_dir: &Path) -> Result<Self> {
        Self::start_with(target_dir, false, &|_, _| Ok((None, Vec::new())))
    }

    /// [`Redis::start`], but with append-only persistence (`appendonly
    /// yes`, fsync every second), as docs/operations.md advises: each write
    /// reaches the file before Redis answers it, so a killed and restarted
    /// server has every acknowledged write (only an operating system crash
    /// could lose the last second).
    pub fn start_persistent(target_dir: &Path) -> Result<Self> {
        Self::start_with(target_dir, true, &|_, _| Ok((None, Vec::new())))
    }

    /// [`Redis::start`], persistent or not, with `extra` flags for the
    /// chosen port.
    fn start_with(target_dir: &Path, persistent: bool, extra: Extra<'_>) -> Result<Self> {
        ensure_installed()?;
        let dir = target_dir.join("xtask");
        fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let mut redis = Self::spawn(port, &dir, persistent, extra)?;
            match redis.wait_until_ready(STARTUP_TIMEOUT) {
                Ok(Startup::Ready) => return Ok(redis),
                Ok(Startup::PortTaken) if attempt < PORT_ATTEMPTS => {
                    eprintln!("port {port} was taken before redis-server bound it; retrying");
                    attempt += 1;
                }
                Ok(Startup::PortTaken) => {
                    bail!("redis-server could not bind a free port in {PORT_ATTEMPTS} attempts")
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The URL the tests connect to (database 0).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// `redis://127.0.0.1:PORT`: a Cluster node or a sentinel, which have
    /// no databases to choose.
    fn url_without_db(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on (loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Kills the server (SIGKILL: no chance to save anything) and starts
    /// it again on the same port: [`Redis::kill`], then
    /// [`Redis::start_again`].
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.start_again()
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill().context("could not kill redis-server")?;
        self.child.wait().context("could not reap redis-server")?;
        Ok(())
    }

    /// Starts a killed server again on the same port with the same
    /// settings, waiting until it answers `PING`. A persistent server
    /// reloads its append-only file first.
    pub fn start_again(&mut self) -> Result<()> {
        let dir = self.log.parent().map(Path::to_path_buf).unwrap_or_default();
        // The log is appended to, so that both lives stay readable.
        self.child = spawn_child(self.port, &dir, &self.launch, &self.log, true)?;
        match self.wait_until_ready(STARTUP_TIMEOUT)? {
            Startup::Ready => Ok(()),
            Startup::PortTaken => bail!("port {} was taken while redis-server was down", self.port),
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and commands
    /// go unanswered until [`Redis::resume`].
    pub fn pause(&self) -> Result<()> {
        self.signal("-STOP")
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .context("could not run kill")?;
        if !status.success() {
            bail!("kill {signal} {} failed ({status})", self.child.id());
        }
        Ok(())
    }

    fn spawn(port: u16, dir: &Path, persistent: bool, extra: Extra<'_>) -> Result<Self> {
        let log = dir.join(format!("redis-{port}.log"));
        let aof = persistent.then(|| dir.join(aof_dir_name(port)));
        if let Some(aof) = &aof {
            // A fresh server starts empty, whatever an earlier one left.
            let _ = fs::remove_dir_all(aof);
        }
        let (config, flags) = extra(port, dir)?;
        let launch = Launch { config, flags, aof };
        let child = spawn_child(port, dir, &launch, &log, false)?;
        Ok(Self {
            child,
            port,
            log,
            launch,
            failed: false,
        })
    }

    fn wait_until_ready(&mut self, timeout: Duration) -> Result<Startup> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.failed = true;
                let tail = log_tail(&self.log);
                if tail.contains("Address already in use") {
                    return Ok(Startup::PortTaken);
                }
                bail!(
                    "redis-server exited during startup ({status})\n{}",
                    self.describe_log(&tail)
                );
            }
            let Err(last_error) = ping(address) else {
                return Ok(Startup::Ready);
            };
            if Instant::now() >= deadline {
                self.failed = true;
                bail!(
                    "redis-server on {address} did not answer PING within {timeout:?} \
                     (last attempt: {last_error})\n{}",
                    self.describe_log(&log_tail(&self.log))
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn describe_log(&self, tail: &str) -> String {
        format!("--- end of {} ---\n{tail}", self.log.display())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                if !self.failed {
                    eprintln!(
                        "warning: redis-server stopped on its own during the tests ({status}); \
                         see {}",
                        self.log.display()
                    );
                }
            }
            _ => {
                if let Err(error) = self.child.kill() {
                    eprintln!("warning: could not kill redis-server: {error}");
                }
                // Reap it so that no zombie outlives us.
                if let Err(error) = self.child.wait() {
                    eprintln!("warning: could not wait for redis-server: {error}");
                }
                if !self.failed {
                    // A clean run's log holds nothing worth keeping.
                    let _ = fs::remove_file(&self.log);
                }
                if let Some(aof) = &self.launch.aof {
                    let _ = fs::remove_dir_all(aof);
                }
            }
        }
    }
}

/// Where a persistent server on `port` keeps its append-only files, under
/// its `--dir`.
fn aof_dir_name(port: u16) -> String {
    format!("redis-{port}-aof")
}

/// Starts `redis-server` on `port` as `launch` says, logging to `log`
/// (appended to, or truncated first).
fn spawn_child(port: u16, dir: &Path, launch: &Launch, log: &Path, append: bool) -> Result<Child> {
    let stdout = File::options()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .with_context(|| format!("could not create {}", log.display()))?;
    let stderr = stdout.try_clone()?;
    let mut command = Command::new("redis-server");
    command
        .args(&launch.config)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--daemonize", "no"]);
    if launch.aof.is_some() {
        command.args([
            "--appendonly",
            "yes",
            "--appenddirname",
            &aof_dir_name(port),
        ]);
    } else {
        command.args(["--appendonly", "no"]);
    }
    command
        .arg("--dir")
        .arg(dir)
        .args(&launch.flags)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .context("could not start redis-server")
}

/// A Redis Cluster of three masters (no replicas) on loopback ports,
/// stopped when dropped.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Redis>,
}

impl Cluster {
    /// Starts three cluster-enabled servers, joins them with
    /// `redis-cli --cluster create`, and waits until every node reports
    /// `cluster_state:ok`.
    pub fn start(target_dir: &Path) -> Result<Self> {
        let node = |port: u16, dir: &Path| {
            // A node file left by an earlier run on this port would make
            // the node believe it is in that old cluster.
            let nodes_file = dir.join(format!("nodes-{port}.conf"));
            let _ = fs::remove_file(&nodes_file);
            let flags = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"];
            let mut flags: Vec<OsString> = flags.iter().map(OsString::from).collect();
            flags.push("--cluster-config-file".into());
            flags.push(nodes_file.into());
            Ok((None, flags))
        };
        let nodes = (0..3)
            .map(|_| Redis::start_with(target_dir, false, &node))
            .collect::<Result<Vec<_>>>()?;
        let cluster = Self { nodes };
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let output = create
            .stdin(Stdio::null())
            .output()
            .context("could not run redis-cli --cluster create")?;
        if !output.status.success() {
            bail!(
                "redis-cli --cluster create failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        for node in &cluster.nodes {
            wait_for(&format!("cluster node {}", node.port()), || {
                Ok(redis_cli(node.port(), &["CLUSTER", "INFO"])?.contains("cluster_state:ok"))
            })?;
        }
        Ok(cluster)
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Redis::url_without_db).collect()
    }
}

/// A master with one replica, watched by three sentinels (quorum 2, the
/// master declared down after a second), on loopback ports; stopped when
/// dropped.
#[derive(Debug)]
pub struct SentinelGroup {
    master: Redis,
    replica: Redis,
    sentinels: Vec<Redis>,
}

impl SentinelGroup {
    /// Starts the master and its replica, waits until the replica is in
    /// sync, then the sentinels, and waits until each knows the replica and
    /// the other two sentinels (which a failover needs).
    pub fn start(target_dir: &Path) -> Result<Self> {
        let master = Redis::start(target_dir)?;
        let master_port = master.port();
        let replica = Redis::start_with(target_dir, false, &|_, _| {
            let flags = ["--replicaof", "127.0.0.1", &master_port.to_string()];
            Ok((None, flags.iter().map(OsString::from).collect()))
        })?;
        wait_for("the replica's sync", || {
            Ok(redis_cli(replica.port(), &["INFO", "replication"])?
                .contains("master_link_status:up"))
        })?;
        let sentinel = |port: u16, dir: &Path| {
            let config = dir.join(format!("sentinel-{port}.conf"));
            let text = format!(
                "sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                 sentinel failover-timeout {SENTINEL_MASTER} 10000\n\
                 sentinel parallel-syncs {SENTINEL_MASTER} 1\n"
            );
            fs::write(&config, text)
                .with_context(|| format!("could not write {}", config.display()))?;
            Ok((Some(config), vec![OsString::from("--sentinel")]))
        };
        let sentinels = (0..3)
            .map(|_| Redis::start_with(target_dir, false, &sentinel))
            .collect::<Result<Vec<_>>>()?;
        for sentinel in &sentinels {
            wait_for(&format!("sentinel {}", sentinel.port()), || {
                let state = redis_cli(sentinel.port(), &["SENTINEL", "MASTER", SENTINEL_MASTER])?;
                let field = |name: &str| {
                    let mut lines = state.lines();
                    lines.find(|line| line.trim() == name)?;
                    lines.next().map(|value| value.trim().to_owned())
                };
                Ok(field("num-slaves").as_deref() == Some("1")
                    && field("num-other-sentinels").as_deref() == Some("2"))
            })?;
        }
        Ok(Self {
            master,
            replica,
            sentinels,
        })
    }

    /// The sentinels' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.sentinels.iter().map(Redis::url_without_db).collect()
    }

    /// The ports of the first master and of its replica.
    pub fn ports(&self) -> (u16, u16) {
        (self.master.port(), self.replica.port())
    }
}

/// Runs `redis-cli -p port ARGS…` and returns what it printed.
fn redis_cli(port: u16, args: &[&str]) -> Result<String> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("could not run redis-cli")?;
    if !output.status.success() {
        bail!(
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Polls `ready` until it says yes, for at most [`TOPOLOGY_TIMEOUT`].
fn wait_for(what: &str, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + TOPOLOGY_TIMEOUT;
    loop {
        let last = match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => "not yet".to_owned(),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            bail!("{what} was not ready within {TOPOLOGY_TIMEOUT:?} ({last})");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// How a startup attempt ended, short of an error.
#[derive(Debug)]
enum Startup {
    Ready,
    /// Someone took the port between our probe and redis-server's bind.
    PortTaken,
}

/// A loopback TCP port that was free a moment ago.
///
/// The OS picks it; the listener closes again before returning, so another
/// process could in principle grab it first (the caller retries).
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Sends `PING` and expects `+PONG`.
fn ping(address: SocketAddr) -> io::Result<()> {
    let timeout = Duration::from_millis(500);
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = Vec::new();
    let mut buffer = [0; 64];
    while !reply.contains(&b'\n') && reply.len() < 256 {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        reply.extend_from_slice(buffer.get(..read).unwrap_or_default());
    }
    if reply.starts_with(b"+PONG") {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&reply).trim_end()
        )))
    }
}

/// The last lines of a log file, or why it could not be read.
fn log_tail(log: &Path) -> String {
    match fs::read(log) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines
                .get(lines.len().saturating_sub(20)..)
                .unwrap_or_default()
                .join("\n")
        }
        Err(error) => format!("(could not read the log: {error})"),
    }
}

fn is_installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Makes sure `redis-server` is on the PATH, installing Debian's package
/// when running as root.
fn ensure_installed() -> Result<()> {
    if is_installed() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "redis-server is not installed, and the tests need it. Install it \
             (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: \
             `brew install redis`) so that `redis-server` is on the PATH, then re-run"
        );
    }
    eprintln!("redis-server is not installed; installing Debian's package as root");
    apt_install("redis-server")?;
    if !is_installed() {
        bail!("installed the redis-server package, but `redis-server --version` still fails");
    }
    // The package may start a system-wide service on 6379; it does no harm,
    // as the tests only ever talk to the throwaway server on its own port.
    eprintln!("note: any redis service the package started on port 6379 is not used");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound_again() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        // Free means free: the probe's own listener is gone.
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    /// Serves one connection with `reply` after reading a line.
    fn fake_server(reply: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = [0; 6];
            stream.read_exact(&mut line).unwrap();
            assert_eq!(&line, b"PING\r\n");
            stream.write_all(reply).unwrap();
        });
        address
    }

    #[test]
    fn ping_accepts_pong() {
        ping(fake_server(b"+PONG\r\n")).unwrap();
    }

    #[test]
    fn ping_rejects_anything_else() {
        let error = ping(fake_server(b"-LOADING Redis is loading\r\n")).unwrap_err();
        assert!(error.to_string().contains("LOADING"), "{error}");
    }

    #[test]
    fn ping_fails_without_a_server() {
        let port = free_port().unwrap();
        ping(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).unwrap_err();
    }

    #[test]
    fn the_log_tail_keeps_the_last_twenty_lines() {
        let dir = std::env::temp_dir().join(format!("xtask-log-tail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("redis.log");
        let text: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        fs::write(&log, text).unwrap();
        let tail = log_tail(&log);
        fs::remove_dir_all(&dir).unwrap();
        assert!(tail.starts_with("line 11\n"), "{tail}");
        assert!(tail.ends_with("line 30"), "{tail}");
    }
}
