//! Micro benchmarks of the per-request domain work: parsing a presented
//! credential and checking its secret, and building the claims a token
//! releases. Run with `cargo bench -p porthor-models`.
#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use porthor_models::{AuthorizationCode, Scopes, User, UserClaims};

fn credentials(c: &mut Criterion) {
    let code = AuthorizationCode::generate();
    let text = code.expose();
    let stored = code.secret_hash();
    c.bench_function("code parse", |b| {
        b.iter(|| AuthorizationCode::parse(black_box(&text)).unwrap())
    });
    c.bench_function("code parse + secret check", |b| {
        b.iter(|| {
            let presented = AuthorizationCode::parse(black_box(&text)).unwrap();
            assert!(stored.verify(&presented.secret_hash()));
        });
    });
    c.bench_function("code parse, malformed", |b| {
        b.iter(|| AuthorizationCode::parse(black_box("pc-not-a-code.at-all")).is_err());
    });
}

fn claims(c: &mut Criterion) {
    let user = User {
        username: "alice".into(),
        name: Some("Alice Example".into()),
        email: Some("alice@example.com".into()),
        groups: vec![],
        password_hash: String::new(),
    };
    let scopes = Scopes::parse("openid profile email");
    c.bench_function("scopes parse", |b| {
        b.iter(|| Scopes::parse(black_box("openid profile email")))
    });
    c.bench_function("user claims build + serialize", |b| {
        b.iter(|| serde_json::to_vec(&UserClaims::for_scopes(black_box(&user), scopes)).unwrap());
    });
}

criterion_group!(benches, credentials, claims);
criterion_main!(benches);
