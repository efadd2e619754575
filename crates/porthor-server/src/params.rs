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

    mod hostile_input {
        //! Property tests: the parsers of query strings, forms and Basic
        //! credentials never panic on any bytes, and keep their rules.

        use proptest::prelude::*;

        use super::super::*;

        /// Bytes shaped like forms often enough (names, `=`, `&`, escapes,
        /// repeats), mixed with anything at all.
        fn form_bytes() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                "([a-z_]{1,6}=[a-zA-Z0-9%+&=._~-]{0,12}&?){0,8}".prop_map(String::into_bytes),
            ]
        }

        proptest! {
            #[test]
            fn parsed_forms_keep_the_duplicate_rule(input in form_bytes()) {
                let params = Params::parse(&input);
                for name in ["a", "b", "code", "state", "scope"] {
                    let values: Vec<&String> = params
                        .pairs
                        .iter()
                        .filter(|(n, v)| n == name && !v.is_empty())
                        .map(|(_, v)| v)
                        .collect();
                    // `get` is the first non-empty value, and a name counts
                    // as repeated exactly when it has two of them.
                    prop_assert_eq!(params.get(name), values.first().map(|v| v.as_str()));
                    prop_assert_eq!(params.repeated(&[name]).is_some(), values.len() > 1);
                }
            }

            #[test]
            fn re_encoded_forms_parse_back_the_same(input in form_bytes()) {
                let params = Params::parse(&input);
                let again = Params::parse(params.encode_without(&["drop"]).as_bytes());
                let kept: Vec<&(String, String)> =
                    params.pairs.iter().filter(|(n, _)| n != "drop").collect();
                prop_assert_eq!(again.pairs.iter().collect::<Vec<_>>(), kept);
            }

            #[test]
            fn form_decoding_undoes_encoding_and_stays_bounded(text in any::<String>()) {
                let encoded: String =
                    form_urlencoded::byte_serialize(text.as_bytes()).collect();
                prop_assert_eq!(form_decode(&encoded), text.clone());
                // Decoding anything never panics, and at worst turns each
                // byte into a three-byte replacement character.
                prop_assert!(form_decode(&text).len() <= 3 * text.len().max(1));
            }
        }
    }
}
