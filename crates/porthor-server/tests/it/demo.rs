//! The built-in demo relying party, driven over HTTP as a browser drives
//! it: the landing page's button, the authorization request it makes
//! (PKCE S256, state, nonce), the login, the callback with the verified ID
//! token and userinfo, a refresh, and the logout through the RP-initiated
//! logout endpoint; and a callback whose state this browser never sent.

use reqwest::StatusCode;
use reqwest::header::COOKIE;

use crate::harness::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Harness, Options, StoreKind, USERNAME, location, query,
    session_cookie, set_cookie,
};
use porthor_server::DemoClient;

async fn start(backend: StoreKind) -> Harness {
    Harness::start_with(Options {
        demo: Some(DemoClient {
            client_id: DEMO_CLIENT_ID.to_owned(),
            client_secret: DEMO_CLIENT_SECRET.to_owned(),
        }),
        ..Options::new(backend)
    })
    .await
}

/// `GET path` with the demo's cookie.
async fn with_demo_cookie(h: &Harness, url: &str, cookie: &str) -> reqwest::Response {
    h.http
        .get(url)
        .header(COOKIE, format!("porthor_demo={cookie}"))
        .send()
        .await
        .unwrap()
}

async fn the_demo_runs_the_whole_flow(backend: StoreKind) {
    let h = start(backend).await;
    let landing = h.get("/").await.text().await.unwrap();
    assert!(landing.contains("href=\"/demo/\""), "{landing}");
    let home = h.get("/demo/").await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("href=\"/demo/login\""));

    // The authorization request, as the demo makes it.
    let start = h.get("/demo/login").await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let flow_cookie = set_cookie(&start, "porthor_demo").expect("the demo's cookie");
    let auth = location(&start);
    assert!(
        auth.as_str().starts_with(&h.url("/auth/openid/login?")),
        "{auth}"
    );
    assert_eq!(query(&auth, "client_id").as_deref(), Some(DEMO_CLIENT_ID));
    assert_eq!(
        query(&auth, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query(&auth, "redirect_uri"),
        Some(format!("{}/demo/callback", h.issuer))
    );
    let state = query(&auth, "state").expect("state");
    assert!(query(&auth, "nonce").is_some_and(|n| n.len() >= 16));
    assert!(state.len() >= 16);

    // The browser logs in and comes back with a code.
    let to_login = h.http.get(auth.as_str()).send().await.unwrap();
    assert_eq!(to_login.status(), StatusCode::FOUND);
    let form = location(&to_login).to_string();
    let page = h
        .http
        .get(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("to continue to <strong>Porthor demo</strong>"),
        "{page}"
    );
    let (_, session, back) = h.log_in_and_return(&form, None).await;
    let callback = location(&back);
    assert!(
        callback
            .as_str()
            .starts_with(&format!("{}/demo/callback?", h.issuer)),
        "{callback}"
    );
    assert_eq!(query(&callback, "state").as_deref(), Some(state.as_str()));

    // The callback: the code redeemed, the ID token verified, userinfo.
    let claims = with_demo_cookie(&h, callback.as_str(), &flow_cookie).await;
    assert_eq!(claims.status(), StatusCode::OK);
    let held = set_cookie(&claims, "porthor_demo").expect("the tokens are kept");
    let body = claims.text().await.unwrap();
    assert!(body.contains("are verified"), "{body}");
    assert!(
        body.contains("&quot;alg&quot;: &quot;ES256&quot;"),
        "{body}"
    );
    assert!(body.contains("&quot;kid&quot;"), "{body}");
    assert!(
        body.contains(&format!("&quot;sub&quot;: &quot;{USERNAME}&quot;")),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "&quot;aud&quot;: [\n    &quot;{DEMO_CLIENT_ID}&quot;"
        )) || body.contains(&format!("&quot;aud&quot;: &quot;{DEMO_CLIENT_ID}&quot;")),
        "{body}"
    );
    assert!(
        body.contains("&quot;email&quot;: &quot;alice@example.com&quot;"),
        "{body}"
    );

    // A refresh with the refresh token the cookie holds.
    let refreshed = h
        .http
        .post(h.url("/demo/refresh"))
        .header(COOKIE, format!("porthor_demo={held}"))
        .send()
        .await
        .unwrap();
    let status = refreshed.status();
    let rotated = set_cookie(&refreshed, "porthor_demo").unwrap_or_default();
    let body = refreshed.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(rotated, held);
    assert!(body.contains("were refreshed"), "{body}");
    // The old refresh token was rotated out.
    let replay = h
        .http
        .post(h.url("/demo/refresh"))
        .header(COOKIE, format!("porthor_demo={held}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_GATEWAY);

    // Logout through the RP-initiated logout endpoint, back to the demo.
    let logout = body
        .split("href=\"")
        .map(|rest| rest.split('"').next().unwrap_or_default())
        .find(|href| href.contains("/auth/openid/logout?"))
        .expect("a logout link")
        .replace("&amp;", "&");
    assert!(logout.contains("id_token_hint="), "{logout}");
    assert!(h.session_alive(&session).await);
    let ended = h
        .http
        .get(&logout)
        .header(COOKIE, session_cookie(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&ended).as_str(), format!("{}/demo/", h.issuer));
    assert!(!h.session_alive(&session).await);
    // The code was good once: the same callback again fails, and says why.
    let again = with_demo_cookie(&h, callback.as_str(), &flow_cookie).await;
    assert_eq!(again.status(), StatusCode::BAD_GATEWAY);
    assert!(again.text().await.unwrap().contains("invalid_grant"));
}

async fn a_callback_this_browser_did_not_start_is_refused(backend: StoreKind) {
    let h = start(backend).await;
    let start = h.get("/demo/login").await;
    let flow_cookie = set_cookie(&start, "porthor_demo").unwrap();
    let url = h.url("/demo/callback?code=whatever&state=not-the-one-sent");
    let response = with_demo_cookie(&h, &url, &flow_cookie).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = response.text().await.unwrap();
    assert!(body.contains("role=\"alert\""), "{body}");
    assert!(body.contains("the state does not match"), "{body}");
    // Without the cookie at all.
    let response = h.get("/demo/callback?code=x&state=y").await;
    assert!(response.text().await.unwrap().contains("started no login"));
}

async fn without_a_demo_client_there_is_no_demo(backend: StoreKind) {
    let h = Harness::start(backend).await;
    for path in ["/demo/", "/demo/login", "/demo/callback"] {
        assert_eq!(h.get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

crate::on_both_stores!(
    the_demo_runs_the_whole_flow,
    a_callback_this_browser_did_not_start_is_refused,
    without_a_demo_client_there_is_no_demo,
);
