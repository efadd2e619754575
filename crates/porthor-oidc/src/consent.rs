//! Scope and consent policy: which of the requested scopes a client may be
//! granted, whether the user must approve a request first, and what a
//! remembered approval covers (OpenID Connect Core 3.1.2.4, 11).
//!
//! A client with `consent = "implicit"` (a first-party application) is
//! never asked about unless the request says `prompt=consent`, and nothing
//! is read from or written to the store for it. A client with `consent =
//! "required"` is asked on the consent page; the user's approval is stored
//! per user and client, and covers later requests for a subset of the
//! approved scopes until it lapses (`tokens.consent_lifetime`).
//! `prompt=consent` always asks, and a new approval replaces the old one
//! with exactly the scopes just shown: what is remembered is always what
//! the user last saw and approved, never a union they were not shown.

use porthor_models::{Client, Consent, ConsentGrant, Scope, Scopes, Timestamp};

use crate::{LoginSession, OidcError, OidcService, ValidAuthorization};

/// The requested scopes the client may have: those in its `allowed_scopes`,
/// and `offline_access` only if `allow_offline_access`. Anything else is
/// dropped, as unknown scopes are (OpenID Connect Core 5.4, 11).
pub(crate) fn permitted_scopes(client: &Client, requested: Scopes) -> Scopes {
    let scopes = requested.intersection(client.allowed_scopes);
    if client.allow_offline_access {
        scopes
    } else {
        scopes.without(Scope::OfflineAccess)
    }
}

/// Whether `grant` is an approval, still live at `now`, by `username` for
/// `client_id` of at least `scopes`.
fn covers(
    grant: &ConsentGrant,
    username: &str,
    client_id: &str,
    scopes: Scopes,
    now: Timestamp,
) -> bool {
    grant.username == username
        && grant.client_id == client_id
        && grant.expires_at > now
        && grant.scopes.contains_all(scopes)
}

impl OidcService {
    /// The registered client `client_id`, for what a page shows about it.
    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.inner.clients.get(client_id)
    }

    /// The client of a validated request, which is registered (requests are
    /// validated against the same clients).
    fn client_of(&self, request: &ValidAuthorization) -> Result<&Client, OidcError> {
        self.client(&request.client_id)
            .ok_or_else(|| OidcError::Internal("a validated request names no client".into()))
    }

    /// Whether the session's user must approve `request` on the consent page
    /// before a code is issued: always with `prompt=consent`; otherwise only
    /// for a client with `consent = "required"` that has no live approval of
    /// at least these scopes. Only that last case reads the store.
    pub async fn needs_consent(
        &self,
        request: &ValidAuthorization,
        session: &LoginSession,
        now: Timestamp,
    ) -> Result<bool, OidcError> {
        if request.prompt_consent {
            return Ok(true);
        }
        if self.client_of(request)?.consent == Consent::Implicit {
            return Ok(false);
        }
        let store = &self.inner.store;
        let username = &session.data.username;
        let key = store.consent_key(username, &request.client_id);
        let grant = store.consents().get(&key).await?;
        Ok(!grant
            .is_some_and(|grant| covers(&grant, username, &request.client_id, request.scopes, now)))
    }

    /// Records that the session's user approved `request` on the consent
    /// page. For a client with `consent = "required"` the approval is
    /// stored, replacing any earlier one, for `tokens.consent_lifetime`; an
    /// implicit client's (asked for by `prompt=consent`) is not, since
    /// nothing reads it.
    pub async fn approve(
        &self,
        request: &ValidAuthorization,
        session: &LoginSession,
        now: Timestamp,
    ) -> Result<(), OidcError> {
        let username = &session.data.username;
        if self.client_of(request)?.consent == Consent::Required {
            let store = &self.inner.store;
            let lifetime = self.inner.lifetimes.consent;
            let grant = ConsentGrant {
                username: username.clone(),
                client_id: request.client_id.clone(),
                scopes: request.scopes,
                granted_at: now,
                expires_at: now.after(lifetime),
            };
            let key = store.consent_key(username, &request.client_id);
            store.consents().create(&key, &grant, lifetime).await?;
        }
        tracing::info!(client.id = %request.client_id, user = %username, scope = %request.scopes, outcome = "approved", "consent given");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use porthor_models::{ClientAuth, ClientSecretHash, RedirectUri};

    use super::*;

    fn client() -> Client {
        Client::confidential(
            "app",
            ClientSecretHash::from_secret(&ClientSecretHash::generate_secret()).unwrap(),
            vec![RedirectUri::parse("https://app.example.com/cb").unwrap()],
        )
    }

    #[test]
    fn allowed_scopes_filter_the_request() {
        let mut app = client();
        let everything = Scopes::parse("openid profile email groups offline_access");
        assert_eq!(permitted_scopes(&app, everything), everything);
        app.allowed_scopes = Scopes::parse("openid email");
        assert_eq!(
            permitted_scopes(&app, everything),
            Scopes::parse("openid email")
        );
        assert_eq!(
            permitted_scopes(&app, Scopes::parse("openid profile")),
            Scopes::parse("openid")
        );
    }

    #[test]
    fn offline_access_needs_allow_offline_access() {
        let mut spa = client();
        spa.auth = ClientAuth::Public;
        spa.allow_offline_access = false;
        let requested = Scopes::parse("openid email offline_access");
        assert_eq!(
            permitted_scopes(&spa, requested),
            Scopes::parse("openid email")
        );
        spa.allow_offline_access = true;
        assert_eq!(permitted_scopes(&spa, requested), requested);
        // Allowed, but not in allowed_scopes: still dropped.
        spa.allowed_scopes = Scopes::parse("openid email");
        assert_eq!(
            permitted_scopes(&spa, requested),
            Scopes::parse("openid email")
        );
    }

    #[test]
    fn a_grant_covers_subsets_for_its_user_and_client_until_it_lapses() {
        let now = Timestamp::from_unix(1_700_000_000);
        let grant = ConsentGrant {
            username: "alice".into(),
            client_id: "app".into(),
            scopes: Scopes::parse("openid profile email"),
            granted_at: now,
            expires_at: now.after(Duration::from_secs(60)),
        };
        let scopes = |text| Scopes::parse(text);
        assert!(covers(&grant, "alice", "app", scopes("openid email"), now));
        assert!(covers(
            &grant,
            "alice",
            "app",
            scopes("openid profile email"),
            now
        ));
        assert!(!covers(
            &grant,
            "alice",
            "app",
            scopes("openid groups"),
            now
        ));
        assert!(!covers(
            &grant,
            "alice",
            "app",
            scopes("openid offline_access"),
            now
        ));
        assert!(!covers(&grant, "bob", "app", scopes("openid"), now));
        assert!(!covers(&grant, "alice", "other", scopes("openid"), now));
        let later = now.after(Duration::from_secs(59));
        assert!(covers(&grant, "alice", "app", scopes("openid"), later));
        let lapsed = now.after(Duration::from_secs(60));
        assert!(!covers(&grant, "alice", "app", scopes("openid"), lapsed));
    }
}
