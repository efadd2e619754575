//! Signing throughput of `Signer::sign`, and what jsonwebtoken's per-call key
//! re-parse would cost compared with the aws-lc key pair `Signer` keeps
//! parsed (the reason it signs without `jsonwebtoken::encode`).
//!
//! Run with `cargo run --release -p porthor-signer --example sign_throughput`.
//! Uses the throwaway test keys; every loop is bounded in time.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a measuring program, not library code"
)]

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use porthor_signer::Signer;
use serde::Serialize;

const RSA: &[u8] = include_bytes!("../tests/data/rsa-2048.pem");
const RSA_PKCS1: &[u8] = include_bytes!("../tests/data/rsa-2048-pkcs1.pem");
const EC: &[u8] = include_bytes!("../tests/data/ec-p256.pem");
const ED: &[u8] = include_bytes!("../tests/data/ed25519.pem");
const RUN: Duration = Duration::from_secs(2);

/// Roughly an ID token.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    auth_time: u64,
    nonce: &'a str,
    name: &'a str,
    email: &'a str,
}

const CLAIMS: Claims<'static> = Claims {
    iss: "https://id.example.test",
    sub: "248289761001",
    aud: "s6BhdRkqt3",
    exp: 1_700_000_600,
    iat: 1_700_000_000,
    auth_time: 1_699_999_990,
    nonce: "n-0S6_WzA2Mj",
    name: "Jane Doe",
    email: "janedoe@example.test",
};

/// Calls `f` on `threads` threads for [`RUN`]; returns calls per second.
fn rate(threads: usize, f: impl Fn() + Sync) -> f64 {
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while start.elapsed() < RUN {
                        f();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

fn der(pem_bytes: &[u8]) -> Vec<u8> {
    pem::parse(pem_bytes).unwrap().into_contents()
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("{cores} cores; each figure is a {RUN:?} run\n");

    for (name, pem_bytes) in [("RS256", RSA), ("ES256", EC), ("EdDSA", ED)] {
        let signer = Signer::from_pem(pem_bytes).unwrap();
        let sign = || {
            signer.sign(&CLAIMS).unwrap();
        };
        println!("{name} Signer::sign, 1 thread:  {:>8.0}/s", rate(1, sign));
        if cores > 1 {
            println!(
                "{name} Signer::sign, {cores} threads: {:>8.0}/s",
                rate(cores, sign)
            );
        }
        let token = signer.sign(&CLAIMS).unwrap();
        let verify = || {
            signer
                .verify::<serde_json::Value>(&token, CLAIMS.iss, CLAIMS.iat)
                .unwrap();
        };
        println!(
            "{name} Signer::verify, 1 thread: {:>8.0}/s",
            rate(1, verify)
        );
    }

    // The same signature with the aws-lc key pair parsed once, and the parse
    // alone: the difference is what jsonwebtoken's per-call re-parse costs.
    println!();
    let message = Signer::from_pem(RSA).unwrap().sign(&CLAIMS).unwrap();
    let message = message.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let rng = SystemRandom::new();

    let pkcs8 = der(RSA);
    let rsa = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
    // jsonwebtoken holds (and re-parses) PKCS#1 DER; this is the same key.
    let pkcs1 = der(RSA_PKCS1);
    let rsa_sign = || {
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut sig)
            .unwrap();
    };
    println!(
        "RS256 aws-lc, key kept parsed:  {:>8.0}/s",
        rate(1, rsa_sign)
    );
    if cores > 1 {
        println!(
            "RS256 aws-lc, key kept parsed, {cores} threads: {:>8.0}/s",
            rate(cores, rsa_sign)
        );
    }
    println!(
        "RS256 RsaKeyPair::from_der only:  {:>8.0}/s",
        rate(1, || {
            RsaKeyPair::from_der(&pkcs1).unwrap();
        })
    );
    println!(
        "RS256 from_der + sign (jsonwebtoken's path): {:>8.0}/s",
        rate(1, || {
            let pair = RsaKeyPair::from_der(&pkcs1).unwrap();
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut sig)
                .unwrap();
        })
    );

    let ec_der = der(EC);
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ec_der).unwrap();
    println!(
        "ES256 aws-lc, key kept parsed:  {:>8.0}/s",
        rate(1, || {
            ec.sign(&rng, &message).unwrap();
        })
    );
    println!(
        "ES256 EcdsaKeyPair::from_pkcs8 only: {:>8.0}/s",
        rate(1, || {
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ec_der).unwrap();
        })
    );

    let ed_der = der(ED);
    let ed = Ed25519KeyPair::from_pkcs8(&ed_der).unwrap();
    println!(
        "EdDSA aws-lc, key kept parsed:  {:>8.0}/s",
        rate(1, || {
            std::hint::black_box(ed.sign(&message));
        })
    );
    println!(
        "EdDSA Ed25519KeyPair::from_pkcs8 only: {:>8.0}/s",
        rate(1, || {
            Ed25519KeyPair::from_pkcs8(&ed_der).unwrap();
        })
    );
}
