//! `porthor revoke-user`: run against the test Redis while `porthor serve`
//! holds the user's session and tokens on the same store, which must then
//! refuse them all; and refused on the memory store, which it cannot reach.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::serve::Running;
use crate::{ConfigDir, SECRET, free_port, porthor, run, secret_hash, stderr, stdout};
use porthor_test_support::{TEST_ENCRYPTION_KEY, redis_url, unique_prefix};

pub(crate) const CLIENT: &str = "app";
pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) fn config(port: u16, backend: &str, prefix: &str) -> String {
    let password_hash = porthor_oidc::hash_password(PASSWORD).unwrap();
    format!(
        r#"
issuer = "http://127.0.0.1:{port}"
[store]
backend = "{backend}"
redis_url = "{redis_url}"
key_prefix = "{prefix}"
encryption_key_file = "store.key"
[signing]
key_file = "signing.pem"
[[clients]]
client_id = "{CLIENT}"
client_secret_hash = "{hash}"
redirect_uris = ["{REDIRECT_URI}"]
[[users]]
username = "alice"
password_hash = "{password_hash}"
[[users]]
username = "bob"
password_hash = "{password_hash}"
"#,
        redis_url = redis_url(),
        hash = secret_hash(),
    )
}

/// The value `response` sets cookie `name` to.
pub(crate) fn cookie(response: &Response, name: &str) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

/// A browser and a relying party against the running server.
pub(crate) struct Browser<'a> {
    pub(crate) http: reqwest::Client,
    pub(crate) base: &'a str,
}

impl Browser<'_> {
    /// Logs `username` in through the form; the session cookie's value.
    pub(crate) async fn log_in(&self, username: &str) -> String {
        let form = self
            .http
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap();
        let csrf = cookie(&form, "porthor_csrf");
        let response = self
            .http
            .post(format!("{}/login", self.base))
            .header(COOKIE, format!("porthor_csrf={csrf}"))
            .form(&[
                ("username", username),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        cookie(&response, "porthor_session")
    }

    /// The authorization endpoint's answer to the browser with `session`:
    /// the code, or `None` if it sends the browser to log in.
    pub(crate) async fn code(&self, session: &str) -> Option<String> {
        let response = self
            .http
            .get(format!("{}/auth/openid/login", self.base))
            .query(&[
                ("response_type", "code"),
                ("client_id", CLIENT),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid offline_access"),
            ])
            .header(COOKIE, format!("porthor_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = url::Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(name, _)| name == "code")
            .map(|(_, code)| code.into_owned())
    }

    pub(crate) async fn token(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}/auth/openid/token", self.base))
            .basic_auth(CLIENT, Some(SECRET))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Logs `username` in and redeems a code: the token response.
    pub(crate) async fn grant(&self, username: &str) -> (String, Value) {
        let session = self.log_in(username).await;
        let code = self.code(&session).await.expect("a code");
        let response = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        (session, response.json().await.unwrap())
    }

    pub(crate) async fn userinfo(&self, tokens: &Value) -> StatusCode {
        self.http
            .get(format!("{}/auth/openid/userinfo", self.base))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status()
    }

    pub(crate) async fn refresh(&self, tokens: &Value) -> StatusCode {
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
        .status()
    }
}

/// For a compromised account: every session of the user, and what was
/// issued under them, ends on the server that holds them, which shares the
/// command's Redis; another user's stay.
#[tokio::test]
async fn revoke_user_ends_a_users_sessions_on_a_running_server() {
    let port = free_port();
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let path = dir.write_config(&config(
        port,
        "redis",
        &unique_prefix("porthor_revoke_user"),
    ));
    let mut server = Running::start(porthor().arg("serve").arg("--config").arg(&path), port);
    let browser = Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: &server.base.clone(),
    };
    server.wait_until_healthy(&browser.http).await;
    let (alices_session, alices_tokens) = browser.grant("alice").await;
    let (other_session, _) = browser.grant("alice").await;
    let (bobs_session, bobs_tokens) = browser.grant("bob").await;
    assert_eq!(browser.userinfo(&alices_tokens).await, StatusCode::OK);

    let output = run(
        porthor()
            .args(["revoke-user", "alice", "--config"])
            .arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "ended 2 sessions of \"alice\", and with them every authorization code, access token and refresh token issued under them\n"
    );
    // Logged as an administrator's action, with a reminder that the user
    // can still log in.
    let logs = stderr(&output);
    assert!(
        logs.contains("administrator ended every session of a user"),
        "{logs}"
    );
    assert!(logs.contains("can still log in"), "{logs}");

    assert_eq!(
        browser.userinfo(&alices_tokens).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        browser.refresh(&alices_tokens).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(browser.code(&alices_session).await, None);
    assert_eq!(browser.code(&other_session).await, None);
    assert_eq!(browser.userinfo(&bobs_tokens).await, StatusCode::OK);
    assert!(browser.code(&bobs_session).await.is_some());

    let again = run(
        porthor()
            .args(["revoke-user", "alice", "--config"])
            .arg(&path),
        "",
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).starts_with("ended 0 sessions of \"alice\""));
}

/// A memory store lives in the serving process: the command cannot reach
/// it, and says so rather than report nothing ended.
#[test]
fn revoke_user_refuses_the_memory_store() {
    let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
    let path = dir.write_config(&config(free_port(), "memory", "unused"));
    let output = run(
        porthor()
            .args(["revoke-user", "alice", "--config"])
            .arg(&path),
        "",
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("revoke-user needs store.backend = \"redis\""),
        "{}",
        stderr(&output)
    );
}
