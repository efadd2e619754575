//! Users who log in, and the claims released about them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Scope, Scopes};

/// A user account.
#[derive(Clone)]
pub struct User {
    /// The login name; also the `sub` claim.
    pub username: String,
    /// Display name, released under `profile`.
    pub name: Option<String>,
    /// Email address, released under `email`.
    pub email: Option<String>,
    /// Group names, released under `groups`.
    pub groups: Vec<String>,
    /// Argon2id hash in PHC string form.
    pub password_hash: String,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The identity claims about a user that a set of scopes releases: the
/// userinfo response, and the identity part of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    /// Subject: the username.
    pub sub: String,
    /// Under `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Under `profile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Under `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Under `groups`: the user's groups, possibly none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl UserClaims {
    /// Exactly the claims that `scopes` allow (OpenID Connect Core 5.4).
    pub fn for_scopes(user: &User, scopes: Scopes) -> Self {
        let profile = scopes.contains(Scope::Profile);
        let email = scopes.contains(Scope::Email);
        let groups = scopes.contains(Scope::Groups);
        Self {
            sub: user.username.clone(),
            preferred_username: profile.then(|| user.username.clone()),
            name: user.name.clone().filter(|_| profile),
            email: user.email.clone().filter(|_| email),
            groups: groups.then(|| user.groups.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User {
            username: "alice".into(),
            name: Some("Alice Example".into()),
            email: Some("alice@example.com".into()),
            groups: vec!["admins".into(), "staff".into()],
            password_hash: "$argon2id$secret".into(),
        }
    }

    #[test]
    fn claims_follow_scopes() {
        let cases = [
            ("openid", r#"{"sub":"alice"}"#),
            (
                "openid profile",
                r#"{"sub":"alice","preferred_username":"alice","name":"Alice Example"}"#,
            ),
            (
                "openid email",
                r#"{"sub":"alice","email":"alice@example.com"}"#,
            ),
            (
                "openid profile email",
                r#"{"sub":"alice","preferred_username":"alice","name":"Alice Example","email":"alice@example.com"}"#,
            ),
            (
                "openid groups",
                r#"{"sub":"alice","groups":["admins","staff"]}"#,
            ),
        ];
        for (scope, expected) in cases {
            let claims = UserClaims::for_scopes(&alice(), Scopes::parse(scope));
            assert_eq!(
                serde_json::to_string(&claims).unwrap(),
                expected,
                "scope {scope}"
            );
        }
    }

    #[test]
    fn missing_attributes_are_omitted() {
        let user = User {
            name: None,
            email: None,
            ..alice()
        };
        let claims = UserClaims::for_scopes(&user, Scopes::parse("openid profile email"));
        assert_eq!(
            serde_json::to_string(&claims).unwrap(),
            r#"{"sub":"alice","preferred_username":"alice"}"#
        );
    }

    #[test]
    fn debug_hides_password_hash() {
        assert!(!format!("{:?}", alice()).contains("argon2"));
    }
}
