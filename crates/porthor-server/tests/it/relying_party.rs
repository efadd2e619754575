//! The whole authorization code flow with an independent relying party, the
//! `openidconnect` crate: discovery, the authorization request through the
//! login form (and, for a client that needs consent, the consent page), the
//! code exchange, ID token verification against the JWKS fetched from
//! `jwks_uri`, userinfo, and the refresh-token grant with rotation. An
//! implicit client never sees a consent page.

use std::str::FromStr as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::reqwest as rp_reqwest;
use openidconnect::{
    AccessTokenHash, AuthType, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, JsonWebKey as _, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse as _,
};
use porthor_signer::SigningAlgorithm;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use url::Url;

use crate::harness::{
    CLIENT_ID, CLIENT_SECRET, CONSENT_CLIENT_ID, CONSENT_CLIENT_SECRET, Harness, Options,
    REDIRECT_URI, StoreKind, USERNAME, consent_page, jwt_header, location, query, session_cookie,
    with_altered_signature,
};

/// The relying party's registration at Porthor.
#[derive(Debug, Clone, Copy)]
struct Party {
    client_id: &'static str,
    secret: &'static str,
}

/// The default client, `consent = "implicit"`.
const IMPLICIT: Party = Party {
    client_id: CLIENT_ID,
    secret: CLIENT_SECRET,
};

/// A client with `consent = "required"`.
const CONSENTING: Party = Party {
    client_id: CONSENT_CLIENT_ID,
    secret: CONSENT_CLIENT_SECRET,
};

/// The discovered client, with the token and userinfo endpoints set.
type Rp = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The relying party's HTTP client: like every OpenID Connect client it
/// must not follow redirects (SSRF), so the test sees each hop.
fn rp_http() -> rp_reqwest::Client {
    rp_reqwest::ClientBuilder::new()
        .redirect(rp_reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Discovery, as a relying party does it; checks what it found.
async fn discover(h: &Harness, http: &rp_reqwest::Client) -> CoreProviderMetadata {
    let issuer = IssuerUrl::new(h.issuer.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .unwrap_or_else(|e| panic!("discovery failed: {e:?}"));
    assert_eq!(metadata.issuer().as_str(), h.issuer);
    assert_eq!(
        metadata.authorization_endpoint().as_str(),
        h.url("/auth/openid/login")
    );
    assert_eq!(
        metadata.token_endpoint().map(|u| u.as_str().to_owned()),
        Some(h.url("/auth/openid/token"))
    );
    assert_eq!(
        metadata.userinfo_endpoint().map(|u| u.as_str().to_owned()),
        Some(h.url("/auth/openid/userinfo"))
    );
    assert_eq!(
        metadata.jwks_uri().as_str(),
        h.url("/.well-known/jwks.json")
    );
    assert!(
        !metadata.jwks().keys().is_empty(),
        "discovery fetched no keys"
    );
    metadata
}

/// What the authorization endpoint sent back to the client's redirect URI.
struct Callback {
    code: String,
    state: String,
    /// Whether the user was shown the consent page on the way.
    consented: bool,
}

/// Delivers the authorization endpoint's `response` to the client, through
/// the consent page first if it shows one (the user, with `session`,
/// approves): it must be the registered redirect URI with a code, the state
/// and `iss`.
async fn callback(h: &Harness, response: reqwest::Response, session: &str) -> Callback {
    let consented = response.status() == StatusCode::OK;
    let response = if consented {
        let page = consent_page(response).await;
        h.decide_consent(&page, session, "allow").await
    } else {
        response
    };
    let expected = if consented {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    assert_eq!(response.status(), expected);
    let url = location(&response);
    assert!(url.as_str().starts_with(REDIRECT_URI), "{url}");
    assert_eq!(query(&url, "error"), None, "{url}");
    assert_eq!(query(&url, "iss").as_deref(), Some(h.issuer.as_str()));
    Callback {
        code: query(&url, "code").expect("code in the redirect"),
        state: query(&url, "state").expect("state in the redirect"),
        consented,
    }
}

/// A browser with no session follows the authorization URL through the
/// login form and back.
async fn authorize_anonymously(h: &Harness, auth_url: &Url) -> Callback {
    let auth_url = auth_url.as_str();
    // 1. The authorization endpoint sends an anonymous browser to log in.
    let response = h.http.get(auth_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let to_login = location(&response).to_string();
    let to_login_url = Url::parse(&to_login).unwrap();
    assert_eq!(
        to_login.split('?').next(),
        Some(h.url("/login").as_str()),
        "{to_login}"
    );
    assert_eq!(
        query(&to_login_url, "rd").as_deref(),
        Some(auth_url),
        "rd must be the authorization request itself"
    );

    // 2. The login form carries the same rd and a CSRF token; 3. posting
    // it logs in and returns to rd; 4. the authorization request again, now
    // with the session: the code.
    let (rd, session, response) = h.log_in_and_return(&to_login, None).await;
    assert_eq!(rd, auth_url);
    callback(h, response, &session).await
}

/// A browser that already has `session` follows the authorization URL.
async fn authorize_with_session(h: &Harness, auth_url: &Url, session: &str) -> Callback {
    let response = h
        .http
        .get(auth_url.as_str())
        .header(COOKIE, session_cookie(session))
        .send()
        .await
        .unwrap();
    callback(h, response, session).await
}

/// What the relying party keeps from its authorization request.
struct Sent {
    csrf: CsrfToken,
    nonce: Nonce,
    pkce: PkceCodeVerifier,
}

/// The relying party's side after the callback: state check, code exchange,
/// ID token verification with the crate's own verifier, userinfo.
async fn redeem_and_verify(
    h: &Harness,
    http: &rp_reqwest::Client,
    (party, client): (Party, &Rp),
    callback: Callback,
    sent: &Sent,
    algorithm: &CoreJwsSigningAlgorithm,
) {
    let Sent { csrf, nonce, pkce } = sent;
    assert_eq!(&callback.state, csrf.secret(), "state must round-trip");
    let before = unix_now();
    let tokens = client
        .exchange_code(AuthorizationCode::new(callback.code.clone()))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(pkce.secret().clone()))
        .request_async(http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
    let scopes: Vec<String> = tokens
        .scopes()
        .expect("scope in the token response")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["openid", "profile", "email"]);
    let expires_in = tokens.expires_in().expect("expires_in").as_secs();
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");

    // The ID token, verified by openidconnect against the discovered JWKS.
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims: &CoreIdTokenClaims = id_token
        .claims(&verifier, nonce)
        .unwrap_or_else(|e| panic!("ID token rejected: {e:?}"));
    assert_eq!(claims.issuer().as_str(), h.issuer);
    assert_eq!(
        claims
            .audiences()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        [party.client_id]
    );
    assert_eq!(claims.subject().as_str(), USERNAME);
    assert_eq!(
        claims.nonce().map(|n| n.secret().as_str()),
        Some(nonce.secret().as_str())
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Alice Example")
    );
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some(USERNAME)
    );
    let auth_time = claims.auth_time().expect("auth_time").timestamp();
    assert!(
        (before - 60..=unix_now()).contains(&auth_time),
        "auth_time {auth_time} is not recent"
    );
    let issued = claims.issue_time().timestamp();
    assert!(
        auth_time <= issued,
        "auth_time {auth_time} after iat {issued}"
    );
    let lifetime = claims.expiration().timestamp() - issued;
    assert_eq!(lifetime, 3600);

    // The token names its key, and that key is in the published JWKS.
    assert_eq!(id_token.signing_alg().unwrap(), algorithm);
    let key = id_token.signing_key(&verifier).unwrap();
    let kid = key.key_id().expect("the signing key has a kid").as_str();
    // at_hash binds the access token to the ID token (Core 3.1.3.6).
    let expected_hash =
        AccessTokenHash::from_token(tokens.access_token(), id_token.signing_alg().unwrap(), key)
            .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    let jwt = id_token.to_string();
    assert_eq!(jwt_header(&jwt)["kid"], kid);
    let jwks = h.jwks().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&kid), "kid {kid} not in JWKS {kids:?}");

    // The verification really checks the signature: a token whose signature
    // is altered, or whose nonce is not ours, is refused.
    let forged = CoreIdToken::from_str(&with_altered_signature(&jwt)).unwrap();
    assert!(
        forged.claims(&verifier, nonce).is_err(),
        "a forged signature was accepted"
    );
    assert!(
        id_token
            .claims(&verifier, &Nonce::new("another-nonce".to_owned()))
            .is_err(),
        "a foreign nonce was accepted"
    );

    // Userinfo with the access token, checked against the ID token's sub.
    let userinfo: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(http)
        .await
        .unwrap_or_else(|e| panic!("userinfo failed: {e:?}"));
    assert_eq!(userinfo.subject().as_str(), USERNAME);
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(
        userinfo.preferred_username().map(|u| u.as_str()),
        Some(USERNAME)
    );
    assert_eq!(
        userinfo
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Alice Example")
    );

    // The code is single-use: the relying party cannot redeem it twice.
    let again = client
        .exchange_code(AuthorizationCode::new(callback.code))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(pkce.secret().clone()))
        .request_async(http)
        .await;
    assert!(again.is_err(), "a code was redeemed twice");
}

/// `offline_access`: the code exchange returns a refresh token, which the
/// relying party exchanges for new tokens (a rotated refresh token, an ID
/// token for the same user without a nonce); the used one is then refused.
async fn refresh_and_verify(
    http: &rp_reqwest::Client,
    client: &Rp,
    callback: Callback,
    sent: &Sent,
) {
    let tokens = client
        .exchange_code(AuthorizationCode::new(callback.code))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(sent.pkce.secret().clone()))
        .request_async(http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
    let verifier = client.id_token_verifier();
    let first = tokens
        .id_token()
        .unwrap()
        .claims(&verifier, &sent.nonce)
        .unwrap()
        .clone();
    let refresh_token = tokens
        .refresh_token()
        .expect("a refresh token for offline_access")
        .clone();

    let refreshed = client
        .exchange_refresh_token(&refresh_token)
        .unwrap()
        .request_async(http)
        .await
        .unwrap_or_else(|e| panic!("refresh failed: {e:?}"));
    let rotated = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(rotated.secret(), refresh_token.secret());
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    // OpenID Connect Core 12.2: same issuer, subject, audience and
    // auth_time; no nonce.
    let no_nonce = |nonce: Option<&Nonce>| match nonce {
        None => Ok(()),
        Some(_) => Err("a refreshed ID token must not carry a nonce".to_owned()),
    };
    let claims = refreshed
        .id_token()
        .expect("an ID token on refresh")
        .claims(&verifier, no_nonce)
        .unwrap_or_else(|e| panic!("refreshed ID token rejected: {e:?}"));
    assert_eq!(claims.subject(), first.subject());
    assert_eq!(claims.audiences(), first.audiences());
    assert_eq!(claims.auth_time(), first.auth_time());
    let userinfo: CoreUserInfoClaims = client
        .user_info(
            refreshed.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(http)
        .await
        .unwrap_or_else(|e| panic!("userinfo with the refreshed token failed: {e:?}"));
    assert_eq!(userinfo.subject().as_str(), USERNAME);

    // The used refresh token is refused, and its replay ends the family.
    let reused = client
        .exchange_refresh_token(&refresh_token)
        .unwrap()
        .request_async(http)
        .await;
    assert!(reused.is_err(), "a rotated refresh token was accepted");
    let after_reuse = client
        .exchange_refresh_token(&RefreshToken::new(rotated.secret().clone()))
        .unwrap()
        .request_async(http)
        .await;
    assert!(
        after_reuse.is_err(),
        "the family outlived the reuse of one of its tokens"
    );
}

/// One relying party, three logins: through the login form as an anonymous
/// browser, then with an existing session cookie, then once more asking for
/// `offline_access` to exercise refresh. A client that needs consent shows
/// the consent page the first time and for `offline_access` (more than was
/// approved), not in between; an implicit client never does.
async fn full_flow(
    h: Harness,
    party: Party,
    auth_type: AuthType,
    algorithm: CoreJwsSigningAlgorithm,
) {
    let needs_consent = h
        .service
        .client(party.client_id)
        .is_some_and(|client| client.consent == porthor_models::Consent::Required);
    let http = rp_http();
    let metadata = discover(&h, &http).await;
    let client: Rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(party.client_id.to_owned()),
        Some(ClientSecret::new(party.secret.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap())
    .set_auth_type(auth_type);

    // PKCE (S256) on every request, as OAuth 2.1 clients do.
    let authorization_url_with = |extra: Option<&str>| {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".to_owned()))
            .add_scope(Scope::new("email".to_owned()))
            .add_scopes(extra.map(|scope| Scope::new(scope.to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        (
            url,
            Sent {
                csrf,
                nonce,
                pkce: verifier,
            },
        )
    };

    let authorization_url = || authorization_url_with(None);
    let (url, sent) = authorization_url();
    assert_eq!(
        query(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query(&url, "client_id").as_deref(), Some(party.client_id));
    assert_eq!(
        query(&url, "scope").as_deref(),
        Some("openid profile email")
    );
    let returned = authorize_anonymously(&h, &url).await;
    assert_eq!(returned.consented, needs_consent);
    redeem_and_verify(&h, &http, (party, &client), returned, &sent, &algorithm).await;

    let session = h.login().await;
    let (url, sent) = authorization_url();
    let returned = authorize_with_session(&h, &url, &session).await;
    assert!(!returned.consented, "asked again for what was approved");
    redeem_and_verify(&h, &http, (party, &client), returned, &sent, &algorithm).await;

    let (url, sent) = authorization_url_with(Some("offline_access"));
    let returned = authorize_with_session(&h, &url, &session).await;
    assert_eq!(returned.consented, needs_consent);
    refresh_and_verify(&http, &client, returned, &sent).await;
}

/// On Redis, RS256, client_secret_basic (the crate's default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openidconnect_rp_on_redis_with_rs256() {
    let h = Harness::start_with(Options {
        algorithm: SigningAlgorithm::Rs256,
        ..Options::new(StoreKind::Redis)
    })
    .await;
    full_flow(
        h,
        IMPLICIT,
        AuthType::BasicAuth,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    )
    .await;
}

/// In memory, ES256, client_secret_post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openidconnect_rp_on_memory_with_es256() {
    let h = Harness::start(StoreKind::Memory).await;
    full_flow(
        h,
        IMPLICIT,
        AuthType::RequestBody,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    )
    .await;
}

/// A client with `consent = "required"`, on Redis: the relying party's
/// flow completes through the consent page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openidconnect_rp_through_the_consent_page() {
    let h = Harness::start(StoreKind::Redis).await;
    full_flow(
        h,
        CONSENTING,
        AuthType::BasicAuth,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    )
    .await;
}
