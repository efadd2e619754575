//! A `porthor serve` under test, for `bench` and `interop`: its key files
//! and generated configuration in a directory under `target/`, and the
//! process itself, stopped on drop.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::process::{capture, cargo, run};
use crate::redis::free_port;

/// Builds the release `porthor` and `porthor-bench`. `bench` and `interop`
/// build the same set of packages: built alone, `porthor` would get other
/// dependency features than with `porthor-bench` beside it, and each task
/// would rebuild it for minutes after the other.
pub fn build_release() -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "porthor", "-p", "porthor-bench"]))
}

/// How long a fresh server may take to answer `GET /ready` with 200.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The credentials shared by every configuration of one run.
#[derive(Debug)]
pub struct Credentials {
    pub client_secret: String,
    pub client_secret_hash: String,
    /// Every user's password (they share one, and so one argon2id hash).
    pub password: String,
    pub password_hash: String,
}

impl Credentials {
    /// A new client secret and password, hashed by `porthor` itself.
    pub fn generate(porthor: &Path) -> Result<Self> {
        let output = capture(
            Command::new(porthor).args(["hash-secret", "--generate"]),
            None,
        )?;
        let client_secret = toml_line_value(&output, "client_secret")
            .context("`porthor hash-secret --generate` printed no client_secret")?;
        let client_secret_hash = toml_line_value(&output, "client_secret_hash")
            .context("`porthor hash-secret --generate` printed no client_secret_hash")?;
        let password = format!("xtask-{:016x}", rand::random::<u64>());
        let password_hash = capture(
            Command::new(porthor).arg("hash-password"),
            Some(&format!("{password}\n")),
        )?
        .trim()
        .to_owned();
        Ok(Self {
            client_secret,
            client_secret_hash,
            password,
            password_hash,
        })
    }
}

/// Which store backend the server uses.
#[derive(Debug, Clone)]
pub enum Store {
    /// Redis at this URL (a throwaway server).
    Redis(String),
    Memory,
}

/// The one client registered on the server.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub id: &'a str,
    pub redirect_uri: &'a str,
    /// Refuse authorization requests without a PKCE challenge.
    pub require_pkce: bool,
}

/// What to write into one configuration's directory.
#[derive(Debug)]
pub struct Setup<'a> {
    pub porthor: &'a Path,
    pub dir: PathBuf,
    pub alg: &'a str,
    pub store: Store,
    pub client: Client<'a>,
    pub users: usize,
    pub credentials: &'a Credentials,
    /// Extra environment for `porthor serve`.
    pub env: &'a [(String, String)],
}

/// The username of user `n`.
pub fn username(n: usize) -> String {
    format!("user{n:02}")
}

/// The `name` claim of user `n`.
pub fn display_name(n: usize) -> String {
    format!("Test User {n:02}")
}

/// The `email` claim of user `n`.
pub fn email(n: usize) -> String {
    format!("{}@example.invalid", username(n))
}

impl Setup<'_> {
    /// Writes a fresh signing key (returned as PEM), and with Redis a store
    /// key, into the directory.
    pub fn keys(&self) -> Result<Vec<u8>> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("could not create {}", self.dir.display()))?;
        let key = self.dir.join("signing.pem");
        capture(
            Command::new(self.porthor)
                .args(["keygen", "--alg", self.alg, "--force", "--output"])
                .arg(&key),
            None,
        )?;
        if matches!(self.store, Store::Redis(_)) {
            capture(
                Command::new(self.porthor)
                    .args(["keygen", "--store-key", "--force", "--output"])
                    .arg(self.dir.join("store.key")),
                None,
            )?;
        }
        fs::read(&key).with_context(|| format!("could not read {}", key.display()))
    }

    /// The configuration for a server on `port`, as TOML.
    pub fn config(&self, port: u16) -> String {
        let mut toml = String::new();
        let address = format!("127.0.0.1:{port}");
        let _ = writeln!(toml, "issuer = {}", quote(&format!("http://{address}")));
        let _ = writeln!(toml, "\n[server]\nlisten = {}", quote(&address));
        let _ = writeln!(toml, "\n[store]");
        match &self.store {
            Store::Redis(url) => {
                let key = self.dir.join("store.key");
                let _ = writeln!(toml, "backend = \"redis\"\nredis_url = {}", quote(url));
                let _ = writeln!(toml, "key_prefix = \"xtask\"");
                let _ = writeln!(
                    toml,
                    "encryption_key_file = {}",
                    quote(&key.to_string_lossy())
                );
            }
            Store::Memory => {
                let _ = writeln!(toml, "backend = \"memory\"");
            }
        }
        let key = self.dir.join("signing.pem");
        let _ = writeln!(
            toml,
            "\n[signing]\nkey_file = {}",
            quote(&key.to_string_lossy())
        );
        let client = self.client;
        let _ = writeln!(toml, "\n[[clients]]\nclient_id = {}", quote(client.id));
        let _ = writeln!(
            toml,
            "client_secret_hash = {}\nredirect_uris = [{}]\nrequire_pkce = {}",
            quote(&self.credentials.client_secret_hash),
            quote(client.redirect_uri),
            client.require_pkce
        );
        for n in 0..self.users {
            let name = username(n);
            let _ = writeln!(toml, "\n[[users]]\nusername = {}", quote(&name));
            let _ = writeln!(
                toml,
                "password_hash = {}",
                quote(&self.credentials.password_hash)
            );
            let _ = writeln!(toml, "name = {}", quote(&display_name(n)));
            let _ = writeln!(toml, "email = {}", quote(&email(n)));
        }
        toml
    }

    /// Writes the configuration and starts `porthor serve` on a free port,
    /// trying another port if the chosen one was taken meanwhile.
    pub fn start(&self) -> Result<Server> {
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let config = self.dir.join("porthor.toml");
            fs::write(&config, self.config(port))
                .with_context(|| format!("could not write {}", config.display()))?;
            let log = self.dir.join("porthor.log");
            match Server::start(self.porthor, &config, port, &log, self.env) {
                Ok(server) => return Ok(server),
                Err(error) if attempt < 3 && log_says_address_in_use(&log) => {
                    eprintln!("port {port} was taken: {error:#}; retrying");
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// A running `porthor serve`; dropping it kills and reaps it.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub address: SocketAddr,
}

impl Server {
    fn start(
        porthor: &Path,
        config: &Path,
        port: u16,
        log: &Path,
        env: &[(String, String)],
    ) -> Result<Self> {
        let stdout =
            File::create(log).with_context(|| format!("could not create {}", log.display()))?;
        let stderr = stdout.try_clone()?;
        let child = Command::new(porthor)
            .args(["serve", "--config"])
            .arg(config)
            // Keep per-request logging out of the measurement.
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("could not start {}", porthor.display()))?;
        let mut server = Self {
            child,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "porthor serve exited during startup ({status}); see {}",
                    log.display()
                );
            }
            if ready(server.address) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                bail!(
                    "porthor serve was not ready within {STARTUP_TIMEOUT:?}; see {}",
                    log.display()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait()
            && let Err(error) = self.child.kill()
        {
            eprintln!("warning: could not kill porthor serve: {error}");
        }
        let _ = self.child.wait();
    }
}

/// Whether `GET /ready` answers 200 (a blocking one-off request).
fn ready(address: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let timeout = Duration::from_millis(500);
        let mut stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(
            format!("GET /ready HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply)?;
        Ok(reply.starts_with(b"HTTP/1.1 200"))
    };
    attempt().unwrap_or(false)
}

fn log_says_address_in_use(log: &Path) -> bool {
    fs::read_to_string(log).is_ok_and(|text| text.contains("in use"))
}

/// The string value of `key = "value"` among `text`'s lines.
fn toml_line_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// `text` as a TOML basic string.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_are_read_from_their_lines() {
        let output = "client_secret = \"abc\"\nclient_secret_hash = \"sha256:xyz\"\n";
        assert_eq!(
            toml_line_value(output, "client_secret").as_deref(),
            Some("abc")
        );
        assert_eq!(
            toml_line_value(output, "client_secret_hash").as_deref(),
            Some("sha256:xyz")
        );
        assert_eq!(toml_line_value(output, "client"), None);
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }

    #[test]
    fn the_config_has_a_client_and_the_users() {
        let credentials = Credentials {
            client_secret: "s".into(),
            client_secret_hash: "sha256:h".into(),
            password: "p".into(),
            password_hash: "$argon2id$x".into(),
        };
        let setup = Setup {
            porthor: Path::new("porthor"),
            dir: PathBuf::from("/tmp/bench"),
            alg: "ES256",
            store: Store::Memory,
            client: Client {
                id: "rp",
                redirect_uri: "http://127.0.0.1:9/cb",
                require_pkce: true,
            },
            users: 3,
            credentials: &credentials,
            env: &[],
        };
        let toml = setup.config(4242);
        assert!(
            toml.starts_with("issuer = \"http://127.0.0.1:4242\"\n"),
            "{toml}"
        );
        assert!(toml.contains("backend = \"memory\""), "{toml}");
        assert!(!toml.contains("redis_url"), "{toml}");
        assert_eq!(toml.matches("[[users]]").count(), 3);
        assert!(toml.contains("username = \"user02\""), "{toml}");
        assert!(
            toml.contains("email = \"user02@example.invalid\""),
            "{toml}"
        );
        assert!(toml.contains("client_id = \"rp\""), "{toml}");
        assert!(
            toml.contains("redirect_uris = [\"http://127.0.0.1:9/cb\"]\nrequire_pkce = true\n"),
            "{toml}"
        );
    }
}
