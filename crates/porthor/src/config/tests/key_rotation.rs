//! `signing.previous_key_files`: keys from before a rotation.

use porthor_signer::{Signer, SigningAlgorithm};

use super::{Fixture, good_toml};

/// Key rotation: previous keys are published after the current one, and a
/// token signed by one of them still verifies; the current key signs.
#[test]
fn previous_signing_keys_are_published() {
    let fixture = Fixture::new();
    let old = porthor_signer::generate_pem(SigningAlgorithm::Rs256).unwrap();
    fixture.write_key("secrets/old.pem", old.as_str());
    let toml = good_toml().replace(
        "key_file = \"secrets/signing.pem\"",
        "key_file = \"secrets/signing.pem\"\nprevious_key_files = [\"secrets/old.pem\"]",
    );
    let config = fixture.load(&toml, &[]).unwrap();
    let old_signer = Signer::from_pem(old.as_bytes()).unwrap();
    let kids: Vec<&str> = config
        .signer
        .jwks()
        .keys
        .iter()
        .map(|key| key.kid.as_str())
        .collect();
    assert_eq!(kids, [config.signer.kid(), old_signer.kid()]);
    let claims = serde_json::json!({"iss": "https://auth.example.com", "exp": 4_000_000_000u64});
    let by_old = old_signer.sign(&claims).unwrap();
    let verified: serde_json::Value = config
        .signer
        .verify(&by_old, "https://auth.example.com", 1)
        .unwrap();
    assert_eq!(verified["exp"], 4_000_000_000u64);
}
