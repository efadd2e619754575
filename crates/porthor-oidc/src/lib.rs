//! The OpenID Connect service: Porthor's protocol rules.
//!
//! This crate owns what an authorization request must contain, how codes are
//! issued and redeemed, how clients and users authenticate, what an ID token
//! says, which claims userinfo releases, how refresh tokens rotate and when a
//! grant is revoked, which scopes a client may be granted and when the user
//! must approve them first ([`OidcService::needs_consent`]), what
//! revocation, introspection and RP-initiated logout accept, and which
//! protocol error each failure becomes ([`OidcError`]). Its
//! operations follow the seed's `OIDCService` (its `get_jwks` and
//! `get_openid_configuration` lose the prefix, as Rust getters do):
//! [`OidcService::delete_all_codes`], [`OidcService::jwks`],
//! [`OidcService::openid_configuration`], [`OidcService::is_valid_client`],
//! [`OidcService::issue_code`], [`OidcService::redeem_code`] (which issues the
//! tokens), [`OidcService::verify_token`] and [`OidcService::userinfo`]; and
//! beyond it [`OidcService::token`] (the token endpoint's dispatch),
//! [`OidcService::refresh`], [`OidcService::revoke`],
//! [`OidcService::introspect`] and [`OidcService::validate_end_session`].
//!
//! It must not know about HTTP (no request or response types: the server crate
//! parses requests into the plain structs here and renders the results), the
//! Redis client (storage is the [`porthor_models::AuthorizationStore`] port),
//! configuration files or the environment, or the clock: every operation that
//! depends on time takes `now`.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod access;
mod authorize;
mod claims;
mod client_auth;
mod config;
mod consent;
mod csrf;
mod end_session;
mod error;
mod login;
mod service;
mod telemetry;
pub use telemetry::{AUDIT, events};
mod throttle;
mod token;

pub use access::TokenQuery;
pub use authorize::{AuthorizationRequest, AuthorizeError, ValidAuthorization};
pub use claims::IdTokenClaims;
pub use client_auth::ClientCredentials;
pub use config::{Issuer, Lifetimes, Limits, OidcConfig, Throttle};
pub use csrf::CsrfKey;
pub use end_session::{EndSession, EndSessionRequest};
pub use error::OidcError;
pub use login::{LoginSession, PasswordCheckStats, check_password_hash, hash_password};
pub use service::{
    AUTHORIZATION_PATH, DISCOVERY_PATH, END_SESSION_PATH, INTROSPECTION_PATH, JWKS_PATH,
    OidcService, REVOCATION_PATH, ReloadChanges, TOKEN_PATH, USERINFO_PATH,
};
pub use token::TokenRequest;

/// A relying party's verification of ID tokens against a JWKS, from
/// `porthor-signer`, re-exported so that the server's demo relying party
/// (and a connector to an upstream provider) reach it through this crate.
pub use porthor_signer::{Expected, JwksVerifier, SignerError, SigningAlgorithm, VerifiedJwt};
