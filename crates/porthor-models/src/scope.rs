//! OAuth scopes that Porthor understands.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A scope Porthor grants. Scopes it does not know are ignored, as OpenID
/// Connect Core 5.4 asks, so they never reach this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `openid`: this is an OpenID Connect request; grants `sub`.
    OpenId,
    /// `profile`: grants `name` and `preferred_username`.
    Profile,
    /// `email`: grants `email`.
    Email,
    /// `groups`: grants `groups`, the user's group names.
    Groups,
    /// `offline_access` (OpenID Connect Core 11): asks for a refresh token;
    /// grants no claims.
    OfflineAccess,
}

impl Scope {
    /// Every scope, in the order they are advertised and written out.
    pub const ALL: [Scope; 5] = [
        Scope::OpenId,
        Scope::Profile,
        Scope::Email,
        Scope::Groups,
        Scope::OfflineAccess,
    ];

    /// The scope's protocol name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::OpenId => "openid",
            Scope::Profile => "profile",
            Scope::Email => "email",
            Scope::Groups => "groups",
            Scope::OfflineAccess => "offline_access",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of granted scopes. Written out space-separated in canonical order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// Parses a `scope` parameter: space-delimited, case-sensitive, unknown
    /// names dropped, duplicates folded.
    pub fn parse(text: &str) -> Self {
        text.split(' ').filter_map(Scope::from_name).collect()
    }

    /// Parses a `scope` parameter that may only name scopes Porthor knows
    /// (a refresh's): `None` if it names any other.
    pub fn parse_known(text: &str) -> Option<Self> {
        text.split(' ')
            .filter(|name| !name.is_empty())
            .map(Scope::from_name)
            .collect()
    }

    /// Every scope Porthor knows.
    pub const fn all() -> Self {
        // `Scope::bit` gives each scope one of the low `ALL.len()` bits.
        Self((1 << Scope::ALL.len()) - 1)
    }

    /// The scopes in both sets.
    pub const fn intersection(self, other: Scopes) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether `scope` is in the set.
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether every scope of `other` is in the set.
    pub const fn contains_all(self, other: Scopes) -> bool {
        other.0 & !self.0 == 0
    }

    /// The set without `scope`.
    pub const fn without(self, scope: Scope) -> Self {
        Self(self.0 & !scope.bit())
    }

    /// The scopes in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.contains(*scope))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ignores_unknown_and_orders_canonically() {
        let cases = [
            ("openid", "openid"),
            ("email openid", "openid email"),
            ("profile openid email", "openid profile email"),
            ("openid openid address phone", "openid"),
            ("OPENID", ""),
            ("", ""),
            ("openid  email", "openid email"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Scopes::parse(input).to_string(),
                expected,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn contains() {
        let scopes = Scopes::parse("openid email");
        assert!(scopes.contains(Scope::OpenId));
        assert!(scopes.contains(Scope::Email));
        assert!(!scopes.contains(Scope::Profile));
        assert!(scopes.contains_all(Scopes::parse("email")));
        assert!(scopes.contains_all(Scopes::default()));
        assert!(!scopes.contains_all(Scopes::parse("email profile")));
        assert_eq!(scopes.without(Scope::Email), Scopes::parse("openid"));
        assert_eq!(Scopes::parse_known("email  openid"), Some(scopes));
        assert_eq!(Scopes::parse_known("openid address"), None);
        let offline = Scopes::parse("offline_access openid");
        assert_eq!(offline.to_string(), "openid offline_access");
    }

    #[test]
    fn all_and_intersection() {
        assert!(
            Scope::ALL
                .iter()
                .all(|scope| Scopes::all().contains(*scope))
        );
        assert_eq!(
            Scopes::all().to_string(),
            "openid profile email groups offline_access"
        );
        let some = Scopes::parse("openid email groups");
        assert_eq!(some.intersection(Scopes::all()), some);
        assert_eq!(
            some.intersection(Scopes::parse("email offline_access")),
            Scopes::parse("email")
        );
        assert_eq!(some.intersection(Scopes::default()), Scopes::default());
    }
}
