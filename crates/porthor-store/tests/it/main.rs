//! Integration tests of porthor-store, in one binary.
//!
//! `contract` runs the same checks of the `AuthorizationStore` contract
//! against both backends, and on a Redis Cluster; `redis` covers what only
//! Redis has (startup failures, an outage mid-flight, sharing one server
//! between prefixes, following a Sentinel failover). The Redis tests need
//! the servers `cargo xtask test` starts (`PORTHOR_TEST_REDIS_URL`,
//! `PORTHOR_TEST_REDIS_CLUSTER_URLS`, `PORTHOR_TEST_REDIS_SENTINEL_URLS`)
//! and fail without them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

mod contract;
mod redis;
