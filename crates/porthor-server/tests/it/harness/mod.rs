//! The test harness: a real Porthor server on a loopback port, on the memory
//! store or the test Redis, running on a clock the test moves, and a client
//! that speaks to it like a browser and a relying party.
//!
//! - `server.rs`: [`Harness`], [`Options`] and starting a server;
//! - `client.rs`: the requests a browser and a relying party make;
//! - `fixtures.rs`: the clients, the user and the constants tests send;
//! - `responses.rs`: reading redirects, cookies, pages, JSON and JWTs;
//! - `id_tokens.rs`: verifying ID tokens as a relying party.

mod client;
mod fixtures;
mod id_tokens;
mod responses;
mod server;

pub use client::session_cookie;
pub use fixtures::*;
pub use id_tokens::{nonce_is, rp_verifier, verify_id_token, with_altered_signature};
pub use responses::*;
pub use server::{Harness, Options, StoreKind};

/// Runs each async test `fn $name(backend: StoreKind)` on the test Redis
/// Cluster too, as `cluster::$name`: for the core flows, whose combined
/// store operations must each stay in one hash slot (a `CROSSSLOT` error
/// would fail them). Not every test: each is a second Redis run.
#[macro_export]
macro_rules! on_the_cluster_too {
    ($($name:ident),* $(,)?) => {
        mod cluster {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::harness::StoreKind::Cluster).await;
            })*
        }
    };
}

/// Runs each async test `fn $name(backend: StoreKind)` once per store, as the
/// tests `memory::$name` and `redis::$name`. A test starts its own server:
/// `Harness::start(backend)` for the default one, or
/// `Harness::start_with(Options { .., ..Options::new(backend) })`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::harness::StoreKind::Memory).await;
            })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::harness::StoreKind::Redis).await;
            })*
        }
    };
}
