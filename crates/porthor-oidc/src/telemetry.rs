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
//! never a secret.
//!
//! It must not know how the numbers are exported or served, nor where the
//! audit events are written.

/// The `tracing` target of audit events.
pub const AUDIT: &str = "porthor::audit";

/// `porthor_logins_total{outcome}`: `success`, `failure` or `throttled`.
pub(crate) fn login(outcome: &'static str) {
    metrics::counter!("porthor_logins_total", "outcome" => outcome).increment(1);
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
        None => metrics::counter!("porthor_codes_total", "outcome" => outcome).increment(1),
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
        None => metrics::counter!("porthor_tokens_issued_total", "grant_type" => grant_type)
            .increment(1),
    }
}

/// `porthor_refresh_families_revoked_total{reason}`.
pub(crate) fn family_revoked(reason: &'static str) {
    metrics::counter!("porthor_refresh_families_revoked_total", "reason" => reason).increment(1);
}
