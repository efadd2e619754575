//! The back-channel routes a client or resource server calls directly:
//! token, revocation, introspection and userinfo.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use porthor_models::AuthMethod;
use porthor_oidc::{ClientCredentials, TokenQuery, TokenRequest};

use crate::State;
use crate::error::{bearer_error, token_error};
use crate::limits::FormBody;
use crate::params::{Params, form_decode};

/// The parameters of the token endpoint that may appear at most once (RFC
/// 6749 3.2).
const TOKEN_PARAMETERS: &[&str] = &[
    "code_verifier",
    "grant_type",
    "code",
    "redirect_uri",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
];
/// Likewise for revocation and introspection (RFC 7009 2.1, RFC 7662 2.1).
const TOKEN_QUERY_PARAMETERS: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];

/// What the `Authorization` header says about client authentication.
enum BasicAuth {
    Absent,
    Present(ClientCredentials),
    /// `Basic` with something that is not `base64(id:secret)`.
    Malformed,
}

fn basic_auth(req: &HttpRequest) -> BasicAuth {
    match req.headers().get(header::AUTHORIZATION) {
        Some(value) => basic_credentials(value),
        None => BasicAuth::Absent,
    }
}

/// What an `Authorization` header's value says: [`BasicAuth::Present`] or
/// [`BasicAuth::Malformed`]. A function of the bytes alone, so that the
/// property tests can feed it anything a client could send.
fn basic_credentials(value: &HeaderValue) -> BasicAuth {
    let Some(encoded) = value.to_str().ok().and_then(|v| strip_scheme(v, "Basic")) else {
        return BasicAuth::Malformed;
    };
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded.as_deref().and_then(|text| text.split_once(':')) {
        // RFC 6749 2.3.1: both halves are form-urlencoded before encoding.
        Some((id, secret)) if !id.is_empty() => BasicAuth::Present(ClientCredentials {
            client_id: form_decode(id),
            client_secret: Some(form_decode(secret)).filter(|s| !s.is_empty()),
            method: AuthMethod::ClientSecretBasic,
        }),
        _ => BasicAuth::Malformed,
    }
}

/// The credentials of an `Authorization: <scheme> <credentials>` header
/// (the scheme is case-insensitive, RFC 9110 11.1).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme)
        .then_some(rest.trim_start())
}

/// A back-channel request's form, its client credentials, and what makes
/// it invalid before any rule looks at it.
struct BackChannel {
    form: Params,
    client: Option<ClientCredentials>,
    malformed: Option<String>,
    /// Whether the client tried HTTP Basic (a failure then gets 401 and a
    /// challenge).
    used_basic: bool,
}

impl BackChannel {
    /// Reads the client credentials from the `Authorization` header or the
    /// form (RFC 6749 2.3.1), and checks the framing: a form body, no
    /// repeated `single_valued` parameter, one authentication method.
    fn parse(req: &HttpRequest, body: &[u8], single_valued: &[&str]) -> Self {
        let form = Params::parse(body);
        let basic = basic_auth(req);
        let used_basic = !matches!(basic, BasicAuth::Absent);
        let mut malformed = form
            .repeated(single_valued)
            .map(|name| format!("the {name} parameter is repeated"));
        let form_client = form.take("client_id").map(|client_id| {
            let client_secret = form.take("client_secret");
            let method = match client_secret {
                Some(_) => AuthMethod::ClientSecretPost,
                None => AuthMethod::None,
            };
            ClientCredentials {
                client_id,
                client_secret,
                method,
            }
        });
        let client = match basic {
            BasicAuth::Malformed => None,
            BasicAuth::Absent => form_client,
            BasicAuth::Present(basic) => {
                // RFC 6749 2.3: one authentication method per request. A form
                // client_id that repeats the Basic one is harmless.
                let conflicting = form_client.is_some_and(|form| {
                    form.client_secret.is_some() || form.client_id != basic.client_id
                });
                if conflicting {
                    malformed.get_or_insert_with(|| {
                        "use one client authentication method, not two".to_owned()
                    });
                }
                Some(basic)
            }
        };
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|t| {
                    t.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !content_type_ok {
            malformed.get_or_insert_with(|| {
                "the body must be application/x-www-form-urlencoded".to_owned()
            });
        }
        Self {
            form,
            client,
            malformed,
            used_basic,
        }
    }

    fn token_query(self) -> (TokenQuery, bool) {
        let query = TokenQuery {
            client: self.client,
            token: self.form.take("token"),
            malformed: self.malformed,
        };
        (query, self.used_basic)
    }
}

fn no_store(response: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
}

/// `POST /auth/openid/token`.
pub(crate) async fn token(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let BackChannel {
        form,
        client,
        malformed,
        used_basic,
    } = BackChannel::parse(&req, &body, TOKEN_PARAMETERS);
    let request = TokenRequest {
        client,
        grant_type: form.take("grant_type"),
        code: form.take("code"),
        redirect_uri: form.take("redirect_uri"),
        code_verifier: form.take("code_verifier"),
        refresh_token: form.take("refresh_token"),
        scope: form.take("scope"),
        malformed,
    };
    match state.service.token(request, state.clock.now()).await {
        Ok(response) => no_store(&mut HttpResponse::Ok()).json(response),
        Err(error) => token_error(&error, used_basic),
    }
}

/// `POST /auth/openid/revoke` (RFC 7009): 200 with an empty body for any
/// token once the client has authenticated.
pub(crate) async fn revoke(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let (query, used_basic) = BackChannel::parse(&req, &body, TOKEN_QUERY_PARAMETERS).token_query();
    match state.service.revoke(query, state.clock.now()).await {
        Ok(()) => no_store(&mut HttpResponse::Ok()).finish(),
        Err(error) => token_error(&error, used_basic),
    }
}

/// `POST /auth/openid/introspect` (RFC 7662).
pub(crate) async fn introspect(state: State, req: HttpRequest, body: FormBody) -> HttpResponse {
    let (query, used_basic) = BackChannel::parse(&req, &body, TOKEN_QUERY_PARAMETERS).token_query();
    match state.service.introspect(query, state.clock.now()).await {
        Ok(answer) => no_store(&mut HttpResponse::Ok()).json(answer),
        Err(error) => token_error(&error, used_basic),
    }
}

/// `GET` and `POST /auth/openid/userinfo` with a bearer token (RFC 6750 2.1).
pub(crate) async fn userinfo(state: State, req: HttpRequest) -> HttpResponse {
    // No header, or another scheme, is no authentication at all: a bare
    // challenge without an error code (RFC 6750 3.1).
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| strip_scheme(v, "Bearer"));
    let Some(token) = bearer else {
        return bearer_error(None);
    };
    match state
        .service
        .userinfo(token.trim(), state.clock.now())
        .await
    {
        Ok(claims) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(claims),
        Err(error) => bearer_error(Some(&error)),
    }
}

#[cfg(test)]
mod tests {
    mod hostile_input {
        //! Property tests of the Basic header parser: it never panics on
        //! any header value, reads back exactly what RFC 6749 2.3.1's
        //! encoding wrote, calls everything else malformed, and never shows
        //! the secret in `Debug`.

        use actix_web::http::header::HeaderValue;
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        use porthor_models::AuthMethod;
        use proptest::prelude::*;

        use super::super::{BasicAuth, basic_credentials};

        /// Any byte a header value may hold (actix refuses control bytes
        /// other than tab before a handler sees them).
        fn header_byte() -> impl Strategy<Value = u8> {
            prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff]
        }

        /// Header values: anything at all, and values that look like Basic
        /// credentials often enough to reach past the scheme.
        fn header_value() -> impl Strategy<Value = HeaderValue> {
            prop_oneof![
                proptest::collection::vec(header_byte(), 0..120),
                "[Bb][Aa][Ss][Ii][Cc] {0,3}[A-Za-z0-9+/=: ]{0,60}".prop_map(String::into_bytes),
            ]
            .prop_filter_map("not a header value", |bytes| {
                HeaderValue::from_bytes(&bytes).ok()
            })
        }

        /// `Basic` in any case.
        fn any_case_basic() -> impl Strategy<Value = String> {
            proptest::collection::vec(any::<bool>(), 5).prop_map(|upper| {
                "basic"
                    .chars()
                    .zip(upper)
                    .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect()
            })
        }

        fn form_encode(text: &str) -> String {
            form_urlencoded::byte_serialize(text.as_bytes()).collect()
        }

        fn header(text: &str) -> HeaderValue {
            HeaderValue::from_str(text).unwrap()
        }

        fn is_malformed(value: &HeaderValue) -> bool {
            matches!(basic_credentials(value), BasicAuth::Malformed)
        }

        proptest! {
            #[test]
            fn accepted_headers_are_basic_with_an_id(value in header_value()) {
                match basic_credentials(&value) {
                    BasicAuth::Present(credentials) => {
                        let text = value.to_str().unwrap();
                        prop_assert!(text.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("basic ")));
                        prop_assert!(!credentials.client_id.is_empty());
                        prop_assert_ne!(credentials.client_secret.as_deref(), Some(""));
                        prop_assert_eq!(credentials.method, AuthMethod::ClientSecretBasic);
                    }
                    BasicAuth::Malformed => {}
                    // Only the missing header is absent.
                    BasicAuth::Absent => prop_assert!(false, "a present header read as absent"),
                }
            }

            #[test]
            fn encoded_credentials_read_back_exactly(
                id in any::<String>().prop_filter("an id", |id| !id.is_empty()),
                secret in any::<String>(),
                scheme in any_case_basic(),
                spaces in 1usize..4,
                trailing in 0usize..3,
            ) {
                let encoded = STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret)));
                let value = header(&format!(
                    "{scheme}{}{encoded}{}",
                    " ".repeat(spaces),
                    " ".repeat(trailing)
                ));
                let BasicAuth::Present(credentials) = basic_credentials(&value) else {
                    return Err(TestCaseError::fail(format!("{value:?} did not parse")));
                };
                prop_assert_eq!(&credentials.client_id, &id);
                // An empty secret is no secret: the client sent its id alone.
                prop_assert_eq!(
                    credentials.client_secret.as_deref(),
                    Some(secret.as_str()).filter(|s| !s.is_empty())
                );
                // Debug depends on whether there is a secret, never on what
                // it is.
                let mut other = credentials.clone();
                other.client_secret = other.client_secret.map(|_| "x".to_owned());
                prop_assert_eq!(format!("{credentials:?}"), format!("{other:?}"));
            }

            #[test]
            fn anything_but_base64_of_utf8_id_colon_is_malformed(
                bytes in proptest::collection::vec(any::<u8>(), 0..60),
                scheme in any_case_basic(),
            ) {
                let text = String::from_utf8(bytes.clone()).ok();
                let well_formed = text
                    .as_deref()
                    .and_then(|t| t.split_once(':'))
                    .is_some_and(|(id, _)| !id.is_empty());
                let value = header(&format!("{scheme} {}", STANDARD.encode(&bytes)));
                prop_assert_eq!(is_malformed(&value), !well_formed);
            }

            #[test]
            fn not_base64_is_malformed(
                scheme in any_case_basic(),
                junk in "[A-Za-z0-9+/=]{0,40}[-!\"#$%&'()*,.:;<>?@\\[\\]^_`{|}~\\\\][ -~]{0,10}",
            ) {
                let value = header(&format!("{scheme} {junk}"));
                prop_assert!(is_malformed(&value));
            }

            #[test]
            fn other_schemes_are_malformed(
                scheme in "[A-Za-z][A-Za-z0-9-]{0,10}"
                    .prop_filter("not basic", |s| !s.eq_ignore_ascii_case("basic")),
                id in "[a-z]{1,10}",
                secret in "[a-z]{0,10}",
            ) {
                let encoded = STANDARD.encode(format!("{id}:{secret}"));
                let other = header(&format!("{scheme} {encoded}"));
                // Nor does the scheme alone, or glued to its credentials, pass.
                let glued = header(&format!("Basic{encoded}"));
                prop_assert!(is_malformed(&other));
                prop_assert!(is_malformed(&glued));
                prop_assert!(is_malformed(&header(&scheme)));
            }
        }
    }
}
