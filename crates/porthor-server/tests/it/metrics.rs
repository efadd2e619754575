//! Prometheus metrics over HTTP: real flows, then a scrape of `/metrics`,
//! checked for exact counter values and label sets; the separate metrics
//! listener; client ids as labels only when asked for.
//!
//! The recorder is process-wide, and nextest (`cargo xtask test`) runs each
//! test in a process of its own, so every test starts from zero.

use std::collections::{BTreeMap, BTreeSet};

use porthor_server::MetricsListen;
use reqwest::StatusCode;

use crate::harness::{CLIENT_ID, Harness, OFFLINE, Options, StoreKind, USERNAME, json};

/// One sample: the metric's name and its labels, sorted.
type Series = (String, BTreeSet<(String, String)>);

/// Parses the Prometheus text format: every sample line into its series
/// and value.
fn parse(body: &str) -> BTreeMap<Series, f64> {
    let mut samples = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap();
                (key.to_owned(), value.trim_matches('"').to_owned())
            })
            .collect();
        samples.insert((name.to_owned(), labels), value.parse().unwrap());
    }
    samples
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    (
        name.to_owned(),
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// Every sample of `name`, by label set.
fn samples_of(
    samples: &BTreeMap<Series, f64>,
    name: &str,
) -> BTreeMap<BTreeSet<(String, String)>, f64> {
    samples
        .iter()
        .filter(|((n, _), _)| n == name)
        .map(|((_, labels), value)| (labels.clone(), *value))
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    series("", pairs).1
}

async fn scrape(h: &Harness, url: &str) -> BTreeMap<Series, f64> {
    let response = h.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    parse(&response.text().await.unwrap())
}

fn public_metrics(backend: StoreKind) -> Options {
    Options {
        metrics: Some(MetricsListen::PublicPort),
        ..Options::new(backend)
    }
}

async fn flows_are_counted(backend: StoreKind) {
    let h = Harness::start_with(public_metrics(backend)).await;
    // A failed login, then a successful one (each GETs the form first).
    let refused = h
        .post_login(&[("username", USERNAME), ("password", "wrong")])
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let session = h.login().await;
    // A code redeemed for tokens with a refresh token, then replayed.
    let code = h
        .code_for(&session, CLIENT_ID, crate::harness::REDIRECT_URI, OFFLINE)
        .await;
    let tokens = json(h.redeem(&code).await, StatusCode::OK).await;
    assert_eq!(h.redeem(&code).await.status(), StatusCode::BAD_REQUEST);
    // A second grant, refreshed once, then its spent refresh token reused.
    let grant = h.grant(&session, OFFLINE).await;
    let first = grant["refresh_token"].as_str().unwrap();
    json(h.refresh(first, None).await, StatusCode::OK).await;
    h.assert_refresh_refused(first).await;
    // A path no route knows, twice, with different raw paths.
    assert_eq!(h.get("/no/such/1").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.get("/no/such/2").await.status(), StatusCode::NOT_FOUND);
    assert!(tokens["refresh_token"].is_string());

    let samples = scrape(&h, &h.url("/metrics")).await;
    assert_eq!(
        samples_of(&samples, "porthor_logins_total"),
        BTreeMap::from([
            (labels(&[("outcome", "failure")]), 1.0),
            (labels(&[("outcome", "success")]), 1.0),
        ])
    );
    assert_eq!(
        samples_of(&samples, "porthor_codes_total"),
        BTreeMap::from([
            (labels(&[("outcome", "issued")]), 2.0),
            (labels(&[("outcome", "redeemed")]), 2.0),
            (labels(&[("outcome", "replayed")]), 1.0),
        ])
    );
    assert_eq!(
        samples_of(&samples, "porthor_tokens_issued_total"),
        BTreeMap::from([
            (labels(&[("grant_type", "authorization_code")]), 2.0),
            (labels(&[("grant_type", "refresh_token")]), 1.0),
        ])
    );
    assert_eq!(
        samples_of(&samples, "porthor_refresh_families_revoked_total"),
        BTreeMap::from([(labels(&[("reason", "reuse")]), 1.0)])
    );
    let requests = samples_of(&samples, "porthor_http_requests_total");
    let request = |route: &str, method: &str, status: &str| {
        requests
            .get(&labels(&[
                ("route", route),
                ("method", method),
                ("status", status),
            ]))
            .copied()
    };
    // Two login forms for the posts, and one more inside `h.login()`.
    assert_eq!(request("/login", "GET", "200"), Some(2.0));
    assert_eq!(request("/login", "POST", "401"), Some(1.0));
    assert_eq!(request("/login", "POST", "303"), Some(1.0));
    assert_eq!(request("/auth/openid/login", "GET", "302"), Some(2.0));
    assert_eq!(request("/auth/openid/token", "POST", "200"), Some(3.0));
    assert_eq!(request("/auth/openid/token", "POST", "400"), Some(2.0));
    // The raw paths never become labels.
    assert_eq!(request("unmatched", "GET", "404"), Some(2.0));
    assert!(
        requests
            .keys()
            .flatten()
            .all(|(_, value)| !value.contains("/no/such")),
        "{requests:?}"
    );
    // The histograms: one observation per request, per route; the store's
    // operations are timed.
    assert_eq!(
        samples.get(&series(
            "porthor_http_request_duration_seconds_count",
            &[("route", "/auth/openid/token")]
        )),
        Some(&5.0)
    );
    assert!(
        samples.keys().any(|(name, labels)| name
            == "porthor_store_operation_duration_seconds_count"
            && labels.contains(&("op".to_owned(), "replace".to_owned()))),
        "{samples:?}"
    );
    // No client ids unless asked for.
    assert!(
        samples
            .keys()
            .all(|(_, labels)| labels.iter().all(|(key, _)| key != "client"))
    );
}

async fn client_ids_are_labels_only_when_asked_for(backend: StoreKind) {
    let h = Harness::start_with(Options {
        metrics_per_client: true,
        ..public_metrics(backend)
    })
    .await;
    let session = h.login().await;
    h.grant(&session, "openid").await;
    let samples = scrape(&h, &h.url("/metrics")).await;
    assert_eq!(
        samples_of(&samples, "porthor_codes_total"),
        BTreeMap::from([
            (labels(&[("outcome", "issued"), ("client", CLIENT_ID)]), 1.0),
            (
                labels(&[("outcome", "redeemed"), ("client", CLIENT_ID)]),
                1.0
            ),
        ])
    );
    assert_eq!(
        samples_of(&samples, "porthor_tokens_issued_total"),
        BTreeMap::from([(
            labels(&[("grant_type", "authorization_code"), ("client", CLIENT_ID)]),
            1.0
        )])
    );
}

async fn separate_listener_keeps_metrics_off_the_public_port(backend: StoreKind) {
    let h = Harness::start_with(Options {
        metrics: Some(MetricsListen::Separate("127.0.0.1:0".parse().unwrap())),
        ..Options::new(backend)
    })
    .await;
    assert_eq!(h.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    h.login().await;
    let addr = h.metrics_addr.expect("a metrics listener");
    let samples = scrape(&h, &format!("http://{addr}/metrics")).await;
    assert_eq!(
        samples.get(&series("porthor_logins_total", &[("outcome", "success")])),
        Some(&1.0)
    );
    // The public port's 404 for /metrics is counted; scrapes of the
    // separate listener are not requests to the provider.
    let requests = samples_of(&samples, "porthor_http_requests_total");
    assert_eq!(
        requests.get(&labels(&[
            ("route", "unmatched"),
            ("method", "GET"),
            ("status", "404")
        ])),
        Some(&1.0)
    );
    // Only /metrics there.
    let other = h
        .http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

async fn metrics_are_off_by_default(backend: StoreKind) {
    let h = Harness::start(backend).await;
    assert_eq!(h.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    assert!(h.metrics_addr.is_none());
}

crate::on_both_stores!(
    flows_are_counted,
    client_ids_are_labels_only_when_asked_for,
    separate_listener_keeps_metrics_off_the_public_port,
    metrics_are_off_by_default,
);
