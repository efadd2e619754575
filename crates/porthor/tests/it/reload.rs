//! Changing a running `porthor serve` without a restart: edit the file, send
//! SIGHUP (or run `porthor reload`), and watch the server change while its
//! sessions and connections stay. Each test waits on what the server shows
//! (its log, its JWKS), never on a fixed delay.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::Value;

use crate::revoke_user::{Browser, PASSWORD, REDIRECT_URI};
use crate::serve::Running;
use crate::{ConfigDir, free_port, porthor, run, secret_hash, stderr, stdout};
use porthor_test_support::TEST_ENCRYPTION_KEY;

/// What the configuration file says, in the parts the tests change.
struct Setup<'a> {
    port: u16,
    clients: &'a [&'a str],
    users: &'a [&'a str],
    /// Password hashes are slow to make: one for every user.
    password_hash: &'a str,
    user_failures: u32,
    /// Appended as it is: more tables, or a broken entry.
    extra: &'a str,
}

impl Setup<'_> {
    fn toml(&self) -> String {
        let port = self.port;
        let mut text = format!(
            r#"
issuer = "http://127.0.0.1:{port}"
[store]
backend = "memory"
encryption_key_file = "store.key"
[signing]
key_file = "signing.pem"
[throttle]
user_failures = {user_failures}
[metrics]
enabled = true
[log]
audit_file = "audit.log"
"#,
            user_failures = self.user_failures,
        );
        for client in self.clients {
            text.push_str(&format!(
                "[[clients]]\nclient_id = \"{client}\"\nclient_secret_hash = \"{}\"\nredirect_uris = [\"{REDIRECT_URI}\"]\n",
                secret_hash()
            ));
        }
        for user in self.users {
            text.push_str(&format!(
                "[[users]]\nusername = \"{user}\"\npassword_hash = \"{}\"\n",
                self.password_hash
            ));
        }
        text.push_str(self.extra);
        text
    }
}

/// A server on `setup`, healthy, and an HTTP client that follows no
/// redirects.
async fn start(dir: &ConfigDir, setup: &Setup<'_>, flags: &[&str]) -> (Running, reqwest::Client) {
    let path = dir.write_config(&setup.toml());
    let mut server = Running::start(
        porthor()
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .args(flags),
        setup.port,
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    server.wait_until_healthy(&http).await;
    (server, http)
}

fn browser<'a>(http: &reqwest::Client, server: &'a Running, client: &'a str) -> Browser<'a> {
    Browser {
        http: http.clone(),
        base: &server.base,
        client,
    }
}

/// The authorization endpoint's status for `client` in a browser with
/// `session`: 302 for a registered client, 400 for an unknown one.
async fn authorization_status(browser: &Browser<'_>, session: &str) -> StatusCode {
    let response = browser
        .http
        .get(format!("{}/auth/openid/login", browser.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", browser.client),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
        ])
        .header(COOKIE, format!("porthor_session={session}"))
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::FOUND {
        assert!(
            response.headers()[LOCATION]
                .to_str()
                .unwrap()
                .contains("code=")
        );
    }
    response.status()
}

async fn jwks(http: &reqwest::Client, server: &Running) -> Value {
    http.get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The `kid` in an ID token's header.
fn kid_of(id_token: &Value) -> String {
    let header = id_token.as_str().unwrap().split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn metrics(http: &reqwest::Client, server: &Running) -> String {
    http.get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A client added to the file can be used as soon as SIGHUP is handled,
/// with the sessions made before; a changed key that takes a restart is
/// reported as ignored.
#[tokio::test]
async fn sighup_adds_a_client_that_then_logs_a_user_in() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let password_hash = porthor_oidc::hash_password(PASSWORD).unwrap();
    let mut setup = Setup {
        port: free_port(),
        clients: &["app"],
        users: &["alice"],
        password_hash: &password_hash,
        user_failures: 10,
        extra: "",
    };
    let (server, http) = start(&dir, &setup, &[]).await;
    let new = browser(&http, &server, "new");
    let session = new.log_in("alice").await;
    assert_eq!(
        authorization_status(&new, &session).await,
        StatusCode::BAD_REQUEST
    );

    setup.clients = &["app", "new"];
    setup.extra = "[tokens]\ncode_lifetime = \"30s\"\n";
    dir.write_config(&setup.toml());
    server.hang_up();
    let line = server.wait_for_log_lines("configuration reloaded", 1).await;
    assert!(
        line.contains("clients.added=1") && line.contains("users.removed=0"),
        "{line}"
    );
    let ignored = server
        .wait_for_log_lines("ignored until porthor restarts", 1)
        .await;
    assert!(ignored.contains("tokens.code_lifetime"), "{ignored}");

    // The session from before the reload, at the new client.
    assert_eq!(
        authorization_status(&new, &session).await,
        StatusCode::FOUND
    );
    let (_, tokens) = new.grant("alice").await;
    assert_eq!(new.userinfo(&tokens).await, StatusCode::OK);
    assert!(
        metrics(&http, &server)
            .await
            .contains("porthor_config_reloads_total{outcome=\"applied\"} 1"),
    );
}

/// `rotate-key` and SIGHUP: new ID tokens carry the new key's id, the old
/// key stays in the JWKS, and an ID token it signed is still accepted as
/// an `id_token_hint`.
#[tokio::test]
async fn sighup_after_rotate_key_signs_with_the_new_key_and_keeps_the_old() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let password_hash = porthor_oidc::hash_password(PASSWORD).unwrap();
    let setup = Setup {
        port: free_port(),
        clients: &["app"],
        users: &["alice"],
        password_hash: &password_hash,
        user_failures: 10,
        extra: "",
    };
    let (server, http) = start(&dir, &setup, &[]).await;
    let app = browser(&http, &server, "app");
    let (_, before) = app.grant("alice").await;
    let old_kid = kid_of(&before["id_token"]);
    assert_eq!(
        kids(&jwks(&http, &server).await),
        std::slice::from_ref(&old_kid)
    );

    let path = dir.path().join("porthor.toml");
    let output = run(porthor().args(["rotate-key", "--config"]).arg(&path), "");
    assert!(output.status.success(), "{}", stderr(&output));
    server.hang_up();
    let deadline = Instant::now() + Duration::from_secs(30);
    let published = loop {
        let published = kids(&jwks(&http, &server).await);
        if published.len() == 2 {
            break published;
        }
        assert!(Instant::now() < deadline, "{}", server.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let new_kid = published[0].clone();
    assert_eq!(published[1], old_kid);
    assert!(stdout(&output).contains(&new_kid), "{}", stdout(&output));

    let (_, after) = app.grant("alice").await;
    assert_eq!(kid_of(&after["id_token"]), new_kid);
    let line = server.wait_for_log_lines("configuration reloaded", 1).await;
    assert!(line.contains(&new_kid), "{line}");

    let logout = |hint: String| {
        http.get(format!("{}/auth/openid/logout", server.base))
            .query(&[("id_token_hint", hint)])
            .send()
    };
    let old_hint = before["id_token"].as_str().unwrap().to_owned();
    assert_eq!(logout(old_hint).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        logout("not.a.token".to_owned()).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

/// A user removed from the file loses every session and token at once:
/// the next authorization asks them to log in; another user keeps theirs.
#[tokio::test]
async fn sighup_removing_a_user_ends_their_sessions() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let password_hash = porthor_oidc::hash_password(PASSWORD).unwrap();
    let mut setup = Setup {
        port: free_port(),
        clients: &["app"],
        users: &["alice", "bob"],
        password_hash: &password_hash,
        user_failures: 10,
        extra: "",
    };
    let (server, http) = start(&dir, &setup, &[]).await;
    let app = browser(&http, &server, "app");
    let (alices_session, alices_tokens) = app.grant("alice").await;
    let (bobs_session, bobs_tokens) = app.grant("bob").await;

    setup.users = &["bob"];
    dir.write_config(&setup.toml());
    server.hang_up();
    let line = server.wait_for_log_lines("configuration reloaded", 1).await;
    assert!(line.contains("users.removed=1"), "{line}");

    assert_eq!(app.code(&alices_session).await, None);
    assert_eq!(app.userinfo(&alices_tokens).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&alices_tokens).await, StatusCode::BAD_REQUEST);
    assert_ne!(
        app.try_log_in("alice", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert!(app.code(&bobs_session).await.is_some());
    assert_eq!(app.userinfo(&bobs_tokens).await, StatusCode::OK);
}

/// New throttle limits apply to the next login.
#[tokio::test]
async fn sighup_changes_the_throttle_limits() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let password_hash = porthor_oidc::hash_password(PASSWORD).unwrap();
    let mut setup = Setup {
        port: free_port(),
        clients: &["app"],
        users: &["alice", "bob"],
        password_hash: &password_hash,
        user_failures: 3,
        extra: "",
    };
    let (server, http) = start(&dir, &setup, &[]).await;
    let app = browser(&http, &server, "app");
    // One failure of three: not locked.
    assert_ne!(
        app.try_log_in("bob", "wrong").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.try_log_in("bob", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    setup.user_failures = 1;
    dir.write_config(&setup.toml());
    server.hang_up();
    let line = server.wait_for_log_lines("configuration reloaded", 1).await;
    assert!(line.contains("throttle.changed=true"), "{line}");
    // One failure of one: locked, even for the right password.
    assert_ne!(
        app.try_log_in("alice", "wrong").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.try_log_in("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// An invalid file changes nothing: every problem is logged, the reload is
/// audited and counted as refused, and the running configuration serves
/// on; SIGHUP still reopens the audit file.
#[tokio::test]
async fn sighup_refuses_an_invalid_file_and_keeps_serving() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let password_hash = porthor_oidc::hash_password(PASSWORD).unwrap();
    let mut setup = Setup {
        port: free_port(),
        clients: &["app"],
        users: &["alice"],
        password_hash: &password_hash,
        user_failures: 10,
        extra: "",
    };
    let (server, http) = start(&dir, &setup, &[]).await;
    let app = browser(&http, &server, "app");

    setup.users = &[];
    setup.extra = concat!(
        "[[clients]]\nclient_id = \"bad\"\nclient_secret_hash = \"sha256:nope\"\n",
        "redirect_uris = [\"http://app.example.com/cb\"]\n",
    );
    dir.write_config(&setup.toml());
    server.hang_up();
    let line = server
        .wait_for_log_lines("configuration reload refused", 1)
        .await;
    assert!(line.contains("problems=2"), "{line}");
    let logs = server.logs();
    for key in [
        "clients[1].client_secret_hash",
        "clients[1].redirect_uris[0]",
    ] {
        assert!(logs.contains(key), "{logs}");
    }
    server.wait_for_log_lines("audit file reopened", 1).await;

    // Alice was in the running configuration, and still is.
    let (_, tokens) = app.grant("alice").await;
    assert_eq!(app.userinfo(&tokens).await, StatusCode::OK);
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(audit.contains("configuration reload refused"), "{audit}");
    assert!(
        metrics(&http, &server)
            .await
            .contains("porthor_config_reloads_total{outcome=\"refused\"} 1"),
    );
}

/// `porthor reload --pid-file` finds the server by the pid file `serve
/// --pid-file` wrote, and has it reload; `--pid` names it directly. The
/// tokens of a client a reload removes stop working.
#[tokio::test]
async fn porthor_reload_signals_the_server_of_the_pid_file() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let password_hash = porthor_oidc::hash_password(PASSWORD).unwrap();
    let mut setup = Setup {
        port: free_port(),
        clients: &["app"],
        users: &["alice"],
        password_hash: &password_hash,
        user_failures: 10,
        extra: "",
    };
    let pid_file = dir.path().join("porthor.pid");
    let (server, http) = start(&dir, &setup, &["--pid-file", pid_file.to_str().unwrap()]).await;
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        format!("{}\n", server.pid())
    );

    setup.clients = &["app", "new"];
    dir.write_config(&setup.toml());
    let output = run(porthor().args(["reload", "--pid-file"]).arg(&pid_file), "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!("sent SIGHUP to porthor (pid {})", server.pid())),
        "{}",
        stdout(&output)
    );
    server.wait_for_log_lines("configuration reloaded", 1).await;
    let new = browser(&http, &server, "new");
    let (_, tokens) = new.grant("alice").await;
    assert_eq!(new.userinfo(&tokens).await, StatusCode::OK);

    // By process id, as in a container where porthor is process 1.
    setup.clients = &["app"];
    dir.write_config(&setup.toml());
    let pid = server.pid().to_string();
    let output = run(porthor().args(["reload", "--pid", &pid]), "");
    assert!(output.status.success(), "{}", stderr(&output));
    let line = server.wait_for_log_lines("configuration reloaded", 2).await;
    assert!(line.contains("clients.removed=1"), "{line}");
    assert_eq!(new.userinfo(&tokens).await, StatusCode::UNAUTHORIZED);
}
