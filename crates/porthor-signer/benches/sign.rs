//! Micro benchmarks of ID token signing and verification per algorithm, with
//! claims shaped like a Porthor ID token. Run with
//! `cargo bench -p porthor-signer`.
#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use porthor_signer::Signer;
use serde::Serialize;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    auth_time: u64,
    jti: &'a str,
    nonce: &'a str,
    sub: &'a str,
    preferred_username: &'a str,
    name: &'a str,
    email: &'a str,
}

const CLAIMS: Claims<'static> = Claims {
    iss: "https://auth.example.com",
    aud: "chronograf",
    exp: 4_000_003_600,
    iat: 4_000_000_000,
    auth_time: 3_999_999_990,
    jti: "ilim2LIPvwNt5vQV29qfCw",
    nonce: "n-0S6_WzA2Mj",
    sub: "alice",
    preferred_username: "alice",
    name: "Alice Example",
    email: "alice@example.com",
};

fn sign_and_verify(c: &mut Criterion) {
    for (alg, pem) in [
        ("RS256", &include_bytes!("../tests/data/rsa-2048.pem")[..]),
        ("ES256", &include_bytes!("../tests/data/ec-p256.pem")[..]),
        ("EdDSA", &include_bytes!("../tests/data/ed25519.pem")[..]),
    ] {
        let signer = Signer::from_pem(pem).unwrap();
        c.bench_function(&format!("{alg} sign"), |b| {
            b.iter(|| signer.sign(black_box(&CLAIMS)).unwrap())
        });
        let token = signer.sign(&CLAIMS).unwrap();
        c.bench_function(&format!("{alg} verify"), |b| {
            b.iter(|| {
                signer
                    .verify::<serde_json::Value>(black_box(&token), CLAIMS.iss, CLAIMS.iat)
                    .unwrap()
            });
        });
    }
}

criterion_group!(benches, sign_and_verify);
criterion_main!(benches);
