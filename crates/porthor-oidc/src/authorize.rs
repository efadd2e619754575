//! The authorization endpoint's rules (RFC 6749 4.1.1, OpenID Connect Core
//! 3.1.2): validating a request and shaping the redirect back to the client.

use porthor_models::{Client, CodeChallenge, Scope, Scopes, SessionData, Timestamp};
use url::Url;

use crate::consent::permitted_scopes;
use crate::{Issuer, OidcError};

/// The longest `state` and `nonce` accepted, in bytes. Neither protocol
/// sets a limit, but both are echoed (`state` in the redirect, `nonce` in
/// the ID token) and the nonce is stored with the code, so each request
/// would otherwise choose how much Porthor stores and sends; real values
/// are random strings of a few dozen characters.
pub(crate) const MAX_STATE_AND_NONCE_BYTES: usize = 1024;

/// RFC 7636 4.1 and 4.2: a `code_challenge` has 43 to 128 characters (an
/// `S256` one exactly 43).
const CODE_CHALLENGE_LEN: std::ops::RangeInclusive<usize> = 43..=128;

/// An authorization request's parameters as received. Empty values count as
/// absent (RFC 6749 3.1); parameters Porthor does not use are not carried.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationRequest {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `response_type`.
    pub response_type: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `state`, echoed back verbatim.
    pub state: Option<String>,
    /// `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// `code_challenge` (RFC 7636 4.3).
    pub code_challenge: Option<String>,
    /// `code_challenge_method`; only `S256` is accepted.
    pub code_challenge_method: Option<String>,
    /// `prompt`: space-separated `none`, `login`, `consent`,
    /// `select_account`.
    pub prompt: Option<String>,
    /// `max_age`: the most seconds since the user last authenticated.
    pub max_age: Option<String>,
    /// `response_mode`; only `query` is supported.
    pub response_mode: Option<String>,
    /// Whether a `request` object was sent (refused).
    pub has_request_object: bool,
    /// Whether `request_uri` was sent (refused).
    pub has_request_uri: bool,
    /// The first single-valued parameter that the request repeated, if any
    /// (RFC 6749 3.1: such a request is invalid).
    pub repeated: Option<String>,
}

/// A request that passed validation: the code may be issued once the user is
/// authenticated.
#[derive(Debug, Clone)]
pub struct ValidAuthorization {
    /// The requesting client.
    pub client_id: String,
    /// Where the user returns; registered for the client.
    pub redirect_uri: String,
    /// Whether the request named it, rather than relying on the client's
    /// only registered URI.
    pub redirect_uri_sent: bool,
    /// The scopes to grant (always including `openid`): those requested
    /// that Porthor knows and the client may have.
    pub scopes: Scopes,
    /// The client's `state`.
    pub state: Option<String>,
    /// The client's `nonce`.
    pub nonce: Option<String>,
    /// The PKCE challenge the redemption must answer.
    pub code_challenge: Option<CodeChallenge>,
    /// `prompt=none`: never show a login page; fail with `login_required`.
    pub prompt_none: bool,
    /// `prompt=login`: authenticate again, whatever the session.
    pub prompt_login: bool,
    /// `prompt=consent`: ask the user to approve, whatever was approved
    /// before.
    pub prompt_consent: bool,
    /// `max_age`, in seconds.
    pub max_age: Option<u64>,
}

impl ValidAuthorization {
    /// Whether the user must log in (again) before a code can be issued:
    /// no session, `prompt=login`, or a session older than `max_age`.
    /// OpenID Connect Core 3.1.2.1 and 3.1.2.3.
    pub fn needs_login(&self, session: Option<&SessionData>, now: Timestamp) -> bool {
        match session {
            None => true,
            Some(session) => {
                self.prompt_login
                    || self.max_age.is_some_and(|max_age| {
                        now.as_unix().saturating_sub(session.auth_time.as_unix()) > max_age
                    })
            }
        }
    }
}

/// Why an authorization request failed, and where the user should see it.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show the user an error
    /// page and never redirect (RFC 6749 4.1.2.1).
    Page(OidcError),
    /// The redirect URI is trusted: send the user back to the client with
    /// `error`, `error_description`, `state` and `iss` at `url`.
    Redirect {
        /// The complete redirect URL.
        url: String,
        /// The error, for logging.
        error: OidcError,
    },
}

/// Appends `params` to `redirect_uri`'s query, keeping what it already has
/// (RFC 6749 3.1.2: the query component must be retained).
pub(crate) fn redirect_url(
    redirect_uri: &str,
    params: &[(&str, Option<&str>)],
) -> Result<String, OidcError> {
    let mut url = Url::parse(redirect_uri).map_err(|e| {
        OidcError::Internal(format!("registered redirect URI does not parse: {e}").into())
    })?;
    // Only when there is something to add: `query_pairs_mut` on a URL
    // without a query would leave a bare `?`.
    let mut present = params
        .iter()
        .filter_map(|(name, value)| value.map(|value| (name, value)))
        .peekable();
    if present.peek().is_some() {
        url.query_pairs_mut().extend_pairs(present);
    }
    Ok(url.into())
}

pub(crate) fn error_redirect(
    issuer: &Issuer,
    redirect_uri: &str,
    state: Option<&str>,
    error: OidcError,
) -> AuthorizeError {
    let description = error.description();
    let params = [
        ("error", Some(error.code().as_str())),
        ("error_description", Some(description.as_str())),
        ("state", state),
        ("iss", Some(issuer.as_str())),
    ];
    match redirect_url(redirect_uri, &params) {
        Ok(url) => AuthorizeError::Redirect { url, error },
        Err(internal) => AuthorizeError::Page(internal),
    }
}

/// Checks everything that can be checked before the user logs in, in the
/// order that decides whether a failure may redirect.
pub(crate) fn validate<'a>(
    issuer: &Issuer,
    find_client: impl Fn(&str) -> Option<&'a Client>,
    request: AuthorizationRequest,
) -> Result<ValidAuthorization, AuthorizeError> {
    let page = |detail: &str| AuthorizeError::Page(OidcError::invalid_request(detail));
    // Until client_id and redirect_uri are known good, nothing may redirect.
    if let Some(name) = request
        .repeated
        .as_deref()
        .filter(|name| matches!(*name, "client_id" | "redirect_uri"))
    {
        return Err(page(&format!("the {name} parameter is repeated")));
    }
    let client_id = request
        .client_id
        .ok_or_else(|| page("the client_id parameter is missing"))?;
    let Some(client) = find_client(&client_id) else {
        return Err(AuthorizeError::Page(OidcError::invalid_request(
            "unknown client",
        )));
    };
    let redirect_uri_sent = request.redirect_uri.is_some();
    // OAuth 2.1 2.3.2: a client with exactly one registered URI may omit it.
    let redirect_uri = match (request.redirect_uri, client.redirect_uris.as_slice()) {
        (Some(uri), _) if client.allows_redirect(&uri) => uri,
        (Some(_), _) => return Err(page("the redirect_uri is not registered for this client")),
        (None, [only]) => only.as_str().to_owned(),
        (None, _) => {
            return Err(page(
                "the redirect_uri parameter is missing, and the client has several",
            ));
        }
    };

    // From here on the redirect URI is trusted, so errors go back to it,
    // with the state, unless the state is what is wrong: echoing it would
    // put the oversized value in the redirect.
    let state_too_long = request
        .state
        .as_ref()
        .is_some_and(|state| state.len() > MAX_STATE_AND_NONCE_BYTES);
    let state = request.state.filter(|_| !state_too_long);
    let fail = |error| {
        Err(error_redirect(
            issuer,
            &redirect_uri,
            state.as_deref(),
            error,
        ))
    };
    if let Some(name) = request.repeated {
        return fail(OidcError::invalid_request(format!(
            "the {name} parameter is repeated"
        )));
    }
    for (name, too_long) in [
        ("state", state_too_long),
        (
            "nonce",
            request
                .nonce
                .as_ref()
                .is_some_and(|nonce| nonce.len() > MAX_STATE_AND_NONCE_BYTES),
        ),
    ] {
        if too_long {
            return fail(OidcError::invalid_request(format!(
                "{name} is longer than {MAX_STATE_AND_NONCE_BYTES} bytes"
            )));
        }
    }
    if request
        .code_challenge
        .as_ref()
        .is_some_and(|challenge| !CODE_CHALLENGE_LEN.contains(&challenge.len()))
    {
        return fail(OidcError::invalid_request(
            "code_challenge must be 43 to 128 characters long (RFC 7636 4.2)",
        ));
    }
    match request.response_type.as_deref() {
        None => {
            return fail(OidcError::invalid_request(
                "the response_type parameter is missing",
            ));
        }
        Some("code") => {}
        Some(_) => return fail(OidcError::UnsupportedResponseType),
    }
    if request.has_request_object {
        return fail(OidcError::RequestNotSupported);
    }
    if request.has_request_uri {
        return fail(OidcError::RequestUriNotSupported);
    }
    // Codes go back in the query; a client that asked for anything else
    // (fragment, form_post) would not find them where it looks.
    if request
        .response_mode
        .as_deref()
        .is_some_and(|mode| mode != "query")
    {
        return fail(OidcError::invalid_request(
            "only the query response_mode is supported",
        ));
    }
    let requested = Scopes::parse(request.scope.as_deref().unwrap_or_default());
    if !requested.contains(Scope::OpenId) {
        return fail(OidcError::InvalidScope("scope must include openid"));
    }
    let scopes = permitted_scopes(client, requested);
    // RFC 7636 4.3, with `plain` (the default when no method is sent) refused.
    let code_challenge = match (
        request.code_challenge,
        request.code_challenge_method.as_deref(),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            return fail(OidcError::invalid_request(
                "code_challenge_method was sent without code_challenge",
            ));
        }
        (Some(challenge), Some("S256")) => match CodeChallenge::parse_s256(&challenge) {
            Some(challenge) => Some(challenge),
            None => {
                return fail(OidcError::invalid_request(
                    "code_challenge is not a base64url SHA-256 digest",
                ));
            }
        },
        (Some(_), _) => {
            return fail(OidcError::invalid_request(
                "code_challenge_method must be S256",
            ));
        }
    };
    let prompts: Vec<&str> = request
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if prompts
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account"))
    {
        return fail(OidcError::invalid_request(
            "prompt may only be none, login, consent or select_account",
        ));
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return fail(OidcError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match request.max_age.as_deref().map(str::parse::<u64>) {
        None => None,
        Some(Ok(max_age)) => Some(max_age),
        Some(Err(_)) => {
            return fail(OidcError::invalid_request(
                "max_age must be a non-negative integer",
            ));
        }
    };
    if client.needs_pkce() && code_challenge.is_none() {
        return fail(OidcError::invalid_request(
            "this client must send a PKCE code_challenge (S256)",
        ));
    }
    Ok(ValidAuthorization {
        client_id,
        redirect_uri,
        redirect_uri_sent,
        scopes,
        state,
        nonce: request.nonce,
        code_challenge,
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        prompt_consent: prompts.contains(&"consent"),
        max_age,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CB: &str = "https://app.example.com/cb";

    const ONLY: &str = "https://one.example.com/cb";

    fn client(id: &str, uris: &[&str]) -> Client {
        let hash = porthor_models::ClientSecretHash::from_secret(
            &porthor_models::ClientSecretHash::generate_secret(),
        )
        .unwrap();
        let uris = uris
            .iter()
            .map(|uri| porthor_models::RedirectUri::parse(uri).unwrap())
            .collect();
        Client::confidential(id, hash, uris)
    }

    /// `app` has two redirect URIs; `one` has one and is public.
    static CLIENTS: std::sync::LazyLock<[Client; 2]> = std::sync::LazyLock::new(|| {
        let mut one = client("one", &[ONLY]);
        one.auth = porthor_models::ClientAuth::Public;
        [client("app", &[CB, "https://app.example.com/second"]), one]
    });

    fn check(request: AuthorizationRequest) -> Result<ValidAuthorization, AuthorizeError> {
        let issuer = Issuer::parse("https://auth.example.com").unwrap();
        validate(
            &issuer,
            |id| CLIENTS.iter().find(|client| client.client_id == id),
            request,
        )
    }

    #[test]
    fn redirect_uri_may_be_omitted_only_with_one_registered() {
        let one = |redirect_uri: Option<&str>, challenge: bool| AuthorizationRequest {
            client_id: Some("one".into()),
            redirect_uri: redirect_uri.map(str::to_owned),
            code_challenge: challenge.then(|| "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: challenge.then(|| "S256".into()),
            ..request()
        };
        let valid = check(one(None, true)).unwrap();
        assert_eq!(valid.redirect_uri, ONLY);
        assert!(!valid.redirect_uri_sent);
        let valid = check(one(Some(ONLY), true)).unwrap();
        assert!(valid.redirect_uri_sent);
        // A public client must use PKCE; the error goes back to the client.
        match check(one(None, false)) {
            Err(AuthorizeError::Redirect { url, error }) => {
                assert!(url.starts_with(ONLY), "{url}");
                assert!(matches!(error, OidcError::InvalidRequest(_)), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: Some("app".into()),
            redirect_uri: Some(CB.into()),
            response_type: Some("code".into()),
            scope: Some("openid email".into()),
            state: Some("s t".into()),
            nonce: Some("n".into()),
            code_challenge: None,
            code_challenge_method: None,
            prompt: None,
            max_age: None,
            response_mode: None,
            has_request_object: false,
            has_request_uri: false,
            repeated: None,
        }
    }

    fn redirect_of(result: Result<ValidAuthorization, AuthorizeError>) -> Url {
        match result {
            Err(AuthorizeError::Redirect { url, .. }) => Url::parse(&url).unwrap(),
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    fn query(url: &Url, name: &str) -> Option<String> {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    #[test]
    fn valid_request() {
        let valid = check(request()).unwrap();
        assert_eq!(valid.scopes.to_string(), "openid email");
        assert_eq!(valid.state.as_deref(), Some("s t"));
    }

    #[test]
    fn untrusted_client_or_uri_never_redirects() {
        let cases = [
            AuthorizationRequest {
                client_id: None,
                ..request()
            },
            AuthorizationRequest {
                client_id: Some("other".into()),
                ..request()
            },
            AuthorizationRequest {
                redirect_uri: None,
                ..request()
            },
            AuthorizationRequest {
                redirect_uri: Some("https://evil.example/cb".into()),
                ..request()
            },
            AuthorizationRequest {
                redirect_uri: Some(format!("{CB}?x=1")),
                ..request()
            },
            AuthorizationRequest {
                repeated: Some("redirect_uri".into()),
                ..request()
            },
            AuthorizationRequest {
                repeated: Some("client_id".into()),
                ..request()
            },
        ];
        for case in cases {
            let debug = format!("{case:?}");
            assert!(
                matches!(check(case), Err(AuthorizeError::Page(_))),
                "{debug}"
            );
        }
    }

    #[test]
    fn other_errors_redirect_with_state_and_iss() {
        let cases = [
            (
                AuthorizationRequest {
                    response_type: None,
                    ..request()
                },
                "invalid_request",
            ),
            (
                AuthorizationRequest {
                    response_type: Some("token".into()),
                    ..request()
                },
                "unsupported_response_type",
            ),
            (
                AuthorizationRequest {
                    has_request_object: true,
                    ..request()
                },
                "request_not_supported",
            ),
            (
                AuthorizationRequest {
                    has_request_uri: true,
                    ..request()
                },
                "request_uri_not_supported",
            ),
            (
                AuthorizationRequest {
                    response_mode: Some("form_post".into()),
                    ..request()
                },
                "invalid_request",
            ),
            (
                AuthorizationRequest {
                    scope: None,
                    ..request()
                },
                "invalid_scope",
            ),
            (
                AuthorizationRequest {
                    scope: Some("profile email".into()),
                    ..request()
                },
                "invalid_scope",
            ),
            (
                AuthorizationRequest {
                    repeated: Some("scope".into()),
                    ..request()
                },
                "invalid_request",
            ),
        ];
        for (case, code) in cases {
            let url = redirect_of(check(case));
            assert_eq!(url.as_str().split('?').next(), Some(CB));
            assert_eq!(query(&url, "error").as_deref(), Some(code));
            assert_eq!(query(&url, "state").as_deref(), Some("s t"));
            assert_eq!(
                query(&url, "iss").as_deref(),
                Some("https://auth.example.com")
            );
            assert!(query(&url, "error_description").is_some());
        }
    }

    #[test]
    fn state_and_nonce_longer_than_1024_bytes_are_invalid_request() {
        let long = "x".repeat(MAX_STATE_AND_NONCE_BYTES + 1);
        let longest = "é".repeat(MAX_STATE_AND_NONCE_BYTES / 2);
        let valid = check(AuthorizationRequest {
            state: Some(longest.clone()),
            nonce: Some(longest.clone()),
            ..request()
        })
        .unwrap();
        assert_eq!(valid.state.as_deref(), Some(longest.as_str()));
        for (name, case) in [
            (
                "nonce",
                AuthorizationRequest {
                    nonce: Some(long.clone()),
                    ..request()
                },
            ),
            (
                "state",
                AuthorizationRequest {
                    state: Some(long.clone()),
                    ..request()
                },
            ),
            // Counted in bytes: 513 two-byte characters are too many.
            (
                "state",
                AuthorizationRequest {
                    state: Some(format!("{longest}é")),
                    ..request()
                },
            ),
        ] {
            let url = redirect_of(check(case));
            assert_eq!(query(&url, "error").as_deref(), Some("invalid_request"));
            let description = query(&url, "error_description").unwrap();
            assert!(description.starts_with(name), "{description}");
            // The oversized state is not echoed; a good one is.
            let echoed = query(&url, "state");
            if name == "state" {
                assert_eq!(echoed, None);
            } else {
                assert_eq!(echoed.as_deref(), Some("s t"));
            }
        }
        // Before the redirect URI is trusted, the same request gets a page.
        let untrusted = AuthorizationRequest {
            state: Some(long),
            redirect_uri: Some("https://evil.example/cb".into()),
            ..request()
        };
        assert!(matches!(check(untrusted), Err(AuthorizeError::Page(_))));
    }

    #[test]
    fn code_challenge_outside_rfc_7636_length_is_invalid_request() {
        for challenge in ["x".repeat(42), "x".repeat(129), "x".repeat(100_000)] {
            for method in [None, Some("S256"), Some("plain")] {
                let url = redirect_of(check(AuthorizationRequest {
                    code_challenge: Some(challenge.clone()),
                    code_challenge_method: method.map(str::to_owned),
                    ..request()
                }));
                assert_eq!(query(&url, "error").as_deref(), Some("invalid_request"));
                let description = query(&url, "error_description").unwrap();
                assert!(description.contains("43 to 128"), "{description}");
            }
        }
    }

    #[test]
    fn redirect_keeps_existing_query() {
        let url = redirect_url(
            "https://app.example.com/cb?a=1",
            &[("code", Some("c")), ("state", None)],
        )
        .unwrap();
        assert_eq!(url, "https://app.example.com/cb?a=1&code=c");
    }
}
