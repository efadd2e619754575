//! The built-in demo relying party under `/demo/`: a newcomer's first
//! login, end to end, in a browser.
//!
//! It is a client like any other, registered for it (`DemoClient`), and
//! reaches the provider the way a real relying party does: over HTTP, at
//! the issuer's public URL, through the `openidconnect` crate. Discovery
//! and the JWKS come from the published documents, the authorization-code
//! flow runs with PKCE S256, state and nonce, the ID token's signature is
//! checked against the JWKS, and logout goes through the RP-initiated
//! logout endpoint named in discovery. So the demo shows what any relying
//! party would see, and it must not know the provider's insides: it never
//! calls `porthor-oidc` and shares nothing with the handlers but the page
//! templates.
//!
//! The browser holds the flow's state in one cookie, `HttpOnly`,
//! `SameSite=Lax`, under `/demo/`, for ten minutes: first the state, nonce
//! and PKCE verifier of the request in flight, then the refresh token and
//! ID token (for the refresh and the logout hint). A demo has no users of
//! its own and nothing to protect beyond what that browser already holds.

use std::time::Duration;

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minijinja::context;
use openidconnect::core::{
    CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse as _, reqwest,
};
use serde::{Deserialize, Serialize};

use crate::{AppState, html};

/// The demo's routes, under the issuer's path.
pub(crate) const HOME: &str = "/demo/";
const LOGIN: &str = "/demo/login";
const CALLBACK: &str = "/demo/callback";
const REFRESH: &str = "/demo/refresh";
const COOKIE: &str = "porthor_demo";
/// How long the browser keeps the demo's cookie.
const COOKIE_MINUTES: i64 = 10;

/// The demo relying party's registration at this provider.
#[derive(Clone)]
pub struct DemoClient {
    /// Its client id.
    pub client_id: String,
    /// Its secret, in clear (it authenticates with it like any client).
    pub client_secret: String,
}

impl std::fmt::Debug for DemoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl DemoClient {
    /// Where the demo receives codes, for the issuer `issuer`.
    pub fn redirect_uri(issuer: &str) -> String {
        format!("{}{CALLBACK}", issuer.trim_end_matches('/'))
    }

    /// Where the demo asks to land after logging out.
    pub fn post_logout_redirect_uri(issuer: &str) -> String {
        format!("{}{HOME}", issuer.trim_end_matches('/'))
    }
}

/// What the demo's cookie holds between requests.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Held {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a demo step failed: shown on the demo's page, in English (it is
/// for developers: an HTTP error, a refused token).
type Failure = String;

fn issuer(state: &AppState) -> String {
    state.service.openid_configuration().issuer.clone()
}

/// The demo's HTTP client. Like any relying party's, it follows no
/// redirects.
fn http() -> Result<reqwest::Client, Failure> {
    reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|error| format!("cannot build an HTTP client: {error}"))
}

/// Discovery (with the JWKS) and the client built on it.
async fn discover(
    state: &AppState,
    demo: &DemoClient,
    http: &reqwest::Client,
) -> Result<(CoreProviderMetadata, Client), Failure> {
    let issuer = issuer(state);
    let issuer_url = IssuerUrl::new(issuer.clone()).map_err(|error| error.to_string())?;
    let metadata = CoreProviderMetadata::discover_async(issuer_url, http)
        .await
        .map_err(|error| format!("discovery failed: {error}"))?;
    let redirect =
        RedirectUrl::new(DemoClient::redirect_uri(&issuer)).map_err(|error| error.to_string())?;
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(demo.client_id.clone()),
        Some(ClientSecret::new(demo.client_secret.clone())),
    )
    .set_redirect_uri(redirect);
    Ok((metadata, client))
}

fn read_cookie(req: &HttpRequest) -> Held {
    req.cookie(COOKIE)
        .and_then(|cookie| URL_SAFE_NO_PAD.decode(cookie.value()).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn cookie(state: &AppState, held: &Held) -> Cookie<'static> {
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(held).unwrap_or_default());
    Cookie::build(COOKIE, value)
        .path(state.path(HOME))
        .http_only(true)
        .secure(issuer(state).starts_with("https://"))
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::minutes(COOKIE_MINUTES))
        .finish()
}

fn page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    name: &str,
    values: minijinja::Value,
    held: Option<&Held>,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if let Some(held) = held {
        response.cookie(cookie(state, held));
    }
    html::render(state, req, &mut response, name, values)
}

fn failed(state: &AppState, req: &HttpRequest, failure: &str) -> HttpResponse {
    tracing::info!(failure, "demo relying party: a step failed");
    let values = context! { error => failure, start_url => state.path(LOGIN) };
    page(
        state,
        req,
        StatusCode::BAD_GATEWAY,
        "demo.html",
        values,
        None,
    )
}

/// `GET /demo/`: what the demo does, and a button to start.
pub(crate) async fn home(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let values = context! { start_url => state.path(LOGIN) };
    page(&state, &req, StatusCode::OK, "demo.html", values, None)
}

/// `GET /demo/login`: a fresh authorization request (state, nonce, PKCE
/// S256), remembered in the cookie, and off to the authorization endpoint.
pub(crate) async fn login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(demo) = state.demo.as_ref() else {
        return HttpResponse::NotFound().finish();
    };
    let client = match http() {
        Ok(http) => discover(&state, demo, &http).await,
        Err(failure) => Err(failure),
    };
    let (_, client) = match client {
        Ok(found) => found,
        Err(failure) => return failed(&state, &req, &failure),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".to_owned()))
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let held = Held {
        state: Some(csrf.secret().clone()),
        nonce: Some(nonce.secret().clone()),
        verifier: Some(verifier.secret().clone()),
        ..Held::default()
    };
    HttpResponse::SeeOther()
        .cookie(cookie(&state, &held))
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The verified ID token's header and claims, and the userinfo answer,
/// as pretty JSON for the page.
struct Shown {
    header: String,
    claims: String,
    userinfo: String,
}

fn pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The JOSE header of a compact JWT, decoded (it was verified with the
/// token).
fn jwt_header(jwt: &str) -> String {
    jwt.split('.')
        .next()
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .map_or_else(String::new, |value| pretty(&value))
}

/// The token response checked as a relying party checks it: the ID token's
/// signature against the JWKS, issuer, audience, expiry and `nonce`; then
/// userinfo with the access token.
async fn verify(
    client: &Client,
    http: &reqwest::Client,
    tokens: &openidconnect::core::CoreTokenResponse,
    nonce: Option<&Nonce>,
) -> Result<Shown, Failure> {
    let id_token = tokens
        .id_token()
        .ok_or_else(|| "the token response has no ID token".to_owned())?;
    let verifier = client.id_token_verifier();
    let claims: &CoreIdTokenClaims = match nonce {
        Some(nonce) => id_token.claims(&verifier, nonce),
        // A refreshed ID token carries no nonce to check.
        None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    }
    .map_err(|error| format!("the ID token was refused: {error}"))?;
    let userinfo: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .map_err(|error| format!("no userinfo endpoint: {error}"))?
        .request_async(http)
        .await
        .map_err(|error| format!("userinfo failed: {error}"))?;
    Ok(Shown {
        header: jwt_header(&id_token.to_string()),
        claims: pretty(claims),
        userinfo: pretty(&userinfo),
    })
}

/// The claims page, with the refresh form and the logout link, and the
/// tokens it needs kept in the cookie.
async fn claims_page(
    state: &AppState,
    req: &HttpRequest,
    metadata_url: &str,
    http: &reqwest::Client,
    tokens: &openidconnect::core::CoreTokenResponse,
    shown: Shown,
    refreshed: bool,
) -> HttpResponse {
    let issuer = issuer(state);
    let id_token = tokens.id_token().map(ToString::to_string);
    // RP-initiated logout: the endpoint comes from discovery, as for any
    // relying party.
    let document = match http.get(metadata_url).send().await {
        Ok(response) => response.bytes().await.ok(),
        Err(_) => None,
    };
    let end_session = document
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|doc| {
            doc.get("end_session_endpoint")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        });
    let logout_url = end_session.and_then(|endpoint: String| {
        url::Url::parse_with_params(
            &endpoint,
            [
                ("id_token_hint", id_token.clone().unwrap_or_default()),
                (
                    "post_logout_redirect_uri",
                    DemoClient::post_logout_redirect_uri(&issuer),
                ),
            ],
        )
        .ok()
        .map(String::from)
    });
    let held = Held {
        refresh_token: tokens.refresh_token().map(|token| token.secret().clone()),
        id_token,
        ..Held::default()
    };
    let values = context! {
        header => shown.header,
        claims => shown.claims,
        userinfo => shown.userinfo,
        refreshed => refreshed,
        can_refresh => held.refresh_token.is_some(),
        refresh_url => state.path(REFRESH),
        logout_url => logout_url,
        start_url => state.path(LOGIN),
    };
    page(
        state,
        req,
        StatusCode::OK,
        "demo_claims.html",
        values,
        Some(&held),
    )
}

fn discovery_url(state: &AppState) -> String {
    format!(
        "{}{}",
        issuer(state).trim_end_matches('/'),
        porthor_oidc::DISCOVERY_PATH
    )
}

/// `GET /demo/callback`: checks `state` against the cookie, redeems the
/// code with the PKCE verifier, verifies the ID token and calls userinfo.
pub(crate) async fn callback(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(demo) = state.demo.as_ref() else {
        return HttpResponse::NotFound().finish();
    };
    let query = crate::params::Params::parse(req.query_string().as_bytes());
    let held = read_cookie(&req);
    let result = async {
        if let Some(error) = query.get("error") {
            let description = query.get("error_description").unwrap_or_default();
            return Err(format!("the provider answered {error}: {description}"));
        }
        let sent = held.state.as_deref().ok_or_else(|| {
            "this browser started no login (or its demo cookie expired)".to_owned()
        })?;
        let same = query.get("state").is_some_and(|got| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                got.as_bytes(),
                sent.as_bytes(),
            ))
        });
        if !same {
            return Err("the state does not match the login this browser started".to_owned());
        }
        let code = query
            .get("code")
            .ok_or_else(|| "the callback has no code".to_owned())?;
        let http = http()?;
        let (_, client) = discover(&state, demo, &http).await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| error.to_string())?
            .set_pkce_verifier(PkceCodeVerifier::new(
                held.verifier.clone().unwrap_or_default(),
            ))
            .request_async(&http)
            .await
            .map_err(|error| format!("the code exchange failed: {error}"))?;
        let nonce = Nonce::new(held.nonce.clone().unwrap_or_default());
        let shown = verify(&client, &http, &tokens, Some(&nonce)).await?;
        Ok::<_, Failure>((http, tokens, shown))
    }
    .await;
    match result {
        Ok((http, tokens, shown)) => {
            let metadata = discovery_url(&state);
            claims_page(&state, &req, &metadata, &http, &tokens, shown, false).await
        }
        Err(failure) => failed(&state, &req, &failure),
    }
}

/// `POST /demo/refresh`: the refresh-token grant with the token the cookie
/// holds; shows the new tokens. The cookie is `SameSite=Lax`, so another
/// site cannot make the browser post this with it.
pub(crate) async fn refresh(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(demo) = state.demo.as_ref() else {
        return HttpResponse::NotFound().finish();
    };
    let held = read_cookie(&req);
    let result = async {
        let token = held
            .refresh_token
            .clone()
            .ok_or_else(|| "this browser holds no refresh token".to_owned())?;
        let http = http()?;
        let (_, client) = discover(&state, demo, &http).await?;
        let tokens = client
            .exchange_refresh_token(&RefreshToken::new(token))
            .map_err(|error| error.to_string())?
            .request_async(&http)
            .await
            .map_err(|error| format!("the refresh failed: {error}"))?;
        let shown = verify(&client, &http, &tokens, None).await?;
        Ok::<_, Failure>((http, tokens, shown))
    }
    .await;
    match result {
        Ok((http, tokens, shown)) => {
            let metadata = discovery_url(&state);
            claims_page(&state, &req, &metadata, &http, &tokens, shown, true).await
        }
        Err(failure) => failed(&state, &req, &failure),
    }
}
