//! Bad values: each problem names its key, explains itself without leaking
//! a secret, and all are reported at once.

use super::{Fixture, PASSWORD_HASH, SECRET, edited, secret_hash};

#[test]
fn each_bad_key_is_named() {
    let fixture = Fixture::new();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "plain http issuer",
            edited("https://auth.example.com", "http://auth.example.com"),
            "issuer",
        ),
        (
            "issuer with a query",
            edited("https://auth.example.com", "https://auth.example.com/?x=1"),
            "issuer",
        ),
        (
            "no issuer",
            edited("issuer = \"https://auth.example.com\"", ""),
            "issuer",
        ),
        (
            "redirect uri with a fragment",
            edited(
                "https://grafana.example.com/login/generic_oauth",
                "https://grafana.example.com/cb#frag",
            ),
            "clients[1].redirect_uris[0]",
        ),
        (
            "second redirect uri on plain http",
            edited("http://127.0.0.1:3000/cb", "http://grafana.example.com/cb"),
            "clients[1].redirect_uris[1]",
        ),
        (
            "no redirect uris",
            edited(
                r#"["https://chronograf.example.com/oauth/OIDC/callback"]"#,
                "[]",
            ),
            "clients[0].redirect_uris",
        ),
        (
            "plain-text client secret",
            edited(&secret_hash(), SECRET),
            "clients[0].client_secret_hash",
        ),
        (
            "unknown client authentication method",
            edited(
                "client_id = \"chronograf\"",
                "client_id = \"chronograf\"\ntoken_endpoint_auth_method = \"private_key_jwt\"",
            ),
            "clients[0].token_endpoint_auth_method",
        ),
        (
            "public client with a secret",
            edited(
                "client_id = \"chronograf\"",
                "client_id = \"chronograf\"\ntoken_endpoint_auth_method = \"none\"",
            ),
            "clients[0].client_secret_hash",
        ),
        (
            "confidential client without a secret",
            edited(&format!("client_secret_hash = \"{}\"\n", secret_hash()), ""),
            "clients[0].client_secret_hash",
        ),
        (
            "post-logout redirect uri with a fragment",
            edited(
                "client_id = \"chronograf\"",
                "client_id = \"chronograf\"\npost_logout_redirect_uris = [\"https://c.example.com/#x\"]",
            ),
            "clients[0].post_logout_redirect_uris[0]",
        ),
        (
            "refresh token lifetime that is not a duration",
            edited(
                "code_lifetime = \"30s\"",
                "refresh_token_lifetime = \"forever\"",
            ),
            "tokens.refresh_token_lifetime",
        ),
        (
            "refresh token idle timeout of zero",
            edited(
                "code_lifetime = \"30s\"",
                "refresh_token_idle_timeout = \"0s\"",
            ),
            "tokens.refresh_token_idle_timeout",
        ),
        (
            "bcrypt password hash",
            edited(
                &PASSWORD_HASH,
                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            ),
            "users[0].password_hash",
        ),
        (
            "password in clear",
            edited(&PASSWORD_HASH, "hunter2"),
            "users[0].password_hash",
        ),
        (
            "argon2 hash with bad parameters",
            edited(
                &PASSWORD_HASH,
                "$argon2id$v=19$m=1,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            ),
            "users[0].password_hash",
        ),
        (
            "unknown key in a table",
            edited("pool_size = 8", "pool_sise = 8"),
            "store.pool_sise",
        ),
        (
            "unknown top-level key",
            edited("issuer =", "isuer ="),
            "isuer",
        ),
        (
            "unknown key in a client",
            edited(
                "client_id = \"grafana\"",
                "client_id = \"grafana\"\nscope = \"openid\"",
            ),
            "clients[1].scope",
        ),
        (
            "zero lifetime",
            edited("id_token_lifetime = \"15m\"", "id_token_lifetime = \"0s\""),
            "tokens.id_token_lifetime",
        ),
        (
            "sub-second lifetime",
            edited(
                "id_token_lifetime = \"15m\"",
                "id_token_lifetime = \"500ms\"",
            ),
            "tokens.id_token_lifetime",
        ),
        (
            "code lifetime over ten minutes",
            edited("code_lifetime = \"30s\"", "code_lifetime = \"10m 1s\""),
            "tokens.code_lifetime",
        ),
        (
            "not a duration",
            edited("code_lifetime = \"30s\"", "code_lifetime = \"soon\""),
            "tokens.code_lifetime",
        ),
        (
            "duplicate client",
            edited("client_id = \"grafana\"", "client_id = \"chronograf\""),
            "clients[1].client_id",
        ),
        (
            "duplicate user",
            edited("username = \"bob\"", "username = \"alice\""),
            "users[1].username",
        ),
        (
            "empty client id",
            edited("client_id = \"grafana\"", "client_id = \"\""),
            "clients[1].client_id",
        ),
        (
            "missing client field",
            edited("client_id = \"grafana\"\n", ""),
            "clients[1].client_id",
        ),
        (
            "redis without an encryption key file",
            edited("encryption_key_file = \"secrets/store.key\"", ""),
            "store.encryption_key_file",
        ),
        (
            "encryption key file that does not exist",
            edited("secrets/store.key", "secrets/missing.key"),
            "store.encryption_key_file",
        ),
        (
            "encryption key file that is not a key",
            edited("secrets/store.key", "secrets/signing.pem"),
            "store.encryption_key_file",
        ),
        (
            "redis without a url",
            edited("redis_url = \"redis://:hunter2@127.0.0.1:6399/0\"", ""),
            "store.redis_url",
        ),
        (
            "redis url with the wrong scheme",
            edited(
                "redis://:hunter2@127.0.0.1:6399/0",
                "http://127.0.0.1:6399/0",
            ),
            "store.redis_url",
        ),
        (
            "unknown backend",
            edited("backend = \"redis\"", "backend = \"mysql\""),
            "store.backend",
        ),
        (
            "one server and a cluster at once",
            edited(
                "pool_size = 8",
                "pool_size = 8\ncluster_urls = [\"redis://10.0.0.1:6379\"]",
            ),
            "store.redis_url",
        ),
        (
            "a cluster and sentinels at once",
            edited(
                "[signing]",
                "[store.sentinel]\nmaster_name = \"m\"\nurls = [\"redis://10.0.0.1:26379\"]\n\n[signing]",
            )
            .replace(
                "redis_url = \"redis://:hunter2@127.0.0.1:6399/0\"",
                "cluster_urls = [\"redis://10.0.0.1:6379\"]",
            ),
            "store.cluster_urls",
        ),
        (
            "a cluster url with the wrong scheme",
            edited(
                "redis_url = \"redis://:hunter2@127.0.0.1:6399/0\"",
                "cluster_urls = [\"redis://10.0.0.1:6379\", \"http://10.0.0.2:6379\"]",
            ),
            "store.cluster_urls[1]",
        ),
        (
            "sentinels without a master name",
            edited(
                "[signing]",
                "[store.sentinel]\nurls = [\"redis://10.0.0.1:26379\"]\n\n[signing]",
            )
            .replace("redis_url = \"redis://:hunter2@127.0.0.1:6399/0\"\n", ""),
            "store.sentinel.master_name",
        ),
        (
            "a password file that does not exist",
            edited("pool_size = 8", "pool_size = 8\npassword_file = \"secrets/nothing\""),
            "store.password_file",
        ),
        (
            "pool size of the wrong type",
            edited("pool_size = 8", "pool_size = \"many\""),
            "store.pool_size",
        ),
        (
            "zero pool size",
            edited("pool_size = 8", "pool_size = 0"),
            "store.pool_size",
        ),
        (
            "empty key prefix",
            edited("key_prefix = \"porthor-test\"", "key_prefix = \"\""),
            "store.key_prefix",
        ),
        (
            "signing key that does not exist",
            edited("secrets/signing.pem", "secrets/nope.pem"),
            "signing.key_file",
        ),
        (
            "signing key that is not a key",
            edited("secrets/signing.pem", "secrets/store.key"),
            "signing.key_file",
        ),
        (
            "previous signing key that does not exist",
            edited(
                "key_file = \"secrets/signing.pem\"",
                "key_file = \"secrets/signing.pem\"\nprevious_key_files = [\"secrets/nope.pem\"]",
            ),
            "signing.previous_key_files[0]",
        ),
        (
            "previous signing key that is not a key",
            edited(
                "key_file = \"secrets/signing.pem\"",
                "key_file = \"secrets/signing.pem\"\nprevious_key_files = [\"secrets/store.key\"]",
            ),
            "signing.previous_key_files[0]",
        ),
        (
            "no signing key",
            edited("key_file = \"secrets/signing.pem\"", ""),
            "signing.key_file",
        ),
        (
            "listen without a port",
            edited("listen = \"127.0.0.1:8080\"", "listen = \"localhost\""),
            "server.listen",
        ),
        (
            "zero workers",
            edited("workers = 2", "workers = 0"),
            "server.workers",
        ),
        (
            "unknown log format",
            edited("format = \"json\"", "format = \"xml\""),
            "log.format",
        ),
    ];
    for (name, toml, key) in cases {
        let keys = fixture.problem_keys(&toml);
        assert_eq!(keys, [key], "{name}");
    }
}

#[test]
fn messages_explain_and_do_not_leak_secrets() {
    let fixture = Fixture::new();
    let toml = edited(
        "redis://:hunter2@127.0.0.1:6399/0",
        "ftp://:hunter2@127.0.0.1/0",
    );
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(
        message.starts_with("invalid configuration: store.redis_url: "),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let toml = edited(&secret_hash(), SECRET);
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(message.contains("hash-secret"), "{message}");
    assert!(!message.contains(SECRET), "{message}");

    let toml = edited("code_lifetime = \"30s\"", "code_lifetime = \"11m\"");
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(message.contains("RFC 6749"), "{message}");

    let toml = edited("pool_size = 8", "pool_sise = 8");
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(
        message.contains("store.pool_sise: unknown key"),
        "{message}"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let fixture = Fixture::new();
    let toml = edited("https://auth.example.com", "auth.example.com")
        .replace("workers = 2", "workers = 0")
        .replace("client_id = \"grafana\"", "client_id = \"chronograf\"");
    let keys = fixture.problem_keys(&toml);
    assert_eq!(keys, ["server.workers", "issuer", "clients[1].client_id"]);
    let message = fixture.load(&toml, &[]).unwrap_err().to_string();
    assert!(
        message.starts_with("invalid configuration (3 problems):\n  "),
        "{message}"
    );
}
