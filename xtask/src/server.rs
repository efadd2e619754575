//! A `porthor serve` under test, for `bench` and `interop`: its key files
//! and generated configuration in a directory under `target/`, and the
//! process itself, stopped on drop.

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

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
        let GeneratedSecret {
            client_secret,
            client_secret_hash,
        } = toml::from_str(&output)
            .context("`porthor hash-secret --generate` printed no client_secret and hash")?;
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

/// What `porthor hash-secret --generate` prints: TOML for a client's entry
/// (the hash) and the secret to give its owner.
#[derive(Debug, Deserialize)]
struct GeneratedSecret {
    client_secret: String,
    client_secret_hash: String,
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
    pub fn config(&self, port: u16) -> Result<String> {
        let address = format!("127.0.0.1:{port}");
        let credentials = self.credentials;
        let config = Config {
            issuer: format!("http://{address}"),
            server: ServerSection { listen: address },
            store: match &self.store {
                Store::Redis(url) => StoreSection::Redis {
                    redis_url: url,
                    key_prefix: "xtask",
                    encryption_key_file: self.dir.join("store.key"),
                },
                Store::Memory => StoreSection::Memory,
            },
            signing: SigningSection {
                key_file: self.dir.join("signing.pem"),
            },
            clients: [ClientSection {
                client_id: self.client.id,
                client_secret_hash: &credentials.client_secret_hash,
                redirect_uris: [self.client.redirect_uri],
                require_pkce: self.client.require_pkce,
            }],
            users: (0..self.users)
                .map(|n| UserSection {
                    username: username(n),
                    password_hash: &credentials.password_hash,
                    name: display_name(n),
                    email: email(n),
                })
                .collect(),
        };
        toml::to_string(&config).context("could not write the configuration as TOML")
    }

    /// Writes the configuration and starts `porthor serve` on a free port,
    /// trying another port if the chosen one was taken meanwhile.
    pub fn start(&self) -> Result<Server> {
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let config = self.dir.join("porthor.toml");
            fs::write(&config, self.config(port)?)
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

impl Setup<'_> {
    /// Starts `replicas` processes of `porthor serve` (at least one) on the
    /// one configuration file, so with the same keys, store and clients:
    /// the first as [`Setup::start`] does (the issuer names its address),
    /// each other one on a free port of its own (`PORTHOR_SERVER__LISTEN`),
    /// logging to `porthor-<n>.log`.
    pub fn start_replicas(&self, replicas: usize) -> Result<Vec<Server>> {
        let mut servers = vec![self.start()?];
        let config = self.dir.join("porthor.toml");
        for n in 1..replicas {
            let port = free_port()?;
            let mut env = self.env.to_vec();
            env.push((
                "PORTHOR_SERVER__LISTEN".to_owned(),
                format!("127.0.0.1:{port}"),
            ));
            let log = self.dir.join(format!("porthor-{n}.log"));
            servers.push(Server::start(self.porthor, &config, port, &log, &env)?);
        }
        Ok(servers)
    }
}

/// The part of porthor's configuration file the tasks write (see
/// docs/configuration.md); everything else keeps its default.
#[derive(Debug, Serialize)]
struct Config<'a> {
    issuer: String,
    server: ServerSection,
    store: StoreSection<'a>,
    signing: SigningSection,
    clients: [ClientSection<'a>; 1],
    users: Vec<UserSection<'a>>,
}

#[derive(Debug, Serialize)]
struct ServerSection {
    listen: String,
}

#[derive(Debug, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
enum StoreSection<'a> {
    Redis {
        redis_url: &'a str,
        key_prefix: &'a str,
        encryption_key_file: PathBuf,
    },
    Memory,
}

#[derive(Debug, Serialize)]
struct SigningSection {
    key_file: PathBuf,
}

#[derive(Debug, Serialize)]
struct ClientSection<'a> {
    client_id: &'a str,
    client_secret_hash: &'a str,
    redirect_uris: [&'a str; 1],
    require_pkce: bool,
}

#[derive(Debug, Serialize)]
struct UserSection<'a> {
    username: String,
    password_hash: &'a str,
    name: String,
    email: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_read_as_toml() {
        let output = "client_secret = \"abc\"\nclient_secret_hash = \"sha256:xyz\"\n";
        let secret: GeneratedSecret = toml::from_str(output).unwrap();
        assert_eq!(secret.client_secret, "abc");
        assert_eq!(secret.client_secret_hash, "sha256:xyz");
        assert!(toml::from_str::<GeneratedSecret>("client_secret = \"abc\"\n").is_err());
    }

    /// The configuration of a server on port 4242 with three users, in a
    /// directory whose name needs escaping.
    fn config(store: Store) -> toml::Table {
        let credentials = Credentials {
            client_secret: "s".into(),
            client_secret_hash: "sha256:h".into(),
            password: "p".into(),
            password_hash: "$argon2id$x".into(),
        };
        let setup = Setup {
            porthor: Path::new("porthor"),
            dir: PathBuf::from("/tmp/xtask \"quoted\""),
            alg: "ES256",
            store,
            client: Client {
                id: "rp",
                redirect_uri: "http://127.0.0.1:9/cb",
                require_pkce: true,
            },
            users: 3,
            credentials: &credentials,
            env: &[],
        };
        toml::from_str(&setup.config(4242).unwrap()).unwrap()
    }

    #[test]
    fn the_config_has_a_client_and_the_users() {
        let config = config(Store::Memory);
        assert_eq!(config["issuer"].as_str(), Some("http://127.0.0.1:4242"));
        assert_eq!(config["server"]["listen"].as_str(), Some("127.0.0.1:4242"));
        assert_eq!(
            config["signing"]["key_file"].as_str(),
            Some("/tmp/xtask \"quoted\"/signing.pem")
        );
        let clients = config["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 1);
        assert_eq!(clients[0]["client_id"].as_str(), Some("rp"));
        assert_eq!(clients[0]["client_secret_hash"].as_str(), Some("sha256:h"));
        assert_eq!(
            clients[0]["redirect_uris"].as_array().unwrap()[0].as_str(),
            Some("http://127.0.0.1:9/cb")
        );
        assert_eq!(clients[0]["require_pkce"].as_bool(), Some(true));
        let users = config["users"].as_array().unwrap();
        assert_eq!(users.len(), 3);
        assert_eq!(users[2]["username"].as_str(), Some("user02"));
        assert_eq!(users[2]["name"].as_str(), Some("Test User 02"));
        assert_eq!(users[2]["email"].as_str(), Some("user02@example.invalid"));
        assert_eq!(users[2]["password_hash"].as_str(), Some("$argon2id$x"));
    }

    #[test]
    fn the_store_section_names_the_backend_and_what_it_needs() {
        let memory = config(Store::Memory);
        let memory = memory["store"].as_table().unwrap();
        assert_eq!(memory.len(), 1, "{memory:?}");
        assert_eq!(memory["backend"].as_str(), Some("memory"));

        let redis = config(Store::Redis("redis://127.0.0.1:6400/0".into()));
        let redis = redis["store"].as_table().unwrap();
        assert_eq!(redis["backend"].as_str(), Some("redis"));
        assert_eq!(
            redis["redis_url"].as_str(),
            Some("redis://127.0.0.1:6400/0")
        );
        assert_eq!(redis["key_prefix"].as_str(), Some("xtask"));
        assert_eq!(
            redis["encryption_key_file"].as_str(),
            Some("/tmp/xtask \"quoted\"/store.key")
        );
    }
}
