//! Parameters from a query string or form body, with the duplicate check
//! RFC 6749 3.1 and 3.2 require ("request and response parameters MUST NOT be
//! included more than once").

/// The decoded `name=value` pairs of a query string or an
/// `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn parse(input: &[u8]) -> Self {
        let pairs = form_urlencoded::parse(input)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Self { pairs }
    }

    /// The value of `name`. A parameter sent without a value counts as
    /// omitted (RFC 6749 3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// [`Params::get`], owned.
    pub(crate) fn take(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// The first of `names` (in that order) sent with a value more than once.
    pub(crate) fn repeated(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find(|name| {
                self.pairs
                    .iter()
                    .filter(|(n, v)| n == *name && !v.is_empty())
                    .nth(1)
                    .is_some()
            })
            .map(|name| (*name).to_owned())
    }

    /// The parameters re-encoded, less `dropped`, for sending the same
    /// request on later (the authorization request survives the detour
    /// through `/login`).
    pub(crate) fn encode_without(&self, dropped: &[&str]) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in self
            .pairs
            .iter()
            .filter(|(name, _)| !dropped.contains(&name.as_str()))
        {
            out.append_pair(name, value);
        }
        out.finish()
    }
}

/// Decodes an `application/x-www-form-urlencoded` component: the client id
/// and secret inside HTTP Basic credentials are encoded this way (RFC 6749
/// 2.3.1), so `%3A` in a secret stands for a colon.
pub(crate) fn form_decode(component: &str) -> String {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_do_not_repeat() {
        let params = Params::parse(b"a=&a=1&b=2&b=3&c=");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("c"), None);
        assert_eq!(params.repeated(&["a", "c"]), None);
        assert_eq!(params.repeated(&["a", "b"]).as_deref(), Some("b"));
    }

    #[test]
    fn form_decoding_of_basic_credentials() {
        assert_eq!(form_decode("a%3Ab+c%25"), "a:b c%");
        assert_eq!(form_decode("plain"), "plain");
        assert_eq!(form_decode("a&b=c"), "a&b=c");
    }

    #[test]
    fn encode_round_trips() {
        let params = Params::parse(b"scope=openid+email&state=a%26b");
        let encoded = params.encode_without(&["scope"]);
        assert_eq!(Params::parse(encoded.as_bytes()).get("state"), Some("a&b"));
        assert_eq!(Params::parse(encoded.as_bytes()).get("scope"), None);
    }
}
