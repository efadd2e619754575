//! Many replicas, one store: three `porthor serve` processes started from
//! one configuration file (so one signing key, store key and client list)
//! on the test Redis behave as one provider. Each step of each flow goes to
//! a different process, as a load balancer without sticky sessions would
//! send it.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::Value;

use crate::revoke_user::{Browser, CLIENT, PASSWORD, REDIRECT_URI, config, cookie};
use crate::serve::Running;
use crate::{ConfigDir, free_port, porthor};
use porthor_test_support::{TEST_ENCRYPTION_KEY, unique_prefix};

/// Failed logins per username before the lockout, in the shared file.
const USER_FAILURES: u32 = 2;

/// The three replicas, `a`, `b` and `c`, and the directory of their one
/// configuration file.
struct Replicas {
    dir: ConfigDir,
    servers: Vec<Running>,
    http: reqwest::Client,
}

impl Replicas {
    async fn start() -> Self {
        let dir = ConfigDir::new(TEST_ENCRYPTION_KEY);
        let ports = [free_port(), free_port(), free_port()];
        // The issuer names the first; every replica listens on its own port
        // (PORTHOR_SERVER__LISTEN, which `Running` sets) and is otherwise
        // configured by the same file.
        let text = format!(
            "{}\n[throttle]\nuser_failures = {USER_FAILURES}\n",
            config(ports[0], "redis", &unique_prefix("porthor_replicas"))
        );
        let path = dir.write_config(&text);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut servers = Vec::new();
        for port in ports {
            let mut server =
                Running::start(porthor().arg("serve").arg("--config").arg(&path), port);
            server.wait_until_healthy(&http).await;
            servers.push(server);
        }
        Self { dir, servers, http }
    }

    /// The browser and relying party talking to replica `n`.
    fn at(&self, n: usize) -> Browser<'_> {
        Browser {
            http: self.http.clone(),
            base: &self.servers[n].base,
            client: CLIENT,
        }
    }

    /// A login whose form comes from replica `form` and is posted to
    /// replica `post`: the response to the post.
    async fn log_in_across(
        &self,
        form: usize,
        post: usize,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self
            .http
            .get(format!("{}/login", self.servers[form].base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csrf = cookie(&page, "porthor_csrf");
        self.http
            .post(format!("{}/login", self.servers[post].base))
            .header(COOKIE, format!("porthor_csrf={csrf}"))
            .form(&[
                ("username", username),
                ("password", password),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Logs `session` out: the confirmation form from replica `form`, the
    /// logout posted to replica `post`.
    async fn log_out_across(&self, form: usize, post: usize, session: &str) {
        let page = self
            .http
            .get(format!("{}/logout", self.servers[form].base))
            .header(COOKIE, format!("porthor_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csrf = cookie(&page, "porthor_csrf");
        let response = self
            .http
            .post(format!("{}/logout", self.servers[post].base))
            .header(
                COOKIE,
                format!("porthor_csrf={csrf}; porthor_session={session}"),
            )
            .form(&[("csrf_token", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
}

/// The `error` of a JSON error response, after checking its status.
async fn error_of(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

/// A session made at one replica is honoured at another, a code issued by
/// one is redeemed at another, and its replay at a third revokes what the
/// first redemption issued.
#[tokio::test]
async fn sessions_and_codes_cross_replicas() {
    let replicas = Replicas::start().await;
    let (a, b, c) = (replicas.at(0), replicas.at(1), replicas.at(2));

    // The login form from C, posted to A (the CSRF token is a MAC under a
    // key every replica derives alike); the session then works at B.
    let login = replicas.log_in_across(2, 0, "alice", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let session = cookie(&login, "porthor_session");
    let code = b.code(&session).await.expect("B honours A's session");

    let redemption = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    let response = c.token(&redemption).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(a.userinfo(&tokens).await, StatusCode::OK);

    // One key: every replica publishes the same JWKS, and the ID token C
    // signed verifies against the key file they share.
    let mut documents = Vec::new();
    for replica in [&a, &b, &c] {
        let jwks = replicas
            .http
            .get(format!("{}/.well-known/jwks.json", replica.base));
        documents.push(jwks.send().await.unwrap().text().await.unwrap());
    }
    assert!(
        documents.iter().all(|jwks| *jwks == documents[0]),
        "{documents:?}"
    );
    let pem = std::fs::read(replicas.dir.path().join("signing.pem")).unwrap();
    let signer = porthor_signer::Signer::from_pem(&pem).unwrap();
    let claims: Value = signer
        .verify(
            tokens["id_token"].as_str().unwrap(),
            a.base,
            porthor_test_support::now().as_unix(),
        )
        .unwrap();
    assert_eq!(claims["sub"].as_str(), Some("alice"));

    // A replay at A: refused, and the tokens of C's redemption die at B.
    assert_eq!(
        error_of(a.token(&redemption).await, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    assert_eq!(b.userinfo(&tokens).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        b.refresh(&tokens).await,
        StatusCode::BAD_REQUEST,
        "the refresh token died with the replayed code"
    );
}

/// A refresh rotation at one replica and a replay of the old refresh token
/// at another revoke the family everywhere.
#[tokio::test]
async fn a_refresh_token_replayed_at_another_replica_revokes_the_family() {
    let replicas = Replicas::start().await;
    let (a, b, c) = (replicas.at(0), replicas.at(1), replicas.at(2));
    let (_, first) = c.grant("alice").await;

    let old = first["refresh_token"].as_str().unwrap();
    let rotate = [("grant_type", "refresh_token"), ("refresh_token", old)];
    let response = a.token(&rotate).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(c.userinfo(&second).await, StatusCode::OK);

    // The replay at B: refused, and the family is gone at every replica,
    // the newest refresh token and its access token included.
    assert_eq!(
        error_of(b.token(&rotate).await, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );
    assert_eq!(c.refresh(&second).await, StatusCode::BAD_REQUEST);
    assert_eq!(a.userinfo(&second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(b.userinfo(&first).await, StatusCode::UNAUTHORIZED);
}

/// A logout at one replica ends the session, and what was issued under it,
/// at every replica.
#[tokio::test]
async fn a_logout_at_one_replica_ends_the_session_everywhere() {
    let replicas = Replicas::start().await;
    let (a, b, c) = (replicas.at(0), replicas.at(1), replicas.at(2));
    let session = b.log_in("alice").await;
    let code = a.code(&session).await.expect("a code");
    let response = c
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let (_, bobs) = a.grant("bob").await;

    replicas.log_out_across(0, 2, &session).await;

    for replica in [&a, &b, &c] {
        assert_eq!(replica.code(&session).await, None, "{}", replica.base);
        assert_eq!(
            replica.userinfo(&tokens).await,
            StatusCode::UNAUTHORIZED,
            "{}",
            replica.base
        );
        assert_eq!(replica.userinfo(&bobs).await, StatusCode::OK);
    }
    assert_eq!(b.refresh(&tokens).await, StatusCode::BAD_REQUEST);
}

/// Failed logins counted at A and B add up to the lockout at C, which then
/// refuses even the right password without checking it.
#[tokio::test]
async fn throttling_counters_are_shared() {
    let replicas = Replicas::start().await;
    for (form, post) in [(0, 0), (1, 1)].into_iter().take(USER_FAILURES as usize) {
        let failed = replicas.log_in_across(form, post, "bob", "wrong").await;
        assert_ne!(failed.status(), StatusCode::SEE_OTHER);
        assert_ne!(failed.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let locked = replicas.log_in_across(2, 2, "bob", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers().contains_key("retry-after"));
    assert!(!locked.headers().contains_key(LOCATION));
    // Another user is not locked at any replica.
    let alice = replicas.log_in_across(2, 1, "alice", PASSWORD).await;
    assert_eq!(alice.status(), StatusCode::SEE_OTHER);
}
