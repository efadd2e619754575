//! The built-in demo relying party under `/demo/`: an application that logs
//! in with Porthor exactly as any other would, so that a newcomer sees a
//! whole login end on a page of claims.
//!
//! It is a client of its own (registered by the binary), and it talks to
//! Porthor only through the protocol: the browser goes to the authorization
//! endpoint with PKCE (S256), `state` and `nonce`; the callback redeems the
//! code at the token endpoint over HTTP (`backchannel`), verifies the ID
//! token's signature against the JWKS fetched over HTTP (with
//! `porthor_oidc::JwksVerifier`, the relying party's verifier, not the
//! provider's signer) and its `iss`, `aud`, `nonce` and `exp`, and reads
//! userinfo. The claims page offers a refresh (the refresh-token grant) and
//! a logout (RP-initiated logout with `id_token_hint`).
//!
//! What it holds between pages (the login under way, then the tokens) is
//! sealed in one cookie (`sealed`) under a key derived from the store key,
//! so any replica can carry on a demo another started; the tokens are never
//! shown, logged or readable by the browser. Every failure ends on an
//! error page saying what happened and offering a new start.
//!
//! It must not reach into the service: a shortcut around HTTP would demo
//! something no real application can do.

mod backchannel;
mod sealed;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minijinja::context;
use porthor_models::Timestamp;
use porthor_oidc::{
    AUTHORIZATION_PATH, END_SESSION_PATH, Expected, Issuer, JwksVerifier, SigningAlgorithm,
    VerifiedJwt,
};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use self::backchannel::{Backchannel, CallError, Tokens};
use self::sealed::{CookieCipher, DemoCookie, Pending, Session, random_token};
use crate::limits::FormBody;
use crate::params::Params;
use crate::ui::ErrorKindKey;
use crate::{AppState, State, html};

/// Where the demo starts a login, under the issuer's path.
pub(crate) const START_PATH: &str = "/demo/start";
/// Where the demo receives the authorization response.
pub const DEMO_CALLBACK_PATH: &str = "/demo/callback";
/// Where RP-initiated logout sends the browser back to.
pub const DEMO_LOGGED_OUT_PATH: &str = "/demo/logged-out";
const CLAIMS_PATH: &str = "/demo/claims";
const REFRESH_PATH: &str = "/demo/refresh";
const LOGOUT_PATH: &str = "/demo/logout";

/// What the demo asks for: everything Porthor releases, and a refresh token.
const SCOPE: &str = "openid profile email groups offline_access";
/// How long a started login may take to come back to the callback.
const PENDING_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long the demo keeps its tokens in the browser.
const SESSION_LIFETIME: Duration = Duration::from_secs(3600);

/// The demo relying party's registration: the client it logs in as, and
/// the key its cookie is sealed under.
#[derive(Clone)]
pub struct DemoConfig {
    /// The demo's client id, registered with [`demo_redirect_uri`] and
    /// [`demo_post_logout_redirect_uri`].
    pub client_id: String,
    /// The client's secret, for `client_secret_basic` at the token
    /// endpoint.
    pub client_secret: String,
    /// The AES-256-GCM key of the demo's cookie. The same on every replica
    /// (the binary derives it from the store key), so that a login started
    /// on one finishes on another.
    pub cookie_key: [u8; 32],
}

/// Never the secret or the key.
impl fmt::Debug for DemoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoConfig")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The redirect URI the demo's client must be registered with.
pub fn demo_redirect_uri(issuer: &Issuer) -> String {
    issuer.endpoint(DEMO_CALLBACK_PATH)
}

/// The post-logout redirect URI the demo's client must be registered with.
pub fn demo_post_logout_redirect_uri(issuer: &Issuer) -> String {
    issuer.endpoint(DEMO_LOGGED_OUT_PATH)
}

/// The running demo.
#[derive(Debug)]
pub(crate) struct Demo {
    client_id: String,
    cipher: CookieCipher,
    backchannel: Backchannel,
    redirect_uri: String,
    post_logout_redirect_uri: String,
    /// The algorithms discovery says ID tokens are signed with.
    algorithms: Vec<SigningAlgorithm>,
}

impl Demo {
    /// The demo of the server bound to `local_addr`, under `base_path`.
    pub(crate) fn new(
        config: &DemoConfig,
        issuer: &Issuer,
        algorithms: &[String],
        local_addr: SocketAddr,
        base_path: &str,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client_id: config.client_id.clone(),
            cipher: CookieCipher::new(&config.cookie_key),
            backchannel: Backchannel::new(
                local_addr,
                base_path,
                &config.client_id,
                &config.client_secret,
            )?,
            redirect_uri: demo_redirect_uri(issuer),
            post_logout_redirect_uri: demo_post_logout_redirect_uri(issuer),
            algorithms: algorithms
                .iter()
                .filter_map(|alg| SigningAlgorithm::parse(alg))
                .collect(),
        })
    }
}

/// The demo's routes, when it runs.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/demo", "/demo/"]).get(index))
        .service(web::resource(START_PATH).get(start))
        .service(web::resource(DEMO_CALLBACK_PATH).get(callback))
        .service(web::resource(CLAIMS_PATH).get(claims))
        .service(web::resource(REFRESH_PATH).post(refresh))
        .service(web::resource(LOGOUT_PATH).post(logout))
        .service(web::resource(DEMO_LOGGED_OUT_PATH).get(logged_out));
}

/// What went wrong, for the error page.
struct Failure {
    kind: ErrorKindKey,
    status: StatusCode,
    code: String,
    description: String,
}

impl Failure {
    fn new(
        kind: ErrorKindKey,
        status: StatusCode,
        code: &str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            status,
            code: code.to_owned(),
            description: description.into(),
        }
    }

    /// No demo cookie, or one that expired or does not open.
    fn expired() -> Self {
        Self::new(
            ErrorKindKey::DemoExpired,
            StatusCode::BAD_REQUEST,
            "expired",
            "this browser holds no demo login, or it expired",
        )
    }

    fn call(error: &CallError) -> Self {
        let status = match error {
            CallError::Refused { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        };
        Self::new(
            ErrorKindKey::DemoFailed,
            status,
            error.code().unwrap_or("server_error"),
            error.to_string(),
        )
    }

    fn id_token(error: &porthor_oidc::SignerError) -> Self {
        Self::new(
            ErrorKindKey::DemoFailed,
            StatusCode::BAD_GATEWAY,
            "invalid_id_token",
            format!("the ID token was refused: {error}"),
        )
    }
}

/// The error page for `failure`, which also ends the demo's cookie.
fn failed(state: &AppState, req: &HttpRequest, failure: &Failure) -> HttpResponse {
    tracing::info!(
        outcome = "failed",
        code = %failure.code,
        reason = %failure.description,
        "demo login failed"
    );
    let mut response = HttpResponse::build(failure.status);
    response.cookie(state.cookies.demo_removal());
    html::render(
        state,
        req,
        &mut response,
        "error.html",
        context! {
            kind => failure.kind.key(),
            description => &failure.description,
            code => &failure.code,
            retry_url => url(state, START_PATH),
        },
    )
}

fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

fn demo(state: &AppState) -> Option<&Demo> {
    state.demo.as_deref()
}

/// The absolute URL of the demo's `path` under the issuer. The demo sends
/// the browser to the issuer's own name, where the callback comes back
/// to, so that its cookie is set and read on one host.
pub(crate) fn url(state: &AppState, path: &str) -> String {
    state.service.issuer().endpoint(path)
}

/// The demo's cookie, opened, if the browser sent a live one.
fn cookie(state: &AppState, demo: &Demo, req: &HttpRequest, now: Timestamp) -> Option<DemoCookie> {
    let text = state.cookies.demo(req)?;
    demo.cipher.open(state.cookies.demo_name(), &text, now)
}

/// Sets `value` as the demo's cookie on `response`, then sends it on to
/// `location`.
fn seal_and_go(
    state: &AppState,
    req: &HttpRequest,
    demo: &Demo,
    value: &DemoCookie,
    lifetime: Duration,
    location: &str,
) -> HttpResponse {
    let Some(sealed) = demo.cipher.seal(state.cookies.demo_name(), value) else {
        let failure = Failure::new(
            ErrorKindKey::DemoFailed,
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "the demo could not seal its cookie",
        );
        return failed(state, req, &failure);
    };
    see_other(location)
        .cookie(state.cookies.new_demo(sealed, lifetime))
        .finish()
}

/// `GET /demo/`: straight to a new login.
async fn index(state: State) -> HttpResponse {
    see_other(&url(&state, START_PATH)).finish()
}

/// `GET /demo/start`: a new login. Makes the state, nonce and PKCE
/// verifier, binds them to this browser in the sealed cookie, and sends the
/// browser to the authorization endpoint.
async fn start(state: State, req: HttpRequest) -> HttpResponse {
    let Some(demo) = demo(&state) else {
        return HttpResponse::NotFound().finish();
    };
    let now = state.clock.now();
    let pending = Pending {
        state: random_token(),
        nonce: random_token(),
        verifier: random_token(),
        expires: now.after(PENDING_LIFETIME),
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &demo.client_id)
        .append_pair("redirect_uri", &demo.redirect_uri)
        .append_pair("scope", SCOPE)
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let location = format!(
        "{}?{query}",
        state.service.issuer().endpoint(AUTHORIZATION_PATH)
    );
    seal_and_go(
        &state,
        &req,
        demo,
        &DemoCookie::Pending(pending),
        PENDING_LIFETIME,
        &location,
    )
}

/// `GET /demo/callback`: the authorization response. Checks it against
/// the browser's pending login, redeems the code over HTTP and verifies the
/// ID token, then keeps the tokens and shows the claims.
async fn callback(state: State, req: HttpRequest) -> HttpResponse {
    let Some(demo) = demo(&state) else {
        return HttpResponse::NotFound().finish();
    };
    to_claims(&state, &req, demo, redeem(&state, demo, &req).await)
}

async fn redeem(state: &AppState, demo: &Demo, req: &HttpRequest) -> Result<Session, Failure> {
    let now = state.clock.now();
    let params = Params::parse(req.query_string().as_bytes());
    if let Some(name) = params.repeated(&["code", "state", "error", "iss"]) {
        return Err(Failure::new(
            ErrorKindKey::DemoFailed,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the callback repeats its {name} parameter"),
        ));
    }
    // A callback is good once: the pending login is consumed whatever
    // happens next (`failed` removes the cookie, success replaces it).
    let Some(DemoCookie::Pending(pending)) = cookie(state, demo, req, now) else {
        return Err(Failure::expired());
    };
    let sent_state = params.get("state").unwrap_or_default();
    if !bool::from(sent_state.as_bytes().ct_eq(pending.state.as_bytes())) {
        return Err(Failure::new(
            ErrorKindKey::DemoState,
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "the callback's state is not the one this browser's login sent",
        ));
    }
    // RFC 9207: the response names its issuer; a mix-up would name another.
    let issuer = state.service.issuer().as_str();
    if params.get("iss").is_some_and(|iss| iss != issuer) {
        return Err(Failure::new(
            ErrorKindKey::DemoFailed,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the callback's iss is not this provider",
        ));
    }
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .unwrap_or("the login did not complete");
        let kind = if error == "access_denied" {
            ErrorKindKey::DemoDenied
        } else {
            ErrorKindKey::DemoFailed
        };
        return Err(Failure::new(
            kind,
            StatusCode::BAD_REQUEST,
            error,
            description,
        ));
    }
    let Some(code) = params.get("code") else {
        return Err(Failure::new(
            ErrorKindKey::DemoFailed,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the callback has no code",
        ));
    };
    let tokens = demo
        .backchannel
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &demo.redirect_uri),
            ("code_verifier", &pending.verifier),
        ])
        .await
        .map_err(|error| Failure::call(&error))?;
    let Tokens {
        access_token,
        id_token: Some(id_token),
        refresh_token,
    } = tokens
    else {
        return Err(Failure::new(
            ErrorKindKey::DemoFailed,
            StatusCode::BAD_GATEWAY,
            "invalid_id_token",
            "the token endpoint returned no ID token",
        ));
    };
    verify(state, demo, &id_token, Some(&pending.nonce), now).await?;
    tracing::info!(outcome = "success", "demo login completed");
    Ok(Session {
        id_token,
        access_token,
        refresh_token,
        nonce: Some(pending.nonce),
        refreshes: 0,
        form_token: random_token(),
        expires: now.after(SESSION_LIFETIME),
    })
}

/// Fetches the JWKS over HTTP and verifies `id_token` against it, as an
/// application verifies the ID tokens it receives.
async fn verify(
    state: &AppState,
    demo: &Demo,
    id_token: &str,
    nonce: Option<&str>,
    now: Timestamp,
) -> Result<VerifiedJwt, Failure> {
    let jwks = demo
        .backchannel
        .jwks()
        .await
        .map_err(|error| Failure::call(&error))?;
    let verifier = JwksVerifier::from_json(&jwks, &demo.algorithms)
        .map_err(|error| Failure::id_token(&error))?;
    let expected = Expected {
        issuer: state.service.issuer().as_str(),
        audience: &demo.client_id,
        now: now.as_unix(),
        // The provider is this process, on the same clock.
        leeway: 0,
        nonce,
    };
    verifier
        .verify(id_token, &expected)
        .map_err(|error| Failure::id_token(&error))
}

/// The claims page with `session` (a login's or a refresh's) in the demo's
/// cookie, or the page of what failed.
fn to_claims(
    state: &AppState,
    req: &HttpRequest,
    demo: &Demo,
    session: Result<Session, Failure>,
) -> HttpResponse {
    match session {
        Ok(session) => seal_and_go(
            state,
            req,
            demo,
            &DemoCookie::Session(session),
            SESSION_LIFETIME,
            &url(state, CLAIMS_PATH),
        ),
        Err(failure) => failed(state, req, &failure),
    }
}

/// The demo's session, or the failure of a browser without one.
fn session(state: &AppState, demo: &Demo, req: &HttpRequest) -> Result<Session, Failure> {
    match cookie(state, demo, req, state.clock.now()) {
        Some(DemoCookie::Session(session)) => Ok(session),
        _ => Err(Failure::expired()),
    }
}

/// `GET /demo/claims`: what the application received, verified afresh on
/// every visit: the ID token's header and claims, and userinfo's answer.
async fn claims(state: State, req: HttpRequest) -> HttpResponse {
    let Some(demo) = demo(&state) else {
        return HttpResponse::NotFound().finish();
    };
    let now = state.clock.now();
    let session = match session(&state, demo, &req) {
        Ok(session) => session,
        Err(failure) => return failed(&state, &req, &failure),
    };
    let verified = match verify(
        &state,
        demo,
        &session.id_token,
        session.nonce.as_deref(),
        now,
    )
    .await
    {
        Ok(verified) => verified,
        Err(failure) => return failed(&state, &req, &failure),
    };
    let userinfo = demo.backchannel.userinfo(&session.access_token).await;
    let (userinfo, userinfo_error) = match userinfo {
        Ok(answer) => (Some(rows(&answer)), None),
        // Shown on the page rather than failing it: an expired access
        // token is what a refresh is for.
        Err(error) => (None, Some(error.to_string())),
    };
    let header = serde_json::to_string_pretty(&Value::Object(verified.header)).unwrap_or_default();
    html::render(
        &state,
        &req,
        &mut HttpResponse::Ok(),
        "demo.html",
        context! {
            client_id => &demo.client_id,
            header => header,
            claims => rows(&verified.claims),
            kid => verified.kid,
            alg => verified.algorithm.as_str(),
            jwks_url => &state.service.openid_configuration().jwks_uri,
            userinfo => userinfo,
            userinfo_error => userinfo_error,
            refreshes => session.refreshes,
            refreshable => session.refresh_token.is_some(),
            form_token => &session.form_token,
            refresh_action => url(&state, REFRESH_PATH),
            logout_action => url(&state, LOGOUT_PATH),
        },
    )
}

/// A JSON object as (name, value) rows for a table: strings as they are,
/// anything else as compact JSON.
fn rows(object: &Map<String, Value>) -> Vec<(String, String)> {
    object
        .iter()
        .map(|(name, value)| {
            let shown = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The session of a posted form from the claims page, whose form token
/// must match.
fn posted_session(
    state: &AppState,
    demo: &Demo,
    req: &HttpRequest,
    body: &FormBody,
) -> Result<Session, Failure> {
    let session = session(state, demo, req)?;
    let form = Params::parse(body);
    let sent = form.get("form_token").unwrap_or_default();
    if !bool::from(sent.as_bytes().ct_eq(session.form_token.as_bytes())) {
        return Err(Failure::new(
            ErrorKindKey::DemoExpired,
            StatusCode::FORBIDDEN,
            "invalid_request",
            "the form did not come from this browser's claims page",
        ));
    }
    Ok(session)
}

/// `POST /demo/refresh`: the refresh-token grant, over HTTP; the new
/// tokens replace the old, and the claims page shows them.
async fn refresh(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let Some(demo) = demo(&state) else {
        return HttpResponse::NotFound().finish();
    };
    let now = state.clock.now();
    let result = async {
        let mut session = posted_session(&state, demo, &req, &body)?;
        let Some(refresh_token) = session.refresh_token.clone() else {
            return Err(Failure::new(
                ErrorKindKey::DemoFailed,
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the demo holds no refresh token",
            ));
        };
        let tokens = demo
            .backchannel
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
            ])
            .await
            .map_err(|error| Failure::call(&error))?;
        if let Some(id_token) = tokens.id_token {
            // OpenID Connect Core 12.2: a refreshed ID token carries no
            // nonce; its signature, issuer, audience and expiry still count.
            verify(&state, demo, &id_token, None, now).await?;
            session.id_token = id_token;
            session.nonce = None;
        }
        session.access_token = tokens.access_token;
        // Porthor rotates refresh tokens: the old one is spent.
        session.refresh_token = tokens.refresh_token.or(Some(refresh_token));
        session.refreshes = session.refreshes.saturating_add(1);
        session.expires = now.after(SESSION_LIFETIME);
        Ok(session)
    }
    .await;
    to_claims(&state, &req, demo, result)
}

/// `POST /demo/logout`: forgets the tokens and sends the browser to the
/// end_session endpoint with the ID token as a hint, which ends the
/// provider's session too and comes back to [`DEMO_LOGGED_OUT_PATH`].
async fn logout(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let Some(demo) = demo(&state) else {
        return HttpResponse::NotFound().finish();
    };
    let session = match posted_session(&state, demo, &req, &body) {
        Ok(session) => session,
        Err(failure) => return failed(&state, &req, &failure),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &session.id_token)
        .append_pair("post_logout_redirect_uri", &demo.post_logout_redirect_uri)
        .finish();
    let location = format!(
        "{}?{query}",
        state.service.issuer().endpoint(END_SESSION_PATH)
    );
    see_other(&location)
        .cookie(state.cookies.demo_removal())
        .finish()
}

/// `GET /demo/logged-out`: where RP-initiated logout comes back to.
async fn logged_out(state: State, req: HttpRequest) -> HttpResponse {
    html::render(
        &state,
        &req,
        &mut HttpResponse::Ok(),
        "demo_logged_out.html",
        context! {
            start_url => url(&state, START_PATH),
            home_url => url(&state, "/"),
        },
    )
}
