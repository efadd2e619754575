//! Porthor's domain: the values an OpenID Connect provider reasons about.
//!
//! This crate owns the shapes of credentials (authorization codes, access
//! tokens, session tokens), the records stored behind them, clients, users,
//! scopes, the protocol documents (discovery, JWKS, token reply), the OAuth and
//! OpenID Connect error codes, and the [`AuthorizationStore`] port that the
//! storage layer implements.
//!
//! It must not know about I/O, the clock (callers pass [`Timestamp`]s in), HTTP,
//! Redis, JWT libraries or configuration files. Everything here is plain data
//! plus the validation that keeps it well formed.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
mod credential;
mod documents;
mod error;
#[cfg(test)]
mod hostile_input;
mod mac;
mod pkce;
mod records;
mod scope;
mod store;
mod throttle;
mod time;
mod user;

pub use client::{
    AuthMethod, Client, ClientAuth, ClientSecretHash, Consent, InvalidRedirectUri,
    MIN_CLIENT_SECRET_LEN, RedirectUri,
};
pub use credential::{
    AccessToken, AuthorizationCode, Credential, CredentialKind, MalformedCredential, RecordKey,
    RefreshToken, SecretHash, SessionToken,
};
pub use documents::{Introspection, Jwk, Jwks, ProviderMetadata, TokenResponse};
pub use error::ErrorCode;
pub use mac::hmac_sha256;
pub use pkce::CodeChallenge;
pub use records::{
    AccessTokenData, Authorization, CodeState, ConsentGrant, RefreshFamily, SessionData,
};
pub use scope::{Scope, Scopes};
pub use store::{AuthorizationStore, Keyspace, StoreError, UserIndex};
pub use throttle::{Counter, CounterKind, CounterLimit, FailureCounters, Tally};
pub use time::Timestamp;
pub use user::{User, UserClaims};
