//! The pages people see: templates, the stylesheet, the logo and the message
//! catalogue, and the language each browser is answered in.
//!
//! The built-in templates, stylesheet and catalogues are embedded in the
//! binary (`include_str!`); an operator replaces any of them without
//! rebuilding ([`UiSettings`]). [`Ui::load`] reads every override, parses
//! every template and renders every page once with sample values, so a
//! broken override fails at start (and in `porthor check-config`), never in
//! front of a user. Templates are minijinja, escaped by default (their names
//! end in `.html`); text comes from the catalogue through `t("key",
//! name=value)`, so no template holds a sentence.
//!
//! This module must not know the protocol (what a page's values mean is the
//! handlers'), nor where its settings come from (the binary reads the
//! configuration).

mod catalogue;
mod lang;

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Kwargs, Value};
use minijinja::{
    AutoEscape, Environment, Error as TemplateError, ErrorKind, Output, State, context,
    escape_formatter,
};

pub use self::catalogue::Catalogue;
use self::lang::negotiate;

/// The product's name when the operator names none.
pub const DEFAULT_PRODUCT_NAME: &str = "Porthor";

/// The built-in templates, by name. Every page extends `layout.html`.
const TEMPLATES: [(&str, &str); 10] = [
    ("layout.html", include_str!("templates/layout.html")),
    ("login.html", include_str!("templates/login.html")),
    ("logged_in.html", include_str!("templates/logged_in.html")),
    ("logout.html", include_str!("templates/logout.html")),
    ("logged_out.html", include_str!("templates/logged_out.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("error.html", include_str!("templates/error.html")),
    ("landing.html", include_str!("templates/landing.html")),
    ("demo.html", include_str!("templates/demo.html")),
    (
        "demo_logged_out.html",
        include_str!("templates/demo_logged_out.html"),
    ),
];

/// The built-in stylesheet.
const STYLE: &str = include_str!("style.css");
/// The built-in icon, which browsers ask for on every first visit (a
/// configured logo takes its place).
const ICON: &str = include_str!("icon.svg");

/// Where the stylesheet and the logo are served, under the issuer's path.
pub(crate) const STYLE_PATH: &str = "/static/style.css";
/// See [`STYLE_PATH`].
pub(crate) const LOGO_PATH: &str = "/static/logo";
/// See [`STYLE_PATH`].
pub(crate) const ICON_PATH: &str = "/static/icon.svg";

/// What the operator chose for the pages; every path is already resolved
/// (the binary resolves them against the configuration file's directory).
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Shown in every page's header and title.
    pub product_name: String,
    /// An image shown beside the product name (PNG, JPEG, GIF, WebP or SVG).
    pub logo_file: Option<PathBuf>,
    /// Replaces the built-in stylesheet.
    pub css_file: Option<PathBuf>,
    /// A template here (`login.html`, ...) replaces the built-in one of the
    /// same name, and `messages.<lang>.toml` here overrides or adds strings.
    pub template_dir: Option<PathBuf>,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            logo_file: None,
            css_file: None,
            template_dir: None,
        }
    }
}

/// Why the pages could not be prepared: an override is unreadable or broken.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The logo's file name does not say which kind of image it is.
    #[error("{}: the logo must be a .png, .jpg, .jpeg, .gif, .webp or .svg file", path.display())]
    LogoType {
        /// The file.
        path: PathBuf,
    },
    /// A template does not parse, or fails to render a sample page.
    #[error("template {name}: {source:#}")]
    Template {
        /// The template's name (its file name in the template directory).
        name: String,
        /// What is wrong, with the line.
        #[source]
        source: TemplateError,
    },
    /// A message catalogue is not a TOML table of strings.
    #[error("{}: {detail}", path.display())]
    Messages {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// A static file served with the pages: its bytes, type and a short hash
/// of its content, put in its URL so that browsers may cache it for good.
#[derive(Debug, Clone)]
pub(crate) struct Asset {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) content_type: &'static str,
    pub(crate) version: String,
}

impl Asset {
    fn new(bytes: Vec<u8>, content_type: &'static str) -> Self {
        // Not a security hash: it only changes the URL when the file changes.
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        Self {
            bytes: bytes.into(),
            content_type,
            version: format!("{:016x}", hasher.finish()),
        }
    }
}

fn icon() -> Asset {
    Asset::new(ICON.into(), "image/svg+xml")
}

/// The prepared pages: templates, catalogue, stylesheet and logo.
#[derive(Debug)]
pub struct Ui {
    env: Environment<'static>,
    catalogue: Arc<Catalogue>,
    product_name: String,
    pub(crate) style: Asset,
    pub(crate) logo: Option<Asset>,
    pub(crate) icon: Asset,
}

impl Default for Ui {
    /// The built-in pages. They are checked by this crate's tests, so
    /// preparing them cannot fail; should it all the same, the pages are
    /// left without templates and answer a plain error.
    fn default() -> Self {
        match Self::load(&UiSettings::default()) {
            Ok(ui) => ui,
            Err(error) => {
                tracing::error!(error = %error, "the built-in pages are broken");
                Self {
                    env: Environment::new(),
                    catalogue: Arc::new(Catalogue::default()),
                    product_name: DEFAULT_PRODUCT_NAME.to_owned(),
                    style: Asset::new(STYLE.into(), "text/css; charset=utf-8"),
                    logo: None,
                    icon: icon(),
                }
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, UiError> {
    std::fs::read(path).map_err(|source| UiError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_text(path: &Path) -> Result<String, UiError> {
    std::fs::read_to_string(path).map_err(|source| UiError::Read {
        path: path.to_owned(),
        source,
    })
}

fn logo_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

impl Ui {
    /// Reads the overrides `settings` names and prepares every page,
    /// rendering each once to check it.
    pub fn load(settings: &UiSettings) -> Result<Self, UiError> {
        let mut catalogue = Catalogue::builtin().map_err(|detail| UiError::Messages {
            path: PathBuf::from("(built-in)"),
            detail,
        })?;
        let mut env = Environment::new();
        env.set_formatter(html_formatter);
        for (name, builtin) in TEMPLATES {
            let source = match &settings.template_dir {
                Some(dir) if dir.join(name).is_file() => read_text(&dir.join(name))?,
                _ => builtin.to_owned(),
            };
            env.add_template_owned(name, source)
                .map_err(|source| UiError::Template {
                    name: name.to_owned(),
                    source,
                })?;
        }
        if let Some(dir) = &settings.template_dir {
            let entries = std::fs::read_dir(dir).map_err(|source| UiError::Read {
                path: dir.clone(),
                source,
            })?;
            for entry in entries {
                let path = entry
                    .map_err(|source| UiError::Read {
                        path: dir.clone(),
                        source,
                    })?
                    .path();
                let Some(lang) = path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.strip_prefix("messages."))
                    .and_then(|name| name.strip_suffix(".toml"))
                else {
                    continue;
                };
                let text = read_text(&path)?;
                catalogue
                    .merge(lang, &text)
                    .map_err(|detail| UiError::Messages {
                        path: path.clone(),
                        detail,
                    })?;
            }
        }
        let catalogue = Arc::new(catalogue);
        let messages = Arc::clone(&catalogue);
        env.add_function(
            "t",
            move |state: &State<'_, '_>, key: &str, kwargs: Kwargs| {
                translate(&messages, state, key, &kwargs)
            },
        );
        let messages = Arc::clone(&catalogue);
        env.add_function(
            "t_strong",
            move |state: &State<'_, '_>, key: &str, kwargs: Kwargs| {
                translate_strong(&messages, state, key, &kwargs)
            },
        );
        let style = match &settings.css_file {
            Some(path) => read(path)?,
            None => STYLE.as_bytes().to_vec(),
        };
        let logo = match &settings.logo_file {
            Some(path) => {
                let content_type =
                    logo_type(path).ok_or_else(|| UiError::LogoType { path: path.clone() })?;
                Some(Asset::new(read(path)?, content_type))
            }
            None => None,
        };
        let ui = Self {
            env,
            catalogue,
            product_name: settings.product_name.clone(),
            style: Asset::new(style, "text/css; charset=utf-8"),
            logo,
            icon: icon(),
        };
        ui.check()?;
        Ok(ui)
    }

    /// Renders every page in every language with sample values, so that an
    /// error an override makes only at rendering (an unknown message key, a
    /// filter that does not exist) shows at start.
    fn check(&self) -> Result<(), UiError> {
        let hidden = vec![("state", "s")];
        let samples = [
            (
                "login.html",
                context! { action => "/login", csrf => "c", username => "u", rd => "/x",
                client_name => "App", error => "e" },
            ),
            (
                "logged_in.html",
                context! { username => "u", logout_url => "/logout" },
            ),
            (
                "logout.html",
                context! { action => "/logout", csrf => "c", username => "u", hidden => hidden },
            ),
            ("logged_out.html", context! {}),
            (
                "consent.html",
                context! { action => "/consent", csrf => "c", client_name => "App", username => "u",
                releases => vec!["consent.scope.openid"], login_session => "s", request => "r" },
            ),
            (
                "landing.html",
                context! { version => "0", issuer => "http://i", discovery_url => "http://d",
                jwks_url => "http://j", demo_url => "/demo/start" },
            ),
            (
                "demo.html",
                context! { client_id => "demo", header => "{}", claims => vec![("sub", "u")],
                kid => "k", alg => "ES256", jwks_url => "http://j", userinfo => vec![("sub", "u")],
                userinfo_error => "e", refreshes => 1, refreshable => true, form_token => "f",
                refresh_action => "/demo/refresh", logout_action => "/demo/logout" },
            ),
            (
                "demo_logged_out.html",
                context! { start_url => "/demo/start", home_url => "/" },
            ),
        ];
        let mut samples: Vec<(&str, Value)> = samples.into_iter().collect();
        for kind in ErrorKindKey::ALL {
            samples.push((
                "error.html",
                context! { kind => kind.key(), description => "d", code => "invalid_request",
                retry_url => "/demo/start" },
            ));
        }
        for lang in self.catalogue.languages() {
            for (name, values) in &samples {
                self.render(name, lang, "/", values.clone())
                    .map_err(|source| UiError::Template {
                        name: (*name).to_owned(),
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// The language to answer a browser sending `accept_language` in.
    pub(crate) fn language(&self, accept_language: Option<&str>) -> String {
        negotiate(accept_language, |lang| self.catalogue.has(lang))
    }

    /// A message from the catalogue in `lang`, `{name}`s filled from `args`.
    pub(crate) fn text(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
        self.catalogue
            .get(lang, key)
            .map_or_else(|| key.to_owned(), |text| fill(text, args.iter().copied()))
    }

    /// Renders the template `name` in `lang`, with `values` and what every
    /// page shares; `base` is the issuer's path, under which the stylesheet
    /// and the logo are served.
    pub(crate) fn render(
        &self,
        name: &str,
        lang: &str,
        base: &str,
        values: Value,
    ) -> Result<String, TemplateError> {
        let base = base.trim_end_matches('/');
        let css_url = format!("{base}{STYLE_PATH}?v={}", self.style.version);
        let logo_url = self
            .logo
            .as_ref()
            .map(|logo| format!("{base}{LOGO_PATH}?v={}", logo.version));
        let icon_url = logo_url
            .clone()
            .unwrap_or_else(|| format!("{base}{ICON_PATH}?v={}", self.icon.version));
        let shared = context! {
            lang => lang,
            product_name => &self.product_name,
            css_url => css_url,
            logo_url => logo_url,
            icon_url => icon_url,
        };
        self.env
            .get_template(name)?
            .render(context! { ..values, ..shared })
    }
}

/// Writes a value into an HTML template, escaping the five characters that
/// matter in element text and quoted attributes. minijinja's own escaping
/// also turns `/` into `&#x2f;`, which is valid but makes every URL in a
/// page unreadable to anything that is not a full HTML parser.
fn html_formatter(
    out: &mut Output<'_>,
    state: &State<'_, '_>,
    value: &Value,
) -> Result<(), TemplateError> {
    if !matches!(state.auto_escape(), AutoEscape::Html) || value.is_safe() || value.is_none() {
        return escape_formatter(out, state, value);
    }
    out.write_str(&escape(&value.to_string()))
        .map_err(|_| TemplateError::new(ErrorKind::WriteFailure, "cannot write the page"))
}

/// `text` escaped for HTML element text or a double-quoted attribute.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `t(key, name=value, ...)` in a template: the message `key` in the page's
/// language (falling back to English), with each `{name}` replaced. An
/// unknown key is an error, so that a typo in an override fails the check.
/// The result is plain text, escaped where the template writes it.
fn translate(
    catalogue: &Catalogue,
    state: &State<'_, '_>,
    key: &str,
    kwargs: &Kwargs,
) -> Result<String, TemplateError> {
    let (text, args) = message(catalogue, state, key, kwargs)?;
    Ok(fill(
        text,
        args.iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    ))
}

/// `t_strong(key, name=value, ...)`: like `t`, but each value is set in
/// `<strong>` (a client's name, a username). The message and the values
/// are escaped here, and the result is marked safe.
fn translate_strong(
    catalogue: &Catalogue,
    state: &State<'_, '_>,
    key: &str,
    kwargs: &Kwargs,
) -> Result<Value, TemplateError> {
    let (text, args) = message(catalogue, state, key, kwargs)?;
    let args: Vec<(String, String)> = args
        .into_iter()
        .map(|(name, value)| (name, format!("<strong>{}</strong>", escape(&value))))
        .collect();
    Ok(Value::from_safe_string(fill(
        &escape(text),
        args.iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )))
}

/// The message `key` in the page's language and the named values for it.
fn message<'c>(
    catalogue: &'c Catalogue,
    state: &State<'_, '_>,
    key: &str,
    kwargs: &Kwargs,
) -> Result<(&'c str, BTreeMap<String, String>), TemplateError> {
    let lang = state
        .lookup("lang")
        .and_then(|lang| lang.as_str().map(str::to_owned))
        .unwrap_or_default();
    let text = catalogue.get(&lang, key).ok_or_else(|| {
        TemplateError::new(
            ErrorKind::InvalidOperation,
            format!("no message {key:?} in the catalogue"),
        )
    })?;
    let mut args = BTreeMap::new();
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        args.insert(name.to_owned(), value.to_string());
    }
    Ok((text, args))
}

/// `text` with each `{name}` replaced by its value, in one pass: a value
/// that itself holds `{name}` is left as it is.
fn fill<'a>(text: &str, args: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let args: BTreeMap<&str, &str> = args.collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        let value = after
            .find('}')
            .and_then(|close| Some((close, args.get(after.get(1..close)?)?)));
        match value {
            Some((close, value)) => {
                out.push_str(value);
                rest = after.get(close + 1..).unwrap_or_default();
            }
            None => {
                out.push('{');
                rest = after.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// The kinds of error page, each with its own title, explanation and next
/// step in the catalogue (`error.<kind>.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKindKey {
    UnknownClient,
    BadRedirect,
    FormExpired,
    BadRequest,
    Throttled,
    Unavailable,
    Internal,
    /// The demo relying party's: no login under way in this browser.
    DemoExpired,
    /// The demo's callback did not come back with its state.
    DemoState,
    /// The login was cancelled or denied.
    DemoDenied,
    /// The demo could not redeem the code or verify what it received.
    DemoFailed,
}

impl ErrorKindKey {
    const ALL: [Self; 11] = [
        Self::UnknownClient,
        Self::BadRedirect,
        Self::FormExpired,
        Self::BadRequest,
        Self::Throttled,
        Self::Unavailable,
        Self::Internal,
        Self::DemoExpired,
        Self::DemoState,
        Self::DemoDenied,
        Self::DemoFailed,
    ];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::UnknownClient => "error.unknown_client",
            Self::BadRedirect => "error.bad_redirect",
            Self::FormExpired => "error.form_expired",
            Self::BadRequest => "error.bad_request",
            Self::Throttled => "error.throttled",
            Self::Unavailable => "error.unavailable",
            Self::Internal => "error.internal",
            Self::DemoExpired => "error.demo_expired",
            Self::DemoState => "error.demo_state",
            Self::DemoDenied => "error.demo_denied",
            Self::DemoFailed => "error.demo_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_pages_parse_and_render_in_every_language() {
        let ui = Ui::load(&UiSettings::default()).unwrap();
        assert!(ui.catalogue.has("en") && ui.catalogue.has("de"));
    }

    #[test]
    fn every_english_key_is_in_german_too() {
        let catalogue = Catalogue::builtin().unwrap();
        let missing = catalogue.missing("de");
        assert!(missing.is_empty(), "missing in de.toml: {missing:?}");
    }

    #[test]
    fn values_in_pages_are_escaped() {
        let ui = Ui::default();
        let page = ui
            .render(
                "login.html",
                "en",
                "",
                context! { action => "/login", csrf => "c", username => "<u>", rd => "\"><script>",
                client_name => "<b>Evil</b>", error => "<e>" },
            )
            .unwrap();
        for raw in ["<u>", "<script>", "<b>", "<e>"] {
            assert!(!page.contains(raw), "{raw} in {page}");
        }
        let consent = ui
            .render(
                "consent.html",
                "en",
                "",
                context! { action => "/consent", csrf => "c", client_name => "<b>Evil</b>",
                username => "<u>", releases => vec!["consent.scope.email"], login_session => "s",
                request => "a=1&state=\"><script>" },
            )
            .unwrap();
        for raw in ["<b>", "<u>", "<script>", "&state"] {
            assert!(!consent.contains(raw), "{raw} in {consent}");
        }
    }

    #[test]
    fn escaping_keeps_urls_readable() {
        let ui = Ui::default();
        let page = ui
            .render(
                "logged_in.html",
                "en",
                "",
                context! { username => "<a href=\"x\">'&'</a>", logout_url => "/idp/logout?a=1&b=2" },
            )
            .unwrap();
        assert!(page.contains("href=\"/idp/logout?a=1&amp;b=2\""), "{page}");
        assert!(
            page.contains("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"),
            "{page}"
        );
    }

    #[test]
    fn placeholders_are_filled_once() {
        let args = [("client", "{user}"), ("user", "alice")];
        assert_eq!(
            fill("{client} asks {user} {other} {", args.into_iter()),
            "{user} asks alice {other} {"
        );
    }

    #[test]
    fn placeholders_are_filled() {
        let ui = Ui::default();
        assert_eq!(
            ui.text("de", "login.throttled_many", &[("minutes", "15")]),
            "Zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in 15 Minuten erneut."
        );
    }
}
