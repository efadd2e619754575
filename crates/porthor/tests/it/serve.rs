//! `porthor serve`: on the embedded demo configuration and on a file.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use porthor_models::AuthorizationCode;
use serde_json::Value;

use crate::{ConfigDir, SECRET, free_port, porthor, secret_hash};

/// The server process, killed when the test ends however it ends.
pub(crate) struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Its logs so far, for failure messages.
    logs: Arc<Mutex<String>>,
    /// `http://127.0.0.1:{port}`.
    pub(crate) base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    pub(crate) fn start(command: &mut std::process::Command, port: u16) -> Self {
        let mut child = command
            .env("PORTHOR_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("PORTHOR_SERVER__WORKERS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            logs,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Polls `/health` until it answers 200.
    pub(crate) async fn wait_until_healthy(&mut self, http: &reqwest::Client) {
        self.wait_until_healthy_at(http, "/health").await;
    }

    /// Polls `path` (an issuer with a path has its probes under it) until
    /// it answers 200.
    pub(crate) async fn wait_until_healthy_at(&mut self, http: &reqwest::Client, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = http.get(format!("{}{path}", self.base)).send().await
                && response.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("porthor exited early with {status}; logs:\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "porthor did not become healthy; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stdout lines up to and including the first one `last` accepts.
    fn stdout_until(&self, last: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|e| {
                    panic!("stdout so far: {lines:?} ({e}); logs:\n{}", self.logs())
                });
            let done = last(&line);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    async fn discovery(&self, http: &reqwest::Client) -> Value {
        http.get(format!("{}/.well-known/openid-configuration", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The `error` of a token request authenticated as `client_id:secret` with a
/// code that was never issued.
async fn token_error(
    http: &reqwest::Client,
    endpoint: &str,
    client_id: &str,
    secret: &str,
) -> String {
    let body: Value = http
        .post(endpoint)
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &AuthorizationCode::generate().expose()),
            ("redirect_uri", "http://127.0.0.1:9000/callback"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn embedded_demo_serves_and_prints_its_credentials() {
    let port = free_port();
    let mut server = Running::start(porthor().arg("serve"), port);
    let http = reqwest::Client::new();
    server.wait_until_healthy(&http).await;

    let discovery = server.discovery(&http).await;
    let issuer = format!("http://127.0.0.1:{port}");
    assert_eq!(discovery["issuer"].as_str(), Some(issuer.as_str()));

    let landing = format!("{issuer}/");
    let lines = server.stdout_until(|line| line == landing);
    let text = lines.join("\n");
    assert!(text.contains("NOT for\nproduction"), "{text}");
    let value = |label: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(label)?.trim_start().strip_prefix("= "))
            .unwrap_or_else(|| panic!("no {label} in {text}"))
            .to_owned()
    };
    assert_eq!(value("issuer"), issuer);
    assert_eq!(value("client_id"), "demo");
    assert_eq!(value("redirect_uri"), "http://127.0.0.1:9000/callback");
    assert_eq!(value("username"), "demo");
    assert_eq!(value("password").len(), 20);
    let secret = value("client_secret");
    assert_eq!(secret.len(), 43);

    // The printed secret is the one the server knows.
    let endpoint = discovery["token_endpoint"].as_str().unwrap();
    assert_eq!(
        token_error(&http, endpoint, "demo", "wrong-secret").await,
        "invalid_client"
    );
    let error = token_error(&http, endpoint, "demo", &secret).await;
    assert_ne!(error, "invalid_client");
    assert_ne!(error, "");

    // The banner's URL is the landing page, naming the issuer and linking
    // to discovery.
    let page = http.get(&landing).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains(&format!("<code>{issuer}</code>")), "{page}");
    assert!(
        page.contains(&format!("{issuer}/.well-known/openid-configuration")),
        "{page}"
    );
}

#[tokio::test]
async fn serve_with_a_file() {
    let dir = ConfigDir::new(&porthor_store::EncryptionKey::generate().to_base64());
    let path = dir.write_config(&format!(
        r#"
issuer = "https://auth.example.com"
[store]
backend = "memory"
encryption_key_file = "store.key"
[signing]
key_file = "signing.pem"
[[clients]]
client_id = "chronograf"
client_secret_hash = "{hash}"
redirect_uris = ["https://chronograf.example.com/oauth/OIDC/callback"]
"#,
        hash = secret_hash()
    ));
    let port = free_port();
    let mut server = Running::start(porthor().arg("serve").arg("--config").arg(&path), port);
    let http = reqwest::Client::new();
    server.wait_until_healthy(&http).await;
    let discovery = server.discovery(&http).await;
    assert_eq!(
        discovery["issuer"].as_str(),
        Some("https://auth.example.com")
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"][0].as_str(),
        Some("ES256")
    );
    // The client from the file authenticates (and there is no demo client).
    let endpoint = format!("{}/auth/openid/token", server.base);
    assert_ne!(
        token_error(&http, &endpoint, "chronograf", SECRET).await,
        "invalid_client"
    );
    assert_eq!(
        token_error(&http, &endpoint, "demo", SECRET).await,
        "invalid_client"
    );
    // Nothing on stdout: no demo banner.
    assert!(
        server
            .lines
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    );
}

/// Every untrusted string is escaped in the text log: a `client_id` with a
/// newline cannot start a line of its own.
#[tokio::test]
async fn log_lines_cannot_be_forged() {
    let port = free_port();
    let mut server = Running::start(porthor().arg("serve"), port);
    let http = reqwest::Client::new();
    server.wait_until_healthy(&http).await;
    let response = http
        .get(format!(
            "{}/auth/openid/login?response_type=code&scope=openid&client_id=x%0AERROR%20forged",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.logs().contains("authorization request refused") {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = server.logs();
    assert!(
        !logs.lines().any(|line| line.starts_with("ERROR forged")),
        "{logs}"
    );
    assert!(logs.contains(r"client.id=x\nERROR forged"), "{logs}");
}

/// SIGTERM drains, then stops: `/ready` answers 503 at once while every
/// other request is still served (clients that, like a load balancer, stop
/// sending when it does see no error); then new connections are refused, a
/// request already in flight still gets its whole answer, and the process
/// exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_finishes_in_flight_requests() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;

    let port = free_port();
    let mut server = Running::start(
        porthor()
            .arg("serve")
            .env("PORTHOR_SERVER__DRAIN_DELAY", "1s")
            .env("PORTHOR_SERVER__SHUTDOWN_TIMEOUT", "10s"),
        port,
    );
    // A connection per request: no idle keep-alive connection to race with
    // the stop, as a load balancer's health checks would not reuse one.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    server.wait_until_healthy(&http).await;
    let base = server.base.clone();

    // Load until /ready says to go away, checking every other answer.
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                let mut served = 0_u32;
                loop {
                    let ready = http.get(format!("{base}/ready")).send().await.unwrap();
                    if ready.status() == 503 {
                        assert_eq!(ready.text().await.unwrap(), "draining: shutting down\n");
                        // Still serving while draining.
                        let jwks = http.get(format!("{base}/.well-known/jwks.json"));
                        assert_eq!(jwks.send().await.unwrap().status(), 200);
                        return served;
                    }
                    assert_eq!(ready.status(), 200);
                    let jwks = http.get(format!("{base}/.well-known/jwks.json"));
                    assert_eq!(jwks.send().await.unwrap().status(), 200);
                    served += 1;
                }
            })
        })
        .collect();

    // A request in flight across the stop: headers and half of the body now,
    // the rest once the server has stopped accepting.
    let body = "grant_type=authorization_code&code=not-a-code&client_id=demo";
    let (first, rest) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        in_flight,
        "POST /auth/openid/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .unwrap();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let signalled = Instant::now();

    for loader in loaders {
        let served = loader.await.unwrap();
        assert!(served > 0, "the load ran before the signal");
    }
    assert!(
        signalled.elapsed() < Duration::from_millis(900),
        "/ready answered 503 only after {:?}",
        signalled.elapsed()
    );

    // After the drain delay the listener closes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections; logs:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(signalled.elapsed() >= Duration::from_secs(1));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "porthor exited with a request in flight; logs:\n{}",
        server.logs()
    );

    // The request in flight is answered in full.
    in_flight.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("invalid_client"), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "porthor did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}; logs:\n{}", server.logs());
    assert!(
        server.logs().contains("porthor stopped"),
        "{}",
        server.logs()
    );
}

/// `[log] audit_file`: the audit events go there as JSON lines (and only
/// they: no request log, no startup line), the file is created owner-only,
/// and SIGHUP makes `serve` reopen its path, as logrotate needs after it
/// renames the file.
#[tokio::test]
async fn audit_file_gets_the_audit_events_and_is_reopened_on_sighup() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let port = free_port();
    let mut server = Running::start(
        porthor()
            .arg("serve")
            .env("PORTHOR_LOG__AUDIT_FILE", &audit),
        port,
    );
    let http = reqwest::Client::new();
    server.wait_until_healthy(&http).await;
    let lines = server.stdout_until(|line| line.trim_start().starts_with("client_secret"));
    let secret = lines
        .iter()
        .find_map(|line| {
            line.trim_start()
                .strip_prefix("client_secret")?
                .trim_start()
                .strip_prefix("= ")
        })
        .unwrap()
        .to_owned();
    let endpoint = format!("{}/auth/openid/token", server.base);

    // An audit event: a code refused.
    assert_eq!(
        token_error(&http, &endpoint, "demo", &secret).await,
        "invalid_grant"
    );
    let events = wait_for_lines(&audit, 1).await;
    let event: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(event["target"], "porthor::audit", "{event}");
    assert_eq!(event["fields"]["outcome"], "refused", "{event}");
    assert!(!events[0].contains(&secret));
    let mode = std::fs::metadata(&audit).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // logrotate: rename, then SIGHUP; the next event starts a new file.
    let rotated = dir.path().join("audit.log.1");
    std::fs::rename(&audit, &rotated).unwrap();
    let pid = server.child.id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.logs().contains("audit file reopened") {
        assert!(
            Instant::now() < deadline,
            "no reopen; logs:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        token_error(&http, &endpoint, "demo", &secret).await,
        "invalid_grant"
    );
    assert_eq!(wait_for_lines(&audit, 1).await.len(), 1);
    assert_eq!(
        std::fs::read_to_string(&rotated).unwrap().lines().count(),
        1
    );
    // Still serving: SIGHUP did not stop it.
    assert!(server.child.try_wait().unwrap().is_none());
}

/// The lines of `path` once it has at least `count`.
async fn wait_for_lines(path: &std::path::Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= count {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {} lines",
            path.display(),
            lines.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
