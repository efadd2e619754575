//! The protocol as a browser and a relying party drive it: logging in
//! through the real form, the full authorization-code flow, and refreshing
//! (rotating the refresh token, then userinfo with the new access token),
//! with every answer checked (status, state, code, ID token signature,
//! issuer, nonce, audience and subject, userinfo subject, a new refresh
//! token on each rotation).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use porthor_signer::Signer;
use serde::Deserialize;
use serde_json::Value;

use super::http::{Conn, Response};

pub const LOGIN_PATH: &str = "/login";
pub const AUTHORIZE_PATH: &str = "/auth/openid/login";
pub const TOKEN_PATH: &str = "/auth/openid/token";
pub const USERINFO_PATH: &str = "/auth/openid/userinfo";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

const COOKIE: &str = "cookie";
const AUTHORIZATION: &str = "authorization";

const CSRF_COOKIE: &str = "porthor_csrf";
const SESSION_COOKIE: &str = "porthor_session";

/// The server under test and the one client registered on it.
#[derive(Debug)]
pub struct Target {
    pub issuer: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// `Basic base64(client_id:client_secret)`, each half form-urlencoded.
    pub basic_auth: String,
    /// The authorization request up to `&state=`.
    authorize_prefix: String,
    /// The same with `offline_access` too, for a refresh token.
    offline_authorize_prefix: String,
    /// `&redirect_uri=...` for the token request.
    redirect_param: String,
    /// Verifies ID tokens: the server's own key.
    signer: Arc<Signer>,
}

impl Target {
    pub fn new(
        address: SocketAddr,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        signer: Arc<Signer>,
    ) -> Self {
        let credentials = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
        let redirect = form_encode(redirect_uri);
        let authorize_prefix = format!(
            "{AUTHORIZE_PATH}?response_type=code&client_id={}&redirect_uri={redirect}\
             &scope=openid%20profile%20email",
            form_encode(client_id)
        );
        Self {
            issuer: format!("http://{address}"),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            basic_auth: format!("Basic {}", STANDARD.encode(credentials)),
            offline_authorize_prefix: format!("{authorize_prefix}%20offline_access"),
            authorize_prefix,
            redirect_param: format!("&redirect_uri={redirect}"),
            signer,
        }
    }
}

/// A logged-in browser: a user and its session cookie.
#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    /// `porthor_session=<value>`, ready for a `Cookie` header.
    pub cookie: String,
}

#[cfg(test)]
impl Session {
    /// A session with a cookie no server issued.
    pub fn for_test(username: &str) -> Self {
        Self {
            username: username.to_owned(),
            cookie: format!("{SESSION_COOKIE}=none"),
        }
    }
}

/// An ID token whose checks are left until the load has stopped.
///
/// Verifying an ES256 signature costs about three times as much CPU as
/// making one, and the generator shares the server's two cores: checked
/// inline, ID tokens took a fifth of the machine at the ES256 top level.
#[derive(Debug)]
pub struct IdTokenCheck {
    pub id_token: String,
    /// The authorization request's nonce; `None` for a refresh, whose ID
    /// token must carry none (OpenID Connect Core 12.2).
    pub nonce: Option<String>,
    pub username: String,
}

impl IdTokenCheck {
    /// The signature (by the server's key), `iss`, `exp`, `nonce`, `aud`
    /// and `sub`.
    pub fn run(&self, target: &Target) -> Result<()> {
        check_id_token(
            target,
            &self.id_token,
            self.nonce.as_deref(),
            &self.username,
        )
    }
}

/// How long each step of one successful flow took, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct FlowTimes {
    pub authorize: u32,
    pub token: u32,
    pub userinfo: u32,
    /// The three exchanges end to end, from the time the flow was due to
    /// start: in an open-loop run, the wait for a late start counts (ID
    /// token verification comes after).
    pub flow: u32,
    /// The three exchanges end to end, from the time the flow did start.
    pub service: u32,
}

/// A refresh-token family one virtual user rotates: its newest token.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub username: String,
    refresh_token: String,
}

/// How long each step of one successful refresh took, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct RefreshTimes {
    /// The token request that rotates the refresh token.
    pub token: u32,
    /// Userinfo with the new access token.
    pub userinfo: u32,
    pub refresh: u32,
}

/// Logs `username` in through the form: `GET /login` for the CSRF cookie and
/// token, then `POST /login`, which must answer 303 with a session cookie.
pub async fn login(conn: &mut Conn, username: &str, password: &str) -> Result<Session> {
    let form = conn.get(LOGIN_PATH, &[]).await?;
    expect_status(&form, 200, "GET /login")?;
    let csrf = set_cookie(&form, CSRF_COOKIE).context("GET /login set no CSRF cookie")?;
    let body = std::str::from_utf8(&form.body).context("the login page is not UTF-8")?;
    let token = csrf_field(body).context("the login page has no csrf_token field")?;
    ensure!(
        token == csrf,
        "the form's CSRF token differs from the cookie's"
    );
    let fields = format!(
        "username={}&password={}&csrf_token={}",
        form_encode(username),
        form_encode(password),
        form_encode(token)
    );
    let cookie = format!("{CSRF_COOKIE}={csrf}");
    let response = conn
        .post_form(LOGIN_PATH, &[(COOKIE, &cookie)], &fields)
        .await?;
    expect_status(&response, 303, "POST /login")?;
    let session =
        set_cookie(&response, SESSION_COOKIE).context("POST /login set no session cookie")?;
    Ok(Session {
        username: username.to_owned(),
        cookie: format!("{SESSION_COOKIE}={session}"),
    })
}

/// One full flow for `session`: authorize, token, userinfo. Any deviation is
/// an error; the ID token's checks are returned to be run later.
pub async fn flow(
    conn: &mut Conn,
    target: &Target,
    session: &Session,
) -> Result<(FlowTimes, IdTokenCheck)> {
    flow_due(conn, target, session, Instant::now()).await
}

/// [`flow`], whose time counts from `due`, when it should have started.
pub async fn flow_due(
    conn: &mut Conn,
    target: &Target,
    session: &Session,
    due: Instant,
) -> Result<(FlowTimes, IdTokenCheck)> {
    let started = Instant::now();
    let (tokens, check, authorized, tokens_at) =
        authorize_and_redeem(conn, target, session, &target.authorize_prefix).await?;
    userinfo(conn, &tokens.access_token, &session.username).await?;
    let finished = Instant::now();
    let times = FlowTimes {
        authorize: micros(authorized - started),
        token: micros(tokens_at - authorized),
        userinfo: micros(finished - tokens_at),
        flow: micros(finished - due.min(started)),
        service: micros(finished - started),
    };
    Ok((times, check))
}

/// A flow for `session` that asks for `offline_access` too, and the refresh
/// token it yields. Its ID token is checked at once (grants are made before
/// the load).
pub async fn grant(conn: &mut Conn, target: &Target, session: &Session) -> Result<RefreshGrant> {
    let (tokens, check, _, _) =
        authorize_and_redeem(conn, target, session, &target.offline_authorize_prefix).await?;
    check.run(target)?;
    let refresh_token = tokens
        .refresh_token
        .filter(|token| !token.is_empty())
        .context("token: no refresh_token for an offline_access request")?;
    Ok(RefreshGrant {
        username: session.username.clone(),
        refresh_token,
    })
}

/// Rotates `grant`'s refresh token (which must come back new, with an
/// access token and an ID token) and calls userinfo with the new access
/// token. `grant` then holds the new refresh token; the ID token's checks
/// are returned to be run later.
pub async fn refresh(
    conn: &mut Conn,
    target: &Target,
    grant: &mut RefreshGrant,
) -> Result<(RefreshTimes, IdTokenCheck)> {
    let started = Instant::now();
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        form_encode(&grant.refresh_token)
    );
    let response = conn
        .post_form(TOKEN_PATH, &[(AUTHORIZATION, &target.basic_auth)], &form)
        .await
        .context("refresh")?;
    let rotated = Instant::now();
    let tokens = token_response(&response, "refresh")?;
    let next = tokens
        .refresh_token
        .filter(|token| !token.is_empty())
        .context("refresh: no new refresh_token")?;
    ensure!(
        next != grant.refresh_token,
        "refresh: the refresh token was not rotated"
    );
    grant.refresh_token = next;
    userinfo(conn, &tokens.access_token, &grant.username).await?;
    let finished = Instant::now();
    let times = RefreshTimes {
        token: micros(rotated - started),
        userinfo: micros(finished - rotated),
        refresh: micros(finished - started),
    };
    let check = IdTokenCheck {
        id_token: tokens.id_token,
        nonce: None,
        username: grant.username.clone(),
    };
    Ok((times, check))
}

/// Authorize (with the session cookie, the request starting with `prefix`)
/// and redeem the code: the tokens, the ID token's checks, and when each of
/// the two answered.
async fn authorize_and_redeem(
    conn: &mut Conn,
    target: &Target,
    session: &Session,
    prefix: &str,
) -> Result<(TokenResponse, IdTokenCheck, Instant, Instant)> {
    let state = format!("{:016x}", rand::random::<u64>());
    let nonce = format!("{:016x}", rand::random::<u64>());

    let path = format!("{prefix}&state={state}&nonce={nonce}");
    let response = conn
        .get(&path, &[(COOKIE, &session.cookie)])
        .await
        .context("authorize")?;
    let authorized = Instant::now();
    expect_status(&response, 302, "authorize")?;
    let location = response
        .header("location")
        .context("authorize: 302 without a Location")?;
    let code = code_from_redirect(location, &target.redirect_uri, &state, &target.issuer)
        .context("authorize")?;

    let form = format!(
        "grant_type=authorization_code&code={}{}",
        form_encode(&code),
        target.redirect_param
    );
    let response = conn
        .post_form(TOKEN_PATH, &[(AUTHORIZATION, &target.basic_auth)], &form)
        .await
        .context("token")?;
    let tokens_at = Instant::now();
    let mut tokens = token_response(&response, "token")?;
    let check = IdTokenCheck {
        id_token: std::mem::take(&mut tokens.id_token),
        nonce: Some(nonce),
        username: session.username.clone(),
    };
    Ok((tokens, check, authorized, tokens_at))
}

/// A token endpoint's 200 answer with a Bearer access token and an ID token.
fn token_response(response: &Response, what: &str) -> Result<TokenResponse> {
    expect_status(response, 200, what)?;
    let tokens: TokenResponse = serde_json::from_slice(&response.body)
        .with_context(|| format!("{what}: unexpected response body"))?;
    ensure!(
        tokens.token_type.eq_ignore_ascii_case("bearer"),
        "{what}: token_type is {:?}",
        tokens.token_type
    );
    Ok(tokens)
}

/// Userinfo with `access_token`, which must answer 200 for `username`.
async fn userinfo(conn: &mut Conn, access_token: &str, username: &str) -> Result<()> {
    let bearer = format!("Bearer {access_token}");
    let response = conn
        .get(USERINFO_PATH, &[(AUTHORIZATION, &bearer)])
        .await
        .context("userinfo")?;
    expect_status(&response, 200, "userinfo")?;
    let userinfo: Value =
        serde_json::from_slice(&response.body).context("userinfo: unexpected response body")?;
    ensure!(
        userinfo.get("sub").and_then(Value::as_str) == Some(username),
        "userinfo: sub is {:?}, not {username:?}",
        userinfo.get("sub"),
    );
    Ok(())
}

/// `GET path`, expecting 200.
pub async fn get_ok(conn: &mut Conn, path: &str) -> Result<()> {
    let response = conn.get(path, &[]).await?;
    expect_status(&response, 200, path)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    id_token: String,
    refresh_token: Option<String>,
}

/// The signature (by the server's key), `iss`, `exp`, `nonce`, `aud` and
/// `sub` of an ID token.
fn check_id_token(
    target: &Target,
    id_token: &str,
    nonce: Option<&str>,
    username: &str,
) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let claims: Value = target
        .signer
        .verify(id_token, &target.issuer, now)
        .context("ID token")?;
    ensure!(
        claims.get("nonce").and_then(Value::as_str) == nonce,
        "ID token: nonce is {:?}, not {nonce:?}",
        claims.get("nonce")
    );
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => *aud == target.client_id,
        Some(Value::Array(auds)) => auds.iter().any(|aud| *aud == *target.client_id),
        _ => false,
    };
    ensure!(audience_ok, "ID token: aud is {:?}", claims.get("aud"));
    ensure!(
        claims.get("sub").and_then(Value::as_str) == Some(username),
        "ID token: sub is {:?}, not {username:?}",
        claims.get("sub")
    );
    Ok(())
}

fn expect_status(response: &Response, expected: u16, what: &str) -> Result<()> {
    if response.status == expected {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&response.body);
    let body: String = body.chars().take(200).collect();
    bail!(
        "{what}: status {} (expected {expected}): {body}",
        response.status
    )
}

/// The code in an authorization response redirect, after checking it goes
/// to `redirect_uri` and carries `state` and `iss` unchanged and no error.
pub fn code_from_redirect(
    location: &str,
    redirect_uri: &str,
    state: &str,
    issuer: &str,
) -> Result<String> {
    let Some(query) = location
        .strip_prefix(redirect_uri)
        .and_then(|rest| rest.strip_prefix('?'))
    else {
        bail!("redirected to {location:?}, not to {redirect_uri:?}");
    };
    let mut code = None;
    let mut seen_state = None;
    let mut seen_issuer = None;
    let mut error = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match &*name {
            "code" => &mut code,
            "state" => &mut seen_state,
            "iss" => &mut seen_issuer,
            "error" => &mut error,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            bail!("{name} is repeated in {location:?}");
        }
    }
    if let Some(error) = error {
        bail!("redirected with error={error}");
    }
    ensure!(
        seen_state.as_deref() == Some(state),
        "state is {seen_state:?}, not {state:?}"
    );
    ensure!(
        seen_issuer.as_deref() == Some(issuer),
        "iss is {seen_issuer:?}, not {issuer:?}"
    );
    code.filter(|code| !code.is_empty())
        .context("no code in the redirect")
}

/// The value of cookie `name` set by a `Set-Cookie` header of `response`.
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response.headers_named("set-cookie").find_map(|value| {
        let pair = value.split(';').next()?.trim();
        let (cookie, value) = pair.split_once('=')?;
        (cookie.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The value of the login form's hidden `csrf_token` field.
pub fn csrf_field(html: &str) -> Option<&str> {
    const FIELD: &str = "name=\"csrf_token\" value=\"";
    let start = html.find(FIELD)? + FIELD.len();
    let rest = html.get(start..)?;
    rest.get(..rest.find('"')?)
}

pub fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn micros(duration: std::time::Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIRECT: &str = "http://127.0.0.1:9/cb";
    const ISSUER: &str = "http://127.0.0.1:8080";

    #[test]
    fn the_code_comes_from_a_matching_redirect() {
        let location =
            "http://127.0.0.1:9/cb?code=pc-abc.def&state=s1&iss=http%3A%2F%2F127.0.0.1%3A8080";
        assert_eq!(
            code_from_redirect(location, REDIRECT, "s1", ISSUER).unwrap(),
            "pc-abc.def"
        );
    }

    #[test]
    fn a_bad_redirect_is_refused() {
        let iss = "iss=http%3A%2F%2F127.0.0.1%3A8080";
        let cases = [
            (
                format!("http://127.0.0.1:9/other?code=c&state=s1&{iss}"),
                "not to",
            ),
            (format!("{REDIRECT}?code=c&state=s2&{iss}"), "state is"),
            (format!("{REDIRECT}?code=c&{iss}"), "state is"),
            (format!("{REDIRECT}?code=c&state=s1&iss=x"), "iss is"),
            (format!("{REDIRECT}?state=s1&{iss}"), "no code"),
            (format!("{REDIRECT}?code=&state=s1&{iss}"), "no code"),
            (
                format!("{REDIRECT}?code=a&code=b&state=s1&{iss}"),
                "repeated",
            ),
            (
                format!("{REDIRECT}?error=access_denied&state=s1&{iss}"),
                "error=access_denied",
            ),
        ];
        for (location, expected) in cases {
            let error = code_from_redirect(&location, REDIRECT, "s1", ISSUER).unwrap_err();
            assert!(error.to_string().contains(expected), "{location}: {error}");
        }
    }

    #[test]
    fn cookies_are_found_among_set_cookie_headers() {
        let set = |values: &[&str]| Response {
            status: 200,
            headers: values
                .iter()
                .map(|value| ("set-cookie".to_owned(), (*value).to_owned()))
                .collect(),
            body: Vec::new(),
        };
        let headers = set(&[
            "porthor_csrf=abc-123; Path=/; HttpOnly; SameSite=Strict",
            "porthor_session=ps-k.s; Path=/; Max-Age=43200",
            "bare=\"q\"",
        ]);
        assert_eq!(
            set_cookie(&headers, "porthor_csrf").as_deref(),
            Some("abc-123")
        );
        assert_eq!(
            set_cookie(&headers, "porthor_session").as_deref(),
            Some("ps-k.s")
        );
        assert_eq!(set_cookie(&headers, "bare").as_deref(), Some("q"));
        assert_eq!(set_cookie(&headers, "porthor"), None);
        assert_eq!(set_cookie(&set(&[]), "porthor_csrf"), None);
    }

    #[test]
    fn the_csrf_field_is_read_from_the_form() {
        let html = "<form method=\"post\"><input type=\"hidden\" name=\"csrf_token\" \
                    value=\"tok_en-1\"><input name=\"username\"></form>";
        assert_eq!(csrf_field(html), Some("tok_en-1"));
        assert_eq!(csrf_field("<form></form>"), None);
        assert_eq!(csrf_field("name=\"csrf_token\" value=\"unterminated"), None);
    }

    #[test]
    fn basic_credentials_are_form_encoded_halves() {
        let signer = Arc::new(
            Signer::from_pem(
                porthor_signer::generate_pem(porthor_signer::SigningAlgorithm::Es256)
                    .unwrap()
                    .as_bytes(),
            )
            .unwrap(),
        );
        let address = SocketAddr::from(([127, 0, 0, 1], 8080));
        let target = Target::new(address, "my client", "s:e/c", REDIRECT, signer);
        let decoded = STANDARD
            .decode(target.basic_auth.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"my+client:s%3Ae%2Fc");
        assert_eq!(target.issuer, ISSUER);
        assert!(
            target
                .authorize_prefix
                .contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb")
        );
    }
}
