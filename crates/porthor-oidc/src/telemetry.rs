//! The protocol's counters, emitted through the `metrics` facade.
//!
//! Like `tracing`, this only emits: which exporter (if any) collects the
//! numbers is the binary's choice, and with none installed every call here
//! is a no-op. Every label value is one of a fixed set, so the number of
//! series stays bounded; the one exception, a client id, is only attached
//! when the operator opts in ([`crate::OidcConfig::metrics_per_client`]), and client
//! ids come from the configuration, never from a request.
//!
//! The audit trail is the other half: [`AUDIT`] is the `tracing` target of
//! the one event per security-relevant outcome (logins, codes, tokens,
//! refreshes, reuse revocations, revocations, logouts, `revoke-user`),
//! each with its user, client, address where known, outcome and reason,
//! never a secret. The events a machine should recognise (the binary's
//! alerts, a log processor) also carry an `event` field naming them with
//! one of [`events`]: messages are for people and may be reworded, those
//! names are not.
//!
//! It must not know how the numbers are exported or served, nor where the
//! audit events are written.

use std::cell::RefCell;
use std::collections::HashMap;

use metrics::Counter;

/// The `tracing` target of audit events.
pub const AUDIT: &str = "porthor::audit";

/// The values of the `event` field of the audit events that name one: a
/// stable vocabulary, so that whatever watches the log (the binary's
/// alerts) recognises an event without parsing its message.
pub mod events {
    /// The genuine authorization code was presented again after its
    /// redemption: the tokens issued from it are revoked (WARN; `client.id`,
    /// `user` when still known).
    pub const CODE_REPLAYED: &str = "code_replayed";
    /// A refresh-token family was revoked because a token of it was used
    /// twice, concurrently, or by another client: a copy is loose (WARN;
    /// `client.id`, `user`, `reason`).
    pub const REFRESH_TOKEN_REUSED: &str = "refresh_token_reused";
    /// A refresh-token family was revoked by its client (RFC 7009).
    pub const REFRESH_FAMILY_REVOKED: &str = "refresh_family_revoked";
    /// A failed login reached a counter's limit: logins for the username
    /// (`locked = "user"`) or from the address (`locked = "ip"`) are
    /// refused until the lockout ends (WARN; `user`, `client.ip`,
    /// `failures`, `lockout` in seconds).
    pub const LOGIN_LOCKOUT: &str = "login_lockout";
}

thread_local! {
    /// This thread's counters by metric and label value: looked up in the
    /// recorder once, not per event (the recorder is the process's,
    /// installed before the service runs). The per-client variants are not
    /// kept: client ids are the operator's opt-in, and each is looked up.
    static COUNTERS: RefCell<HashMap<(&'static str, &'static str), Counter>> =
        RefCell::new(HashMap::new());
}

/// Adds one to `name{label=value}` through this thread's kept handle.
fn increment(name: &'static str, label: &'static str, value: &'static str) {
    COUNTERS.with_borrow_mut(|counters| {
        counters
            .entry((name, value))
            .or_insert_with(|| metrics::counter!(name, label => value))
            .increment(1);
    });
}

/// `porthor_logins_total{outcome}`: `success`, `failure` or `throttled`.
pub(crate) fn login(outcome: &'static str) {
    increment("porthor_logins_total", "outcome", outcome);
}

/// `porthor_codes_total{outcome}`: `issued`, `redeemed`, `refused` or
/// `replayed`; with `client` when per-client labels are on.
pub(crate) fn code(outcome: &'static str, client: Option<&str>) {
    match client {
        Some(client) => metrics::counter!(
            "porthor_codes_total",
            "outcome" => outcome,
            "client" => client.to_owned()
        )
        .increment(1),
        None => increment("porthor_codes_total", "outcome", outcome),
    }
}

/// `porthor_tokens_issued_total{grant_type}`; with `client` when
/// per-client labels are on.
pub(crate) fn token_issued(grant_type: &'static str, client: Option<&str>) {
    match client {
        Some(client) => metrics::counter!(
            "porthor_tokens_issued_total",
            "grant_type" => grant_type,
            "client" => client.to_owned()
        )
        .increment(1),
        None => increment("porthor_tokens_issued_total", "grant_type", grant_type),
    }
}

/// `porthor_refresh_families_revoked_total{reason}`.
pub(crate) fn family_revoked(reason: &'static str) {
    increment("porthor_refresh_families_revoked_total", "reason", reason);
}
