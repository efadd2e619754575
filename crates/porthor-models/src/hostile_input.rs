//! Property tests of the parsers that read what requests send: whatever the
//! input, they never panic, and what they accept keeps the invariants the
//! rest of Porthor relies on. Run with the unit tests (so in CI), at
//! proptest's default 256 cases each.

use proptest::prelude::*;

use crate::{
    AccessToken, AuthorizationCode, CodeChallenge, Credential, CredentialKind, RecordKey,
    RedirectUri, RefreshToken, Scopes, SessionToken,
};

/// Strings that look like credentials, keys and URIs often enough to reach
/// past the first check, mixed with anything at all.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(pc|pat|prt|ps)-[A-Za-z0-9_-]{0,50}(\\.[A-Za-z0-9_.-]{0,50})?",
        "[A-Za-z0-9_-]{20,24}",
        "(https?|ftp|javascript)://[a-zA-Z0-9@:.\\[\\]/;%?#=&_-]{0,40}",
    ]
}

/// An accepted credential is exactly its canonical text, and `Debug` never
/// shows its secret.
fn check_credential<K: CredentialKind>(text: &str) -> Result<(), TestCaseError> {
    if let Ok(credential) = Credential::<K>::parse(text) {
        prop_assert_eq!(credential.expose(), text);
        let secret = text
            .rsplit_once('.')
            .map(|(_, secret)| secret)
            .unwrap_or("");
        let debug = format!("{credential:?}");
        prop_assert!(secret.len() < 8 || !debug.contains(secret), "{}", debug);
    }
    Ok(())
}

proptest! {
    #[test]
    fn credential_parsing_round_trips_and_hides_secrets(text in hostile()) {
        check_credential::<crate::credential::Code>(&text)?;
        check_credential::<crate::credential::Access>(&text)?;
        check_credential::<crate::credential::Refresh>(&text)?;
        check_credential::<crate::credential::Session>(&text)?;
        // The aliases are the same parsers.
        let _ = (
            AuthorizationCode::parse(&text),
            AccessToken::parse(&text),
            RefreshToken::parse(&text),
            SessionToken::parse(&text),
        );
    }

    #[test]
    fn record_keys_parse_only_as_themselves(text in hostile()) {
        if let Some(key) = RecordKey::parse(&text) {
            prop_assert_eq!(key.as_str(), text.as_str());
        }
    }

    #[test]
    fn accepted_redirect_uris_keep_the_registration_rules(text in hostile()) {
        if let Ok(uri) = RedirectUri::parse(&text) {
            let parsed = url::Url::parse(uri.as_str()).unwrap();
            prop_assert_eq!(parsed.as_str(), text.as_str(), "canonical form");
            prop_assert!(matches!(parsed.scheme(), "https" | "http"));
            prop_assert!(parsed.fragment().is_none());
            prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
            prop_assert!(!parsed.path().contains(';') && !parsed.path().contains("//"));
        }
    }

    #[test]
    fn scopes_print_as_they_parse(text in any::<String>()) {
        let scopes = Scopes::parse(&text);
        prop_assert_eq!(Scopes::parse(&scopes.to_string()), scopes);
        if let Some(known) = Scopes::parse_known(&text) {
            prop_assert_eq!(known, scopes);
        }
    }

    #[test]
    fn pkce_challenges_verify_only_their_verifier(
        challenge in "[A-Za-z0-9_-]{0,130}",
        verifier in "[A-Za-z0-9._~-]{0,130}",
    ) {
        if let Some(parsed) = CodeChallenge::parse_s256(&challenge) {
            prop_assert!(challenge.len() == 43, "{}", challenge);
            // A random verifier matching a random challenge would be a
            // SHA-256 preimage.
            prop_assert!(!parsed.verify(&verifier));
        }
    }
}
