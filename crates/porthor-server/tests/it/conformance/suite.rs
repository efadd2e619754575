//! The conformance suite's client and browser: how its modules build
//! authorization requests, follow them through the login form, redeem the
//! code and check every answer on the way, on top of the harness's client.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::CsrfToken;
use porthor_signer::SigningAlgorithm;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use url::Url;

use crate::harness::{
    APP, CLIENT_ID, CLIENT_SECRET, Harness, Options, REDIRECT_URI, StoreKind, consent_page,
    error_page, has_content_type, json, jwt_header, location, query, rp_verifier, verify_id_token,
};

/// A server as certified: Porthor's default RS256 key, on Redis.
pub(super) async fn start() -> Harness {
    start_signing(SigningAlgorithm::Rs256).await
}

pub(super) async fn start_signing(algorithm: SigningAlgorithm) -> Harness {
    Harness::start_with(Options {
        algorithm,
        ..Options::new(StoreKind::Redis)
    })
    .await
}

/// A random value of at least `len` base64url characters, cut to `len`,
/// like the suite's `state` (it asks for 128 characters where it checks that
/// the value comes back intact).
pub(super) fn random(len: usize) -> String {
    let mut value = String::new();
    while value.len() < len {
        value.push_str(CsrfToken::new_random().secret());
    }
    value.truncate(len);
    value
}

/// An authorization request as the suite's client builds it: the code flow,
/// the static client and its registered redirect URI, a fresh `state` and
/// `nonce`.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub(super) params: Vec<(String, String)>,
}

impl Request {
    pub(super) fn new(scope: &str) -> Self {
        let (state, nonce) = (random(22), random(22));
        let params = [
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope),
            ("state", &state),
            ("nonce", &nonce),
        ];
        Self {
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// Sets `name` to `value`, replacing any value it had.
    pub(super) fn set(mut self, name: &str, value: &str) -> Self {
        self.params.retain(|(n, _)| n != name);
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(super) fn remove(mut self, name: &str) -> Self {
        self.params.retain(|(n, _)| n != name);
        self
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn pairs(&self) -> Vec<(&str, &str)> {
        self.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// What reached the client's redirect URI, and the browser's session then.
pub(super) struct Callback {
    pub(super) url: Url,
    pub(super) session: Option<String>,
    /// Whether the browser had to go through the login form on the way.
    pub(super) showed_login: bool,
}

/// The suite's browser: sends `request` to the authorization endpoint with
/// `session` (if any) and follows it to the client.
pub(super) async fn browse(h: &Harness, session: Option<&str>, request: &Request) -> Callback {
    let response = h.authorize(session, &request.pairs()).await;
    follow(h, session, response).await
}

/// Follows the authorization endpoint's answer as a browser: straight to the
/// client, or through the login form (where the user logs in as alice) and
/// back to the authorization endpoint first; on a consent page (as
/// `prompt=consent` shows) the user approves, as the suite's browser is
/// configured to.
pub(super) async fn follow(h: &Harness, session: Option<&str>, response: Response) -> Callback {
    let mut session = session.map(str::to_owned);
    let mut response = response;
    let mut showed_login = false;
    if response.status() != StatusCode::OK
        && !location(&response).as_str().starts_with(REDIRECT_URI)
    {
        let to = location(&response);
        assert_eq!(to.path(), "/login", "{to}");
        let (_, fresh, back) = h.log_in_and_return(to.as_str(), session.as_deref()).await;
        (response, session, showed_login) = (back, Some(fresh), true);
    }
    if response.status() == StatusCode::OK {
        let page = consent_page(response).await;
        let session = session.as_deref().expect("a consent page needs a session");
        response = h.decide_consent(&page, session, "allow").await;
    }
    let status = response.status();
    assert!(
        matches!(status, StatusCode::FOUND | StatusCode::SEE_OTHER),
        "the authorization endpoint answered {status}: {}",
        response.text().await.unwrap_or_default()
    );
    let url = location(&response);
    assert!(url.as_str().starts_with(REDIRECT_URI), "{url}");
    Callback {
        url,
        session,
        showed_login,
    }
}

/// A successful authorization response (CheckMatchingCallbackParameters,
/// CheckIfAuthorizationEndpointError, CheckMatchingStateParameter,
/// ValidateIssInAuthorizationResponse): at the redirect URI, in the query,
/// with the state, `iss` (RFC 9207) and a code. Returns the code.
pub(super) fn expect_code(h: &Harness, callback: &Callback, request: &Request) -> String {
    let url = &callback.url;
    assert!(
        url.as_str().starts_with(&format!("{REDIRECT_URI}?")),
        "{url}"
    );
    assert_eq!(url.fragment(), None, "{url}");
    assert_eq!(query(url, "error"), None, "{url}");
    assert_eq!(
        query(url, "state").as_deref(),
        request.get("state"),
        "state must come back intact"
    );
    assert_eq!(query(url, "iss").as_deref(), Some(h.issuer.as_str()));
    query(url, "code").expect("a code in the redirect")
}

/// The parameters an authorization error response may carry
/// (CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint).
const ERROR_RESPONSE_PARAMETERS: &[&str] = &[
    "error",
    "error_description",
    "error_uri",
    "state",
    "session_state",
    "iss",
];

/// `performGenericAuthorizationEndpointErrorResponseValidation`, then the
/// module's own check that the error is one of `accepted`: the error goes
/// back to the redirect URI with the state intact, `iss`, no code, nothing
/// unexpected, and an `error_description` within RFC 6749's character set.
/// Returns the error code.
pub(super) fn expect_error(
    h: &Harness,
    url: &Url,
    state: Option<&str>,
    accepted: &[&str],
) -> String {
    assert!(
        url.as_str().starts_with(&format!("{REDIRECT_URI}?")),
        "{url}"
    );
    assert_eq!(url.fragment(), None, "{url}");
    for (name, _) in url.query_pairs() {
        assert!(
            ERROR_RESPONSE_PARAMETERS.contains(&name.as_ref()),
            "unexpected parameter {name} in {url}"
        );
    }
    assert_eq!(
        query(url, "state").as_deref(),
        state,
        "state must come back intact"
    );
    assert_eq!(query(url, "iss").as_deref(), Some(h.issuer.as_str()));
    let error = query(url, "error").expect("an error in the redirect");
    assert!(
        accepted.contains(&error.as_str()),
        "{error}, not {accepted:?}"
    );
    if let Some(description) = query(url, "error_description") {
        // RFC 6749 4.1.2.1: %x20-21 / %x23-5B / %x5D-7E.
        assert!(
            description
                .chars()
                .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
            "error_description {description:?}"
        );
    }
    error
}

/// Asserts an error page shown to the user, never a redirect
/// (ExpectRedirectUriErrorPage and friends: the suite asks for a
/// screenshot), naming the error.
pub(super) async fn expect_error_page(response: Response, what: &str) {
    let body = error_page(response, what).await;
    assert!(body.contains("invalid_request"), "{what}: {body}");
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy)]
pub(super) enum ClientAuth {
    Basic,
    Post,
}

/// A successful token response.
pub(super) struct Tokens {
    pub(super) access_token: String,
    pub(super) id_token: String,
    pub(super) body: Value,
}

/// The token request and the checks on its response (CallTokenEndpoint,
/// CheckIfTokenEndpointResponseError, CheckForAccessTokenValue,
/// ValidateExpiresIn, ExtractIdTokenFromTokenResponse).
pub(super) async fn exchange(
    h: &Harness,
    code: &str,
    auth: ClientAuth,
    code_verifier: Option<&str>,
) -> Tokens {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    if let Some(verifier) = code_verifier {
        form.push(("code_verifier", verifier));
    }
    let response = match auth {
        ClientAuth::Basic => h.token(Some(APP), &form).await,
        ClientAuth::Post => {
            form.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
            h.token(None, &form).await
        }
    };
    assert!(has_content_type(&response, "application/json"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json(response, StatusCode::OK).await;
    assert!(
        body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
        "{body}"
    );
    assert!(body["expires_in"].as_u64().is_some_and(|e| e > 0), "{body}");
    let access_token = body["access_token"].as_str().expect("access_token");
    assert!(!access_token.is_empty());
    Tokens {
        access_token: access_token.to_owned(),
        id_token: body["id_token"].as_str().expect("an ID token").to_owned(),
        body,
    }
}

/// The strings of a JSON array.
pub(super) fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value} is not an array"))
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("{v} is not a string")))
        .collect()
}

/// The suite's ID token checks (ValidateIdToken, ValidateIdTokenNonce,
/// ValidateIdTokenSignature, ValidateIdTokenSignatureUsingKid,
/// CheckForSubjectInIdToken, ValidateAtHash), done by a relying party that
/// fetched the JWKS from `jwks_uri`. Returns the claims.
pub(super) async fn validate_id_token(h: &Harness, tokens: &Tokens, nonce: Option<&str>) -> Value {
    let doc = h.discovery().await;
    let keys = h.jwks().await;
    let header = jwt_header(&tokens.id_token);
    let alg = header["alg"].as_str().expect("alg");
    assert_ne!(alg, "none");
    assert!(
        strings(&doc["id_token_signing_alg_values_supported"]).contains(&alg),
        "{alg} is not advertised"
    );
    // The header names its key, and the JWKS has it, for this algorithm.
    let kid = header["kid"]
        .as_str()
        .expect("the ID token header has a kid");
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS {keys}"));
    assert_eq!(key["alg"], alg);

    let verifier = rp_verifier(&keys, &h.issuer, &[alg]);
    let claims = verify_id_token(&verifier, &tokens.id_token, nonce, &tokens.access_token);

    // The claims as JSON, against OpenID Connect Core 2 and 3.1.3.7.
    let now = i64::try_from(h.clock.now().as_unix()).unwrap();
    assert_eq!(claims["iss"], h.issuer.as_str());
    match &claims["aud"] {
        Value::String(aud) => assert_eq!(aud, CLIENT_ID),
        Value::Array(auds) => {
            assert!(auds.contains(&Value::from(CLIENT_ID)), "{claims}");
            if auds.len() > 1 {
                assert_eq!(claims["azp"], CLIENT_ID);
            }
        }
        other => panic!("aud {other}"),
    }
    if !claims["azp"].is_null() {
        assert_eq!(claims["azp"], CLIENT_ID);
    }
    let sub = claims["sub"].as_str().expect("sub");
    assert!(
        !sub.is_empty() && sub.len() <= 255 && sub.is_ascii(),
        "{sub}"
    );
    let exp = claims["exp"].as_i64().expect("exp");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(exp > now, "expired: {claims}");
    assert!(
        (now - 300..=now + 300).contains(&iat),
        "iat {iat}, now {now}"
    );
    if let Some(auth_time) = claims["auth_time"].as_i64() {
        assert!(
            auth_time <= now + 300,
            "auth_time {auth_time} in the future"
        );
    }
    assert_eq!(claims["nonce"].as_str(), nonce);
    claims
}

/// The types OpenID Connect Core 5.1 gives the standard claims
/// (ValidateUserInfoStandardClaims).
pub(super) fn check_standard_claims(claims: &Value) {
    const STRINGS: &[&str] = &[
        "sub",
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "email",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "phone_number",
    ];
    for (name, value) in claims.as_object().expect("a JSON object") {
        let ok = match name.as_str() {
            n if STRINGS.contains(&n) => value.is_string(),
            "email_verified" | "phone_number_verified" => value.is_boolean(),
            "address" => value.is_object(),
            "updated_at" => value.is_number(),
            _ => true,
        };
        assert!(ok, "{name}: {value}");
    }
}

/// A userinfo GET (CallUserInfoEndpointWithBearerToken,
/// EnsureUserInfoContainsSub, ValidateUserInfoStandardClaims).
pub(super) async fn userinfo_get(h: &Harness, access_token: &str) -> Value {
    let response = h.userinfo(access_token).await;
    assert!(has_content_type(&response, "application/json"));
    let claims = json(response, StatusCode::OK).await;
    assert!(
        claims["sub"].as_str().is_some_and(|s| !s.is_empty()),
        "{claims}"
    );
    check_standard_claims(&claims);
    claims
}

/// A whole code flow as AbstractOIDCCServerTest runs it.
pub(super) struct Flow {
    pub(super) session: String,
    pub(super) tokens: Tokens,
    /// The ID token's claims.
    pub(super) claims: Value,
    pub(super) userinfo: Value,
    pub(super) showed_login: bool,
}

/// After the callback: the code, the token request, the ID token checks,
/// and the protected resource (userinfo), whose `sub` must be the ID
/// token's (Core 5.3.2).
pub(super) async fn complete(
    h: &Harness,
    callback: Callback,
    request: &Request,
    auth: ClientAuth,
    code_verifier: Option<&str>,
) -> Flow {
    let code = expect_code(h, &callback, request);
    let tokens = exchange(h, &code, auth, code_verifier).await;
    let claims = validate_id_token(h, &tokens, request.get("nonce")).await;
    let userinfo = userinfo_get(h, &tokens.access_token).await;
    assert_eq!(userinfo["sub"], claims["sub"]);
    Flow {
        session: callback.session.expect("a session"),
        tokens,
        claims,
        userinfo,
        showed_login: callback.showed_login,
    }
}

/// The happy path with HTTP Basic client authentication, in a browser with
/// `session` (or none: then the user logs in through the form).
pub(super) async fn happy(h: &Harness, session: Option<&str>, request: &Request) -> Flow {
    let callback = browse(h, session, request).await;
    complete(h, callback, request, ClientAuth::Basic, None).await
}

/// The first authorization of the modules that authorize twice.
pub(super) async fn first_login(h: &Harness) -> Flow {
    let flow = happy(h, None, &Request::new("openid")).await;
    assert!(flow.showed_login);
    flow
}

/// AbstractOIDCCSameAuthTwiceServerTest: the second authorization reused the
/// first login (CheckIdTokenSubConsistentForSecondAuthorization,
/// CheckIdTokenAuthTimeClaimsSameIfPresent), without showing a login page.
pub(super) fn same_authentication(first: &Flow, second: &Flow) {
    assert!(!second.showed_login, "the user was asked to log in again");
    assert_eq!(second.claims["sub"], first.claims["sub"]);
    assert_eq!(second.claims["auth_time"], first.claims["auth_time"]);
}

/// The scopes the discovery document advertises.
pub(super) async fn scopes_supported(h: &Harness) -> Vec<String> {
    strings(&h.discovery().await["scopes_supported"])
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// An unsigned (`alg: none`) request object carrying `request`'s
/// parameters, `iss` and `aud` (ConvertAuthorizationEndpointRequestToRequestObject,
/// AddAudToRequestObject, AddIssToRequestObject,
/// SerializeRequestObjectWithNullAlgorithm).
pub(super) fn unsigned_request_object(h: &Harness, request: &Request) -> String {
    let mut claims = serde_json::Map::new();
    for (name, value) in &request.params {
        claims.insert(name.clone(), Value::from(value.as_str()));
    }
    claims.insert("iss".to_owned(), Value::from(CLIENT_ID));
    claims.insert("aud".to_owned(), Value::from(h.issuer.as_str()));
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    format!(
        "{}.{}.",
        encode(&serde_json::json!({"alg": "none"})),
        encode(&Value::Object(claims))
    )
}

/// The parameters OpenID Connect Core 6.1 (and the suite) also send in the
/// query when the request is in a request object, plus `extra`.
pub(super) fn query_beside_request_object<'a>(
    request: &'a Request,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params: Vec<(&str, &str)> = request
        .pairs()
        .into_iter()
        .filter(|(name, _)| {
            matches!(
                *name,
                "response_type" | "client_id" | "scope" | "redirect_uri"
            )
        })
        .collect();
    params.extend_from_slice(extra);
    params
}
