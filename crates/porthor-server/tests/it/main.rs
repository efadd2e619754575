//! Porthor over HTTP: a real server on a loopback port, on the memory store
//! and on the test Redis (`cargo xtask test` provides it), driven by a real
//! HTTP client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod harness;

mod audit;
mod authorize;
mod clients;
mod conformance;
mod consent;
mod cookies;
mod demo;
mod discovery;
mod end_session;
mod introspection;
mod login;
mod metrics;
mod pages;
mod password_queue;
mod pkce;
mod prompt;
mod refresh;
mod relying_party;
mod request_id;
mod request_limits;
mod revocation;
mod scope_policy;
mod security_lessons;
mod sessions;
mod throttle;
mod token;
mod unavailable;
mod userinfo;
