//! Property tests of token verification, which reads what anyone sends as
//! an `id_token_hint`: whatever the text, it never panics, and only a token
//! a published key signed, unchanged, verifies. Keys are loaded (or made)
//! once, outside the cases, so that 256 cases each stay well under a
//! second.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;

use crate::{Signer, SigningAlgorithm, generate_pem};

use crate::tests::{Claims, ISSUER, NOW};

/// A signer of each algorithm, and the PEM of another key of the same
/// algorithm (the forger's).
struct Pair {
    signer: Signer,
    forger: Vec<u8>,
}

static PAIRS: LazyLock<Vec<Pair>> = LazyLock::new(|| {
    let pair = |pem: &[u8], forger: Vec<u8>| Pair {
        signer: Signer::from_pem(pem).unwrap(),
        forger,
    };
    let fresh = |alg| generate_pem(alg).unwrap().as_bytes().to_vec();
    vec![
        pair(
            include_bytes!("../tests/data/rsa-2048.pem"),
            include_bytes!("../tests/data/rsa-2048-b.pem").to_vec(),
        ),
        pair(
            include_bytes!("../tests/data/ec-p256.pem"),
            fresh(SigningAlgorithm::Es256),
        ),
        pair(
            include_bytes!("../tests/data/ed25519.pem"),
            fresh(SigningAlgorithm::EdDsa),
        ),
    ]
});

/// One token per signer, signed once.
static TOKENS: LazyLock<Vec<String>> = LazyLock::new(|| {
    PAIRS
        .iter()
        .map(|pair| pair.signer.sign(&claims("alice", NOW + 300)).unwrap())
        .collect()
});

fn claims(sub: &str, exp: u64) -> Claims {
    Claims {
        iss: ISSUER.to_owned(),
        sub: sub.to_owned(),
        aud: "client-1".to_owned(),
        exp,
    }
}

fn pair(index: usize) -> &'static Pair {
    &PAIRS[index % PAIRS.len()]
}

/// Whether `token` verifies at all, with or without the expiry check.
fn verifies(signer: &Signer, token: &str) -> bool {
    signer.verify::<Claims>(token, ISSUER, NOW).is_ok()
        || signer
            .verify_ignoring_expiry::<Claims>(token, ISSUER)
            .is_ok()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Text shaped like a compact JWS more and more closely: anything, three
/// base64url parts, and a real header (`alg` and `kid` of the signer) over
/// an arbitrary payload and signature.
fn hostile_token(index: usize) -> impl Strategy<Value = String> {
    let signer = &pair(index).signer;
    let header = format!(
        r#"{{"alg":"{}","kid":"{}","typ":"JWT"}}"#,
        signer.algorithm().as_str(),
        signer.kid()
    );
    let claims_json = format!(
        r#"{{"iss":"{ISSUER}","sub":"alice","aud":"client-1","exp":{}}}"#,
        NOW + 300
    );
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,90}",
        (
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..80),
                Just(claims_json.into_bytes()),
            ],
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(move |(payload, signature)| {
                format!(
                    "{}.{}.{}",
                    b64(header.as_bytes()),
                    b64(&payload),
                    b64(&signature)
                )
            }),
    ]
}

/// What a changed character becomes: the base64url alphabet, the
/// separator, padding, other base64's letters, space, non-ASCII.
fn replacement() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => proptest::char::ranges(vec!['A'..='Z', 'a'..='z', '0'..='9'].into()),
        1 => proptest::sample::select(vec!['-', '_', '.', '=', '+', '/', ' ', 'é', '\0']),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_verifies(
        (index, token) in (0usize..3).prop_flat_map(|i| (Just(i), hostile_token(i))),
    ) {
        prop_assert!(!verifies(&pair(index).signer, &token), "{}", token);
    }

    #[test]
    fn one_changed_character_never_verifies(
        index in 0usize..3,
        at in any::<proptest::sample::Index>(),
        with in replacement(),
    ) {
        let signer = &pair(index).signer;
        let token = &TOKENS[index];
        prop_assert!(verifies(signer, token), "the unchanged token verifies");
        let at = at.index(token.len());
        // The token is ASCII, so every index is a character boundary.
        prop_assume!(!token[at..].starts_with(with));
        let changed = format!("{}{with}{}", &token[..at], &token[at + 1..]);
        prop_assert!(!verifies(signer, &changed), "{} at {}", changed, at);
    }

    #[test]
    fn tokens_verify_only_as_signed(
        index in 0usize..3,
        sub in "[a-z]{1,12}",
        exp in NOW + 1..NOW + 1_000_000,
        secret in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let Pair { signer, forger } = pair(index);
        let claims = claims(&sub, exp);
        let token = signer.sign(&claims).unwrap();
        prop_assert_eq!(signer.verify::<Claims>(&token, ISSUER, NOW).unwrap(), claims.clone());
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        let (_, payload) = signing_input.split_once('.').unwrap();

        // The same claims and header, signed by another key of the same
        // algorithm.
        let alg = match signer.algorithm() {
            SigningAlgorithm::Rs256 => Algorithm::RS256,
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
        };
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(forger),
            Algorithm::ES256 => EncodingKey::from_ec_pem(forger),
            _ => EncodingKey::from_ed_pem(forger),
        }
        .unwrap();
        let mut header = Header::new(alg);
        header.kid = Some(signer.kid().to_owned());
        let forged = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        prop_assert!(!verifies(signer, &forged));

        // HS256 keyed with anything, including the public JWKS the forger
        // can read.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(signer.kid().to_owned());
        let jwks = serde_json::to_vec(signer.jwks()).unwrap();
        for secret in [secret.as_slice(), jwks.as_slice()] {
            let forged =
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
            prop_assert!(!verifies(signer, &forged));
        }

        // alg "none", with no signature or the real one.
        let none = b64(format!(r#"{{"alg":"none","kid":"{}","typ":"JWT"}}"#, signer.kid()).as_bytes());
        let (_, signature) = token.rsplit_once('.').unwrap();
        for signature in ["", signature] {
            let forged = format!("{none}.{payload}.{signature}");
            prop_assert!(!verifies(signer, &forged));
        }
    }
}

/// The last character of a base64url part carries spare bits: a lax
/// decoder reads some other last characters as the same bytes, which would
/// make a token malleable. Every one is tried, in each part.
#[test]
fn the_last_character_of_each_part_counts_in_full() {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (index, token) in TOKENS.iter().enumerate() {
        let signer = &pair(index).signer;
        let ends: Vec<usize> = token
            .match_indices('.')
            .map(|(at, _)| at - 1)
            .chain([token.len() - 1])
            .collect();
        for at in ends {
            for with in ALPHABET.chars().filter(|&c| !token[at..].starts_with(c)) {
                let changed = format!("{}{with}{}", &token[..at], &token[at + 1..]);
                assert!(!verifies(signer, &changed), "{changed} at {at}");
            }
        }
    }
}
