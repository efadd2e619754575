//! `OIDCCConfigTestPlan` ("Config OP"): `oidcc-discovery-endpoint-verification`,
//! its checks of the discovery document one test each. Its JWKS checks are
//! `jwks.rs`'s.

use porthor_signer::SigningAlgorithm;
use reqwest::StatusCode;
use url::Url;

use super::suite::{scopes_supported, start, strings};
use crate::harness::{Harness, Options, StoreKind, has_content_type, json};

/// Whether `url` is https, or plain http on a loopback host (Porthor's
/// development issuer; the suite wants https everywhere).
fn https_or_loopback(url: &str) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    url.fragment().is_none() && (url.scheme() == "https" || (url.scheme() == "http" && loopback))
}

/// EnsureDiscoveryEndpointResponseStatusCodeIs200,
/// CheckDiscoveryEndpointReturnedJsonContentType.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_document_is_json() {
    let h = start().await;
    let response = h.get("/.well-known/openid-configuration").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(has_content_type(&response, "application/json"));
    assert!(json(response, StatusCode::OK).await.is_object());
}

/// CheckDiscEndpointDiscoveryUrl, CheckDiscEndpointIssuer,
/// CheckDiscEndpointIssuerIsValidUrl: the issuer is the URL the document
/// was fetched under, less `/.well-known/openid-configuration` (Discovery
/// 4.3), for an issuer at the root and one under a path with a trailing
/// slash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_issuer_matches_discovery_url() {
    for issuer_path in ["", "/idp/"] {
        let h = Harness::start_with(Options {
            algorithm: SigningAlgorithm::Rs256,
            issuer_path,
            ..Options::new(StoreKind::Redis)
        })
        .await;
        // Discovery 4: any terminating slash of the issuer is removed
        // before the well-known path is appended.
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            h.issuer.trim_end_matches('/')
        );
        let doc = json(
            h.http.get(&discovery_url).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        let issuer = doc["issuer"].as_str().expect("issuer");
        assert_eq!(issuer, h.issuer);
        let expected = discovery_url.trim_end_matches(".well-known/openid-configuration");
        assert_eq!(
            issuer.trim_end_matches('/'),
            expected.trim_end_matches('/'),
            "issuer_path {issuer_path:?}"
        );
        let url = Url::parse(issuer).unwrap();
        assert!(https_or_loopback(issuer), "{issuer}");
        assert_eq!(url.query(), None);
    }
}

/// The members the Discovery spec (3) requires, and userinfo, which it
/// recommends (the suite warns without it): all present, of the right type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_required_metadata() {
    let h = start().await;
    let doc = h.discovery().await;
    for member in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        assert!(doc[member].is_string(), "{member}: {doc}");
    }
    for member in [
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(!strings(&doc[member]).is_empty(), "{member}: {doc}");
    }
    assert_eq!(doc["authorization_endpoint"], h.url("/auth/openid/login"));
    assert_eq!(doc["token_endpoint"], h.url("/auth/openid/token"));
    assert_eq!(doc["userinfo_endpoint"], h.url("/auth/openid/userinfo"));
    // No registration endpoint: the clients are static.
    assert!(doc.get("registration_endpoint").is_none());
}

/// CheckDiscEndpointAllEndpointsAreHttps (the suite's VerifyOPEndpointsUseHTTPS):
/// every `*_endpoint` and the `jwks_uri` is https; Porthor's development
/// issuer here is plain http on loopback, which nothing else may be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_endpoints_are_https() {
    let h = start().await;
    let doc = h.discovery().await;
    let mut checked = 0;
    for (member, value) in doc.as_object().unwrap() {
        if member.ends_with("_endpoint") || member == "jwks_uri" {
            let url = value.as_str().expect("a URL");
            assert!(https_or_loopback(url), "{member}: {url}");
            assert!(
                url.starts_with(&h.issuer),
                "{member}: {url} is off the issuer"
            );
            checked += 1;
        }
    }
    // authorization, token, userinfo, revocation, introspection,
    // end_session and the JWKS.
    assert_eq!(checked, 7);
}

/// CheckJwksUri and FetchServerKeys: `jwks_uri` is served, as JSON with a
/// `keys` array.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_jwks_uri() {
    let h = start().await;
    let doc = h.discovery().await;
    let uri = doc["jwks_uri"].as_str().expect("jwks_uri");
    assert!(https_or_loopback(uri), "{uri}");
    let response = h.http.get(uri).send().await.unwrap();
    assert!(has_content_type(&response, "application/json"));
    let keys = json(response, StatusCode::OK).await;
    assert!(!keys["keys"].as_array().expect("keys").is_empty(), "{keys}");
}

/// OIDCCCheckDiscEndpointResponseTypesSupported: at least one of OpenID
/// Connect's response types; Porthor has the code flow only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_response_types_supported() {
    let h = start().await;
    let doc = h.discovery().await;
    assert_eq!(strings(&doc["response_types_supported"]), ["code"]);
    // Only query responses, the default for code, and `iss` in them.
    assert_eq!(strings(&doc["response_modes_supported"]), ["query"]);
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

/// CheckDiscEndpointSubjectTypesSupported: `public` or `pairwise`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_subject_types_supported() {
    let h = start().await;
    let doc = h.discovery().await;
    let types = strings(&doc["subject_types_supported"]);
    assert!(
        types.iter().all(|t| matches!(*t, "public" | "pairwise")) && !types.is_empty(),
        "{types:?}"
    );
}

/// OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported: RS256 must be
/// listed (Discovery 3; Core 15.1 makes it mandatory to implement), `none`
/// is not (the code flow never needs it), and every listed algorithm is one
/// a published key signs with. RS256 is Porthor's default key; see the
/// report about deployments with only an ES256 or EdDSA key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_id_token_signing_alg_values_supported() {
    let h = start().await;
    let doc = h.discovery().await;
    let algs = strings(&doc["id_token_signing_alg_values_supported"]);
    assert!(algs.contains(&"RS256"), "{algs:?}");
    assert!(!algs.contains(&"none"), "{algs:?}");
    let keys = h.jwks().await;
    let published: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["alg"].as_str())
        .collect();
    for alg in &algs {
        assert!(published.contains(alg), "{alg} has no key in {published:?}");
    }
}

/// CheckDiscEndpointScopesSupportedContainsOpenId and
/// CheckDiscEndpointScopesSupportedSyntax (RFC 6749 3.3 scope tokens).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_scopes_supported() {
    let h = start().await;
    let scopes = scopes_supported(&h).await;
    assert!(scopes.contains(&"openid".to_owned()), "{scopes:?}");
    for scope in &scopes {
        assert!(
            !scope.is_empty()
                && scope
                    .chars()
                    .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
            "{scope:?}"
        );
    }
}

/// OIDCCCheckDiscEndpointClaimsSupported (recommended: a WARNING without
/// it): an array of claim names, which covers every claim Porthor releases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_claims_supported() {
    let h = start().await;
    let doc = h.discovery().await;
    let claims = strings(&doc["claims_supported"]);
    for claim in [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "name",
        "preferred_username",
        "email",
        "groups",
    ] {
        assert!(claims.contains(&claim), "{claim} not in {claims:?}");
    }
    // CheckDiscEndpointClaimsParameterSupported is INFO only: the `claims`
    // parameter is not supported, and the member, if present, says so.
    assert_ne!(doc["claims_parameter_supported"], true);
}

/// OIDCCCheckDiscEndpointGrantTypesSupported (a non-empty array if present)
/// and EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_grant_types_supported() {
    let h = start().await;
    let doc = h.discovery().await;
    assert_eq!(
        strings(&doc["grant_types_supported"]),
        ["authorization_code", "refresh_token"]
    );
    assert_eq!(strings(&doc["code_challenge_methods_supported"]), ["S256"]);
    let methods = strings(&doc["token_endpoint_auth_methods_supported"]);
    assert!(methods.contains(&"client_secret_basic"), "{methods:?}");
}

/// CheckDiscEndpointRequestParameterSupported and
/// CheckDiscEndpointRequestUriParameterSupported (INFO): booleans, false
/// here; `request_uri_parameter_supported` defaults to true when absent
/// (Discovery 3), so Porthor must send it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_discovery_request_parameters_supported() {
    let h = start().await;
    let doc = h.discovery().await;
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(doc["request_uri_parameter_supported"], false);
}
