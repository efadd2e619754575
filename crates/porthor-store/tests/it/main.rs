//! Integration tests of porthor-store, in one binary.
//!
//! `contract` runs the same checks of the `AuthorizationStore` contract
//! against both backends; `redis` covers what only Redis has (startup
//! failures, an outage mid-flight, sharing one server between prefixes).
//! The Redis tests need `PORTHOR_TEST_REDIS_URL` and fail without it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

mod contract;
mod redis;
