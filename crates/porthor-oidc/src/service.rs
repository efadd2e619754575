//! [`OidcService`]: the provider's state and its read-only operations.

use std::collections::HashMap;
use std::sync::Arc;

use porthor_models::{
    AuthMethod, AuthorizationCode, AuthorizationStore, Client, ClientSecretHash, CodeState, Jwks,
    ProviderMetadata, Scope, Timestamp, User,
};
use porthor_signer::Signer;

use crate::authorize::{self, error_redirect, redirect_url};
use crate::login::{PasswordChecks, check_password_hash, hash_password};
use crate::telemetry::AUDIT;
use crate::{
    AuthorizationRequest, AuthorizeError, CsrfKey, IdTokenClaims, Issuer, Lifetimes, Limits,
    LoginSession, OidcConfig, OidcError, Throttle, ValidAuthorization,
};

/// Path of the authorization endpoint under the issuer.
pub const AUTHORIZATION_PATH: &str = "/auth/openid/login";
/// Path of the token endpoint under the issuer.
pub const TOKEN_PATH: &str = "/auth/openid/token";
/// Path of the userinfo endpoint under the issuer.
pub const USERINFO_PATH: &str = "/auth/openid/userinfo";
/// Path of the revocation endpoint (RFC 7009) under the issuer.
pub const REVOCATION_PATH: &str = "/auth/openid/revoke";
/// Path of the introspection endpoint (RFC 7662) under the issuer.
pub const INTROSPECTION_PATH: &str = "/auth/openid/introspect";
/// Path of the RP-initiated logout endpoint under the issuer.
pub const END_SESSION_PATH: &str = "/auth/openid/logout";
/// Path of the discovery document under the issuer.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Path of the JWKS under the issuer.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The OpenID Connect provider. Cheap to clone: clones share one state.
#[derive(Debug, Clone)]
pub struct OidcService {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) issuer: Issuer,
    pub(crate) lifetimes: Lifetimes,
    pub(crate) limits: Limits,
    pub(crate) csrf_key: CsrfKey,
    pub(crate) clients: HashMap<String, Client>,
    pub(crate) users: HashMap<String, Arc<User>>,
    /// Verified against when the username is unknown, so that a login for a
    /// missing account costs the same as one with a wrong password.
    pub(crate) dummy_user: Arc<User>,
    /// Likewise for client authentication with an unknown client id.
    pub(crate) dummy_client_secret: ClientSecretHash,
    pub(crate) store: Arc<dyn AuthorizationStore>,
    pub(crate) signer: Signer,
    /// Bounds concurrent Argon2 checks to the cores (see [`PasswordChecks`]).
    pub(crate) password_checks: PasswordChecks,
    pub(crate) throttle: Throttle,
    pub(crate) metrics_per_client: bool,
    metadata: ProviderMetadata,
}

impl OidcService {
    /// The client id as a metrics label, if the operator asked for them.
    pub(crate) fn client_label<'a>(&self, client_id: &'a str) -> Option<&'a str> {
        self.inner.metrics_per_client.then_some(client_id)
    }

    /// Builds the service. Fails if client ids or usernames repeat.
    pub fn new(
        config: OidcConfig,
        store: Arc<dyn AuthorizationStore>,
        signer: Signer,
    ) -> Result<Self, OidcError> {
        if config.limits.sessions_per_user == 0 {
            return Err(OidcError::InvalidConfig(
                "sessions_per_user must be at least 1".to_owned(),
            ));
        }
        let (clients, users) = registry(config.clients, config.users)?;
        let dummy_hash = hash_password(&ClientSecretHash::generate_secret())?;
        let dummy_user = Arc::new(User {
            username: String::new(),
            name: None,
            email: None,
            groups: Vec::new(),
            password_hash: dummy_hash,
        });
        let dummy_client_secret =
            ClientSecretHash::from_secret(&ClientSecretHash::generate_secret())
                .map_err(|e| OidcError::Internal(e.into()))?;
        let metadata = provider_metadata(&config.issuer, &signer);
        let inner = Inner {
            issuer: config.issuer,
            lifetimes: config.lifetimes,
            limits: config.limits,
            csrf_key: config.csrf_key,
            clients,
            users,
            dummy_user,
            dummy_client_secret,
            store,
            signer,
            metadata,
            password_checks: PasswordChecks::new(
                std::thread::available_parallelism().map_or(1, usize::from),
                config.password_queue_timeout,
            ),
            throttle: config.throttle,
            metrics_per_client: config.metrics_per_client,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// A service like this one with `config`'s clients, users and throttle
    /// limits and `signer`'s keys, for a configuration reload; and what
    /// changed. The rest of `config` is not taken: the issuer, lifetimes,
    /// limits and metrics labels stay as they are, and so do the store, the
    /// CSRF key and the password-check slots (with their queue timeout), so
    /// that sessions, forms in flight and the bound on concurrent password
    /// checks carry over. Refused, with this service unchanged, for the
    /// reasons [`OidcService::new`] refuses.
    ///
    /// Requests that hold this service finish on it; the credentials of a
    /// user or client the new configuration lacks stop working at their
    /// next use, since every use looks them up in the service at hand.
    pub fn reload(
        &self,
        config: OidcConfig,
        signer: Signer,
    ) -> Result<(Self, ReloadChanges), OidcError> {
        let (clients, users) = registry(config.clients, config.users)?;
        let old = &self.inner;
        let changes = ReloadChanges {
            clients_added: added(&clients, &old.clients),
            clients_removed: added(&old.clients, &clients),
            users_added: added(&users, &old.users),
            users_removed: added(&old.users, &users),
            signing_kid: (signer.kid() != old.signer.kid()).then(|| signer.kid().to_owned()),
            published_kids: signer
                .jwks()
                .keys
                .iter()
                .map(|key| key.kid.clone())
                .collect(),
            throttle_changed: config.throttle != old.throttle,
        };
        let inner = Inner {
            issuer: old.issuer.clone(),
            lifetimes: old.lifetimes,
            limits: old.limits,
            csrf_key: old.csrf_key.clone(),
            clients,
            users,
            dummy_user: Arc::clone(&old.dummy_user),
            dummy_client_secret: old.dummy_client_secret.clone(),
            store: Arc::clone(&old.store),
            metadata: provider_metadata(&old.issuer, &signer),
            signer,
            password_checks: old.password_checks.clone(),
            throttle: config.throttle,
            metrics_per_client: old.metrics_per_client,
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            changes,
        ))
    }

    /// Whether `username` names a configured user.
    pub(crate) fn is_user(&self, username: &str) -> bool {
        self.inner.users.contains_key(username)
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    /// The configured lifetimes.
    pub fn lifetimes(&self) -> Lifetimes {
        self.inner.lifetimes
    }

    /// The discovery document, built with the service.
    pub fn openid_configuration(&self) -> &ProviderMetadata {
        &self.inner.metadata
    }

    /// The public signing keys.
    pub fn jwks(&self) -> &Jwks {
        self.inner.signer.jwks()
    }

    /// Whether `client_id` names a registered client.
    pub fn is_valid_client(&self, client_id: &str) -> bool {
        self.inner.clients.contains_key(client_id)
    }

    /// Checks an authorization request as far as possible before the user
    /// logs in, so that a bad request never reaches the login page and an
    /// anonymous request never writes to the store.
    pub fn validate_authorization(
        &self,
        request: AuthorizationRequest,
    ) -> Result<ValidAuthorization, AuthorizeError> {
        let clients = &self.inner.clients;
        authorize::validate(&self.inner.issuer, |id| clients.get(id), request)
    }

    /// Issues an authorization code for a validated request and a live
    /// session, and returns the URL that delivers it to the client.
    pub async fn issue_code(
        &self,
        request: &ValidAuthorization,
        session: &LoginSession,
        now: Timestamp,
    ) -> Result<String, AuthorizeError> {
        let Some(code) = AuthorizationCode::generate_linked(&session.key) else {
            let error = OidcError::Internal("session key is not a plain record key".into());
            return Err(self.error_redirect(request, error));
        };
        let authorization = porthor_models::Authorization {
            secret_hash: code.secret_hash(),
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            session_key: session.key.clone(),
            username: session.data.username.clone(),
            scopes: request.scopes,
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: session.data.auth_time,
            expires_at: now.after(self.inner.lifetimes.code),
        };
        let stored = self
            .inner
            .store
            .codes()
            .create(
                code.key(),
                &CodeState::Issued(authorization),
                self.inner.lifetimes.code,
            )
            .await;
        if let Err(error) = stored {
            let error = OidcError::from(error);
            tracing::error!(client.id = %request.client_id, user = %session.data.username, error = %error, "cannot store authorization code");
            return Err(self.error_redirect(request, error));
        }
        tracing::info!(target: AUDIT, user = %session.data.username, client.id = %request.client_id, scope = %request.scopes, outcome = "issued", "authorization code issued");
        crate::telemetry::code("issued", self.client_label(&request.client_id));
        let code = code.expose();
        let params = [
            ("code", Some(code.as_str())),
            ("state", request.state.as_deref()),
            ("iss", Some(self.inner.issuer.as_str())),
        ];
        redirect_url(&request.redirect_uri, &params).map_err(AuthorizeError::Page)
    }

    /// The redirect that reports `error` to the client of a validated request.
    pub fn error_redirect(&self, request: &ValidAuthorization, error: OidcError) -> AuthorizeError {
        error_redirect(
            &self.inner.issuer,
            &request.redirect_uri,
            request.state.as_deref(),
            error,
        )
    }

    /// Invalidates every outstanding authorization code; returns how many.
    pub async fn delete_all_codes(&self) -> Result<u64, OidcError> {
        let deleted = self.inner.store.codes().delete_all().await?;
        tracing::info!(deleted, "deleted all authorization codes");
        Ok(deleted)
    }

    /// Verifies an ID token this provider issued: signature, issuer, expiry,
    /// and an audience that is a registered client.
    pub fn verify_token(&self, token: &str, now: Timestamp) -> Result<IdTokenClaims, OidcError> {
        let claims: IdTokenClaims = self
            .inner
            .signer
            .verify(token, self.inner.issuer.as_str(), now.as_unix())
            .map_err(|_| OidcError::InvalidToken("signature, issuer or expiry check failed"))?;
        if !self.is_valid_client(&claims.aud) {
            return Err(OidcError::InvalidToken(
                "audience is not a registered client",
            ));
        }
        Ok(claims)
    }

    /// Checks that the store answers, for readiness probes.
    pub async fn ready(&self) -> Result<(), OidcError> {
        Ok(self.inner.store.ping().await?)
    }
}

/// What a configuration reload changed ([`OidcService::reload`]): names
/// and key ids, never a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadChanges {
    /// Client ids registered now and not before, sorted.
    pub clients_added: Vec<String>,
    /// Client ids no longer registered, sorted: their codes and tokens stop
    /// working.
    pub clients_removed: Vec<String>,
    /// Usernames configured now and not before, sorted.
    pub users_added: Vec<String>,
    /// Usernames no longer configured, sorted: their sessions and tokens
    /// stop working.
    pub users_removed: Vec<String>,
    /// The key id new tokens are signed with, if it changed.
    pub signing_kid: Option<String>,
    /// Every key id the JWKS now publishes, the signing key's first.
    pub published_kids: Vec<String>,
    /// Whether any throttle setting changed.
    pub throttle_changed: bool,
}

/// The keys of `these` that `those` lacks, sorted.
fn added<T>(these: &HashMap<String, T>, those: &HashMap<String, T>) -> Vec<String> {
    let mut keys: Vec<String> = these
        .keys()
        .filter(|key| !those.contains_key(*key))
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The clients and users by id and name, refusing repeats, clients without
/// redirect URIs or with contradicting settings, and weak password hashes.
#[allow(
    clippy::type_complexity,
    reason = "a pair of maps, named by the function and its callers"
)]
fn registry(
    client_list: Vec<Client>,
    user_list: Vec<User>,
) -> Result<(HashMap<String, Client>, HashMap<String, Arc<User>>), OidcError> {
    let mut clients = HashMap::new();
    for client in client_list {
        if client.redirect_uris.is_empty() {
            return Err(OidcError::InvalidConfig(format!(
                "client {:?} has no redirect_uris",
                client.client_id
            )));
        }
        if let Some((field, problem)) = client.contradictions().first() {
            return Err(OidcError::InvalidConfig(format!(
                "client {:?}: {field} {problem}",
                client.client_id
            )));
        }
        if let Some(old) = clients.insert(client.client_id.clone(), client) {
            return Err(OidcError::InvalidConfig(format!(
                "client_id {:?} is registered twice",
                old.client_id
            )));
        }
    }
    let mut users = HashMap::new();
    for user in user_list {
        check_password_hash(&user.password_hash).map_err(|problem| {
            OidcError::InvalidConfig(format!(
                "password hash of user {:?} {problem}",
                user.username
            ))
        })?;
        if let Some(old) = users.insert(user.username.clone(), Arc::new(user)) {
            return Err(OidcError::InvalidConfig(format!(
                "username {:?} is configured twice",
                old.username
            )));
        }
    }
    Ok((clients, users))
}

fn provider_metadata(issuer: &Issuer, signer: &Signer) -> ProviderMetadata {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let auth_methods = |methods: &[AuthMethod]| {
        methods
            .iter()
            .map(|method| method.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    ProviderMetadata {
        issuer: issuer.as_str().to_owned(),
        authorization_endpoint: issuer.endpoint(AUTHORIZATION_PATH),
        token_endpoint: issuer.endpoint(TOKEN_PATH),
        userinfo_endpoint: issuer.endpoint(USERINFO_PATH),
        jwks_uri: issuer.endpoint(JWKS_PATH),
        revocation_endpoint: issuer.endpoint(REVOCATION_PATH),
        introspection_endpoint: issuer.endpoint(INTROSPECTION_PATH),
        end_session_endpoint: issuer.endpoint(END_SESSION_PATH),
        scopes_supported: Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(&["authorization_code", "refresh_token"]),
        subject_types_supported: strings(&["public"]),
        // Every published key's algorithm, the signing key's first: after a
        // rotation to another algorithm, relying parties that only accept
        // advertised algorithms must still accept tokens signed before it.
        id_token_signing_alg_values_supported: signer.jwks().keys.iter().fold(
            Vec::new(),
            |mut algs, key| {
                if !algs.contains(&key.alg) {
                    algs.push(key.alg.clone());
                }
                algs
            },
        ),
        token_endpoint_auth_methods_supported: auth_methods(&AuthMethod::ALL),
        revocation_endpoint_auth_methods_supported: auth_methods(&AuthMethod::ALL),
        // A public client has nothing to prove it is a resource server with.
        introspection_endpoint_auth_methods_supported: auth_methods(&[
            AuthMethod::ClientSecretBasic,
            AuthMethod::ClientSecretPost,
        ]),
        code_challenge_methods_supported: strings(&["S256"]),
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        claims_supported: strings(&[
            "sub",
            "iss",
            "aud",
            "azp",
            "exp",
            "iat",
            "auth_time",
            "amr",
            "at_hash",
            "jti",
            "nonce",
            "name",
            "preferred_username",
            "email",
            "groups",
        ]),
        authorization_response_iss_parameter_supported: true,
    }
}
