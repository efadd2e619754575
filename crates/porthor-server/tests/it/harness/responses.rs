//! Reading the server's answers: redirects, cookies, pages, JSON bodies,
//! token endpoint errors, and the parts of a JWT.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use url::Url;

/// Where a redirect goes; asserts that it goes somewhere absolute.
pub fn location(response: &Response) -> Url {
    let location = response
        .headers()
        .get(LOCATION)
        .expect("Location header")
        .to_str()
        .unwrap();
    Url::parse(location).unwrap_or_else(|_| panic!("Location {location} is not absolute"))
}

/// The first value of query parameter `name` in `url`.
pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value a response's `Set-Cookie` gives cookie `name`, if it sets it.
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    set_cookie_header(response, name).and_then(|header| {
        header
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .map(|(_, value)| value.to_owned())
    })
}

/// The whole `Set-Cookie` header for cookie `name`.
pub fn set_cookie_header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of `<input type="hidden" name="{name}" value="...">` in a page.
pub fn hidden_field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body.get(start..)?.find('"')? + start;
    body.get(start..end).map(str::to_owned)
}

/// A consent page as the browser received it: the page, the CSRF cookie it
/// set, and its form's hidden fields.
#[derive(Debug, Clone)]
pub struct ConsentPage {
    pub body: String,
    /// Set unless the browser sent one, which it then keeps using.
    pub csrf_cookie: Option<String>,
    pub csrf_token: String,
    pub login_session: String,
    /// The authorization request the form carries, unescaped.
    pub request: String,
}

/// Reads the consent page in `response`: 200, HTML that is not cached, the
/// form and its fields. Asserts that it is one.
pub async fn consent_page(response: Response) -> ConsentPage {
    assert_eq!(response.status(), StatusCode::OK, "not a consent page");
    assert!(has_content_type(&response, "text/html"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let csrf_cookie = set_cookie(&response, "porthor_csrf");
    let body = response.text().await.unwrap();
    assert!(body.contains("Allow access?"), "{body}");
    let field = |name| hidden_field(&body, name).unwrap_or_else(|| panic!("no {name} in {body}"));
    let (csrf_token, login_session) = (field("csrf_token"), field("login_session"));
    let request = field("request").replace("&amp;", "&");
    ConsentPage {
        csrf_cookie,
        csrf_token,
        login_session,
        request,
        body,
    }
}

/// Whether the response's `Content-Type` is `media_type`.
pub fn has_content_type(response: &Response, media_type: &str) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(media_type))
}

/// Decodes a JSON body, asserting the status first.
pub async fn json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts a token endpoint error: status, error code, no-store.
pub async fn token_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let body = json(response, status).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

/// Asserts an error page shown to the user, never a redirect: 400, HTML, no
/// `Location`. `what` names the case in failures. Returns the page.
pub async fn error_page(response: Response, what: &str) -> String {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
    assert!(
        response.headers().get(LOCATION).is_none(),
        "{what}: redirected to {:?}",
        response.headers().get(LOCATION)
    );
    assert!(has_content_type(&response, "text/html"), "{what}");
    response.text().await.unwrap()
}

/// A string member of a JSON object, such as a token in a token response.
pub fn text(value: &Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name} in {value}"))
        .to_owned()
}

/// The header of a compact JWS, unverified.
pub fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

/// The claims of a compact JWS, unverified.
pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}
