//! The commands that need no server: keygen, hash-secret, hash-password and
//! check-config, client add and user add (checked by check-config),
//! rotate-key, and reload's refusals.

use std::os::unix::fs::PermissionsExt as _;

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, PasswordVerifier as _};
use porthor_models::ClientSecretHash;
use porthor_signer::{Signer, SigningAlgorithm};
use porthor_store::EncryptionKey;

use crate::{ConfigDir, SECRET, porthor, run, secret_hash, stderr, stdout};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_private_keys_the_signer_loads() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, alg) in [
        (None, SigningAlgorithm::Rs256),
        (Some("RS256"), SigningAlgorithm::Rs256),
        (Some("ES256"), SigningAlgorithm::Es256),
        (Some("EdDSA"), SigningAlgorithm::EdDsa),
    ] {
        let path = dir.path().join(format!("{}-{}.pem", alg, flag.is_some()));
        let mut command = porthor();
        command.arg("keygen").arg("--output").arg(&path);
        if let Some(flag) = flag {
            command.args(["--alg", flag]);
        }
        let output = run(&mut command, "");
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(mode(&path), 0o600, "{alg}");
        let pem = std::fs::read(&path).unwrap();
        assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----\n"));
        let signer = Signer::from_pem(&pem).unwrap();
        assert_eq!(signer.algorithm(), alg);
        assert!(
            stdout(&output).contains(signer.kid()),
            "{}",
            stdout(&output)
        );
    }
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.pem");
    std::fs::write(&path, "precious").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let output = run(porthor().arg("keygen").arg("--output").arg(&path), "");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("refusing to overwrite"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");

    let output = run(
        porthor()
            .args(["keygen", "--alg", "ES256", "--force", "--output"])
            .arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let signer = Signer::from_pem(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(signer.algorithm(), SigningAlgorithm::Es256);
    // The old file's looser mode does not survive the overwrite.
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn keygen_if_missing_keeps_an_existing_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.key");
    let keygen = || {
        run(
            porthor()
                .args(["keygen", "--store-key", "--if-missing", "--output"])
                .arg(&path),
            "",
        )
    };
    let output = keygen();
    assert!(output.status.success(), "{}", stderr(&output));
    let first = std::fs::read_to_string(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    let output = keygen();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("left unchanged"),
        "{}",
        stdout(&output)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    let both = run(
        porthor()
            .args(["keygen", "--force", "--if-missing", "--output"])
            .arg(&path),
        "",
    );
    assert!(!both.status.success());
}

#[test]
fn keygen_store_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = Vec::new();
    for name in ["a.key", "b.key"] {
        let path = dir.path().join(name);
        let output = run(
            porthor().args(["keygen", "--store-key", "-o"]).arg(&path),
            "",
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(mode(&path), 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n') && !text.contains("BEGIN"), "{text:?}");
        let key = EncryptionKey::parse(&text).unwrap();
        assert_eq!(key.to_base64(), text.trim_end());
        keys.push(text);
    }
    assert_ne!(keys[0], keys[1]);

    let existing = dir.path().join("a.key");
    let output = run(
        porthor()
            .args(["keygen", "--store-key", "-o"])
            .arg(&existing),
        "",
    );
    assert!(!output.status.success());
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), keys[0]);
}

#[test]
fn hash_secret_hashes_stdin() {
    let output = run(porthor().arg("hash-secret"), &format!("{SECRET}\n"));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let line = text.strip_suffix('\n').unwrap();
    assert!(!line.contains('\n'), "{text:?}");
    let hash = ClientSecretHash::parse(line).unwrap();
    assert!(hash.verify(SECRET));
    assert!(!hash.verify(&format!("{SECRET}\n")));
}

#[test]
fn hash_secret_refuses_a_short_secret() {
    let output = run(porthor().arg("hash-secret"), "too-short-secret\n");
    assert!(!output.status.success());
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("shorter than 32"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn hash_secret_generate() {
    let output = run(porthor().args(["hash-secret", "--generate"]), "");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let value = |label: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{label} = ")))
            .unwrap_or_else(|| panic!("no {label} in {text:?}"))
            .trim_matches('"')
            .to_owned()
    };
    let secret = value("client_secret");
    let hash = ClientSecretHash::parse(&value("client_secret_hash")).unwrap();
    assert_eq!(secret.len(), 43);
    assert!(hash.verify(&secret));
}

#[test]
fn hash_password_prints_an_argon2id_hash() {
    let output = run(
        porthor().arg("hash-password"),
        "correct horse battery staple\n",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let line = text.strip_suffix('\n').unwrap();
    assert!(line.starts_with("$argon2id$"), "{line}");
    let hash = PasswordHash::new(line).unwrap();
    let argon2 = Argon2::default();
    assert!(
        argon2
            .verify_password(b"correct horse battery staple", &hash)
            .is_ok()
    );
    assert!(
        argon2
            .verify_password(b"correct horse battery", &hash)
            .is_err()
    );

    let output = run(porthor().arg("hash-password"), "\n");
    assert!(!output.status.success());
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("empty"), "{}", stderr(&output));
}

fn config_with(password_hash: &str, redirect_uri: &str) -> String {
    format!(
        r#"
issuer = "https://auth.example.com"
[store]
backend = "redis"
redis_url = "redis://:hunter2@127.0.0.1:6399/0"
encryption_key_file = "store.key"
[signing]
key_file = "signing.pem"
[[clients]]
client_id = "chronograf"
client_secret_hash = "{hash}"
redirect_uris = ["https://chronograf.example.com/oauth/OIDC/callback"]
[[clients]]
client_id = "grafana"
client_secret_hash = "{hash}"
redirect_uris = ["{redirect_uri}"]
[[users]]
username = "alice"
password_hash = "{password_hash}"
"#,
        hash = secret_hash()
    )
}

#[test]
fn check_config_prints_the_effective_config_redacted() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let password_hash = porthor_argon2_hash();
    let path = dir.write_config(&config_with(
        &password_hash,
        "https://grafana.example.com/cb",
    ));
    // Run from elsewhere: key paths are relative to the file.
    let output = run(
        porthor()
            .current_dir("/")
            .env("PORTHOR_TOKENS__CODE_LIFETIME", "2m")
            .args(["check-config", "--config"])
            .arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for secret in [secret_hash().as_str(), &password_hash, "hunter2"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let effective: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(
        effective["issuer"].as_str(),
        Some("https://auth.example.com")
    );
    assert_eq!(
        effective["clients"][1]["client_secret_hash"].as_str(),
        Some("<redacted>")
    );
    assert_eq!(
        effective["users"][0]["password_hash"].as_str(),
        Some("<redacted>")
    );
    assert_eq!(
        effective["store"]["redis_url"].as_str(),
        Some("redis://:redacted@127.0.0.1:6399/0")
    );
    let key_file = dir.path().join("signing.pem");
    assert_eq!(effective["signing"]["key_file"].as_str(), key_file.to_str());
    // Defaults and the environment are part of the effective configuration.
    assert_eq!(effective["tokens"]["code_lifetime"].as_str(), Some("2m"));
    assert_eq!(
        effective["tokens"]["session_lifetime"].as_str(),
        Some("12h")
    );
    assert_eq!(effective["store"]["key_prefix"].as_str(), Some("porthor"));
}

/// A configured deployment runs the demo relying party only when told to,
/// and `check-config` says so.
#[test]
fn check_config_says_when_the_demo_is_on() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let base = config_with(&porthor_argon2_hash(), "https://grafana.example.com/cb");
    let path = dir.write_config(&base);
    let output = run(porthor().args(["check-config", "--config"]).arg(&path), "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !stdout(&output).contains("demo relying party"),
        "{}",
        stdout(&output)
    );

    let path = dir.write_config(&format!("{base}\n[demo]\nenabled = true\n"));
    let output = run(porthor().args(["check-config", "--config"]).arg(&path), "");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(
            "# The demo relying party is ON at https://auth.example.com/demo/, as client \"porthor-demo\""
        ),
        "{text}"
    );
    let effective: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(effective["demo"]["enabled"].as_bool(), Some(true));
    // The warning names the key, on stderr (the log).
    assert!(
        stderr(&output).contains("demo.enabled"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let path = dir.write_config(&config_with(
        &porthor_argon2_hash(),
        "http://grafana.example.com/cb",
    ));
    let output = run(porthor().args(["check-config", "--config"]).arg(&path), "");
    assert!(!output.status.success());
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert!(
        message.contains("clients[1].redirect_uris[0]: "),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let path = dir.write_config(&config_with(
        &porthor_argon2_hash(),
        "https://grafana.example.com/cb",
    ));
    let output = run(
        porthor()
            .env("PORTHOR_TOKENS__CODE_LIFETIME", "1h")
            .args(["check-config", "--config"])
            .arg(&path),
        "",
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("tokens.code_lifetime: "),
        "{}",
        stderr(&output)
    );

    let output = run(
        porthor().args(["check-config", "--config", "/nonexistent/porthor.toml"]),
        "",
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("/nonexistent/porthor.toml"),
        "{}",
        stderr(&output)
    );
}

/// `check-config` reads and renders the `[ui]` overrides: a template that
/// does not parse, a message key that does not exist, or a file that cannot
/// be read is named with its key, and the file and line.
#[test]
fn check_config_validates_the_page_overrides() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("messages.de.toml"),
        "[login]\ntitle = \"Einloggen\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("site.css"), "body { color: #000 }\n").unwrap();
    let ui = "\n[ui]\nproduct_name = \"ACME ID\"\ntemplate_dir = \"templates\"\ncss_file = \"site.css\"\n";
    let config = format!(
        "{}{ui}",
        config_with(&porthor_argon2_hash(), "https://grafana.example.com/cb")
    );
    let path = dir.write_config(&config);
    let check = || {
        run(
            porthor()
                .current_dir("/")
                .args(["check-config", "--config"])
                .arg(&path),
            "",
        )
    };
    let output = check();
    assert!(output.status.success(), "{}", stderr(&output));
    let effective: toml::Value = toml::from_str(&stdout(&output)).unwrap();
    assert_eq!(effective["ui"]["product_name"].as_str(), Some("ACME ID"));

    std::fs::write(
        templates.join("login.html"),
        "{% extends \"layout.html\" %}\n{% block content %}\n{{ t(\"login.titel\") }}\n{% endblock %}\n",
    )
    .unwrap();
    let output = check();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("ui.template_dir: "), "{message}");
    assert!(message.contains("login.titel"), "{message}");
    assert!(message.contains("login.html:3"), "{message}");

    std::fs::write(templates.join("login.html"), "{% if %}").unwrap();
    let message = stderr(&check());
    assert!(
        message.contains("ui.template_dir: template login.html"),
        "{message}"
    );

    std::fs::remove_file(templates.join("login.html")).unwrap();
    std::fs::remove_file(dir.path().join("site.css")).unwrap();
    let message = stderr(&check());
    assert!(message.contains("ui.css_file: cannot read "), "{message}");
    assert!(message.contains("site.css"), "{message}");
}

/// `check-config` (like `serve`) refuses a key file that others can read,
/// saying how to fix it; `--allow-insecure` lets it through, for
/// development.
#[test]
fn check_config_refuses_key_files_others_can_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let path = dir.write_config(&config_with(
        &porthor_argon2_hash(),
        "https://grafana.example.com/cb",
    ));
    let key = dir.path().join("store.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = run(porthor().args(["check-config", "--config"]).arg(&path), "");
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("store.encryption_key_file: "), "{message}");
    assert!(
        message.contains(&format!("chmod 600 {}", key.display())),
        "{message}"
    );
    let output = run(
        porthor()
            .args(["check-config", "--allow-insecure", "--config"])
            .arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

/// A password hash made by the binary itself.
fn porthor_argon2_hash() -> String {
    let output = run(porthor().arg("hash-password"), "s3cret-password\n");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).trim_end().to_owned()
}

/// A valid configuration with comments, for `client add` and `user add`
/// to append to.
fn commented_config() -> String {
    format!(
        r#"# The operator's header comment.
issuer = "https://auth.example.com"

[store]
backend = "memory"   # a trailing comment
encryption_key_file = "store.key"

[signing]
key_file = "signing.pem"

# The first client.
[[clients]]
client_id = "chronograf"
client_secret_hash = "{hash}"
redirect_uris = ["https://chronograf.example.com/oauth/OIDC/callback"]

# The users.
[[users]]
username = "alice"
password_hash = "{password_hash}"
"#,
        hash = secret_hash(),
        password_hash = porthor_argon2_hash(),
    )
}

/// The value after `label: ` on stdout.
fn printed(output: &std::process::Output, label: &str) -> String {
    stdout(output)
        .lines()
        .find_map(|line| line.strip_prefix(label)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {label} in {}", stdout(output)))
        .to_owned()
}

fn check_config(path: &std::path::Path) -> toml::Value {
    let output = run(porthor().args(["check-config", "--config"]).arg(path), "");
    assert!(output.status.success(), "{}", stderr(&output));
    toml::from_str(&stdout(&output)).unwrap()
}

#[test]
fn client_and_user_add_append_entries_check_config_accepts() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let path = dir.write_config(&commented_config());
    let before = std::fs::read_to_string(&path).unwrap();

    let output = run(
        porthor()
            .args(["client", "add", "--id", "grafana", "--name", "Grafana"])
            .args([
                "--redirect-uri",
                "https://grafana.example.com/login/generic_oauth",
            ])
            .args([
                "--redirect-uri",
                "http://127.0.0.1:3000/login/generic_oauth",
            ])
            .args(["--consent", "required", "--append"])
            .arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let secret = printed(&output, "client_secret");
    let output = run(
        porthor()
            .args(["client", "add", "--id", "spa", "--public"])
            .args(["--redirect-uri", "https://spa.example.com/cb", "--append"])
            .arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(
        porthor()
            .args([
                "user",
                "add",
                "bob",
                "--email",
                "bob@example.com",
                "--name",
                "Bob",
            ])
            .args(["--group", "admins", "--group", "ops", "--append"])
            .arg(&path),
        "a password from stdin\n",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).contains("a password from stdin"));
    let output = run(
        porthor()
            .args(["user", "add", "carol", "--generate-password", "--append"])
            .arg(&path),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let carol_password = printed(&output, "password");
    assert_eq!(carol_password.len(), 24);

    // Every comment and line of the original is still there, in order.
    let after = std::fs::read_to_string(&path).unwrap();
    let mut rest = after.as_str();
    for line in before.lines().filter(|line| !line.is_empty()) {
        let at = rest
            .find(line)
            .unwrap_or_else(|| panic!("lost {line:?}:\n{after}"));
        rest = &rest[at + line.len()..];
    }
    assert!(!after.contains(&secret) && !after.contains(&carol_password));

    // The provider accepts the file, with the new entries as given.
    let effective = check_config(&path);
    let clients = effective["clients"].as_array().unwrap();
    let ids: Vec<_> = clients
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chronograf", "grafana", "spa"]);
    assert_eq!(clients[1]["consent"].as_str(), Some("required"));
    assert_eq!(clients[1]["name"].as_str(), Some("Grafana"));
    assert_eq!(clients[1]["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(
        clients[2]["token_endpoint_auth_method"].as_str(),
        Some("none")
    );
    assert_eq!(clients[2]["require_pkce"].as_bool(), Some(true));
    let users = effective["users"].as_array().unwrap();
    assert_eq!(users[1]["username"].as_str(), Some("bob"));
    assert_eq!(users[1]["groups"].as_array().unwrap().len(), 2);
    assert_eq!(users[2]["username"].as_str(), Some("carol"));

    // The file holds the hashes of what was printed.
    let file: toml::Value = toml::from_str(&after).unwrap();
    let hash = file["clients"][1]["client_secret_hash"].as_str().unwrap();
    assert!(ClientSecretHash::parse(hash).unwrap().verify(&secret));
    for (index, password) in [(1, "a password from stdin"), (2, carol_password.as_str())] {
        let hash = file["users"][index]["password_hash"].as_str().unwrap();
        let hash = PasswordHash::new(hash).unwrap();
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .unwrap();
    }
}

#[test]
fn client_and_user_add_refuse_duplicates_naming_the_file() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let path = dir.write_config(&commented_config());
    let before = std::fs::read_to_string(&path).unwrap();
    let output = run(
        porthor()
            .args(["client", "add", "--id", "chronograf"])
            .args(["--redirect-uri", "https://c.example.com/cb", "--append"])
            .arg(&path),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains(path.to_str().unwrap()), "{error}");
    assert!(
        error.contains("clients[0].client_id is already \"chronograf\""),
        "{error}"
    );
    assert!(error.contains("--id"), "{error}");
    // No secret is shown for a client that was not added.
    assert_eq!(stdout(&output), "");

    let output = run(
        porthor()
            .args(["user", "add", "alice", "--append"])
            .arg(&path),
        "password\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("users[0].username is already \"alice\""),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    // A bad flag is named by the key it sets.
    let output = run(
        porthor().args([
            "client",
            "add",
            "--id",
            "x",
            "--redirect-uri",
            "http://x.example/cb",
        ]),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("clients[0].redirect_uris[0]"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn printed_stanzas_paste_into_a_valid_file() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let output = run(
        porthor()
            .args(["client", "add", "--id", "grafana"])
            .args(["--redirect-uri", "https://grafana.example.com/cb"]),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let (_, client) = text
        .split_once("# Add this to the configuration file:\n")
        .unwrap();
    let output = run(porthor().args(["user", "add", "dave"]), "secret\n");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let (_, user) = text
        .split_once("# Add this to the configuration file:\n")
        .unwrap();
    let path = dir.write_config(&format!("{}\n{client}\n{user}", commented_config()));
    let effective = check_config(&path);
    assert_eq!(
        effective["clients"][1]["client_id"].as_str(),
        Some("grafana")
    );
    assert_eq!(effective["users"][1]["username"].as_str(), Some("dave"));
}

/// The `Signing key: ALG, kid KID.` line check-config prints.
fn signing_key_line(path: &std::path::Path) -> String {
    let output = run(porthor().args(["check-config", "--config"]).arg(path), "");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .find_map(|line| line.strip_prefix("# Signing key: "))
        .unwrap()
        .to_owned()
}

fn signing_table(path: &std::path::Path) -> toml::Value {
    let text = std::fs::read_to_string(path).unwrap();
    toml::from_str::<toml::Value>(&text).unwrap()["signing"].clone()
}

fn rotate_key(path: &std::path::Path, flags: &[&str]) -> String {
    let output = run(
        porthor()
            .args(["rotate-key", "--config"])
            .arg(path)
            .args(flags),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// `rotate-key`: a new private key beside the old, the file's `[signing]`
/// edited in place with its comments, and a file check-config accepts at
/// each step of the rotation procedure.
#[test]
fn rotate_key_moves_the_old_key_to_previous_keeping_comments() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let path = dir.write_config(&commented_config());
    let old_kid = Signer::from_pem(&std::fs::read(dir.path().join("signing.pem")).unwrap())
        .unwrap()
        .kid()
        .to_owned();

    // The default: sign with a new key of the same algorithm at once.
    let said = rotate_key(&path, &[]);
    let signing = signing_table(&path);
    let new_name = signing["key_file"].as_str().unwrap().to_owned();
    assert!(
        new_name.starts_with("signing-") && new_name.ends_with(".pem"),
        "{new_name}"
    );
    assert_eq!(
        signing["previous_key_files"].as_array().unwrap(),
        &[toml::Value::from("signing.pem")]
    );
    let new_path = dir.path().join(&new_name);
    assert_eq!(mode(&new_path), 0o600);
    let new = Signer::from_pem(&std::fs::read(&new_path).unwrap()).unwrap();
    assert_eq!(new.algorithm(), SigningAlgorithm::Es256);
    assert_ne!(new.kid(), old_kid);
    assert!(
        said.contains(new.kid()) && said.contains(&old_kid),
        "{said}"
    );
    assert!(said.contains("porthor reload"), "{said}");
    let text = std::fs::read_to_string(&path).unwrap();
    for comment in [
        "# The operator's header comment.",
        "# a trailing comment",
        "# The first client.",
    ] {
        assert!(text.contains(comment), "{text}");
    }
    assert_eq!(
        signing_key_line(&path),
        format!("ES256, kid {}.", new.kid())
    );

    // Publish first: the new key joins the published ones, signing stays.
    let said = rotate_key(
        &path,
        &["--publish-only", "--alg", "EdDSA", "-o", "next.pem"],
    );
    assert!(said.contains("not signing yet"), "{said}");
    let signing = signing_table(&path);
    assert_eq!(signing["key_file"].as_str(), Some(new_name.as_str()));
    assert_eq!(
        signing["previous_key_files"].as_array().unwrap(),
        &[
            toml::Value::from("signing.pem"),
            toml::Value::from("next.pem")
        ]
    );
    assert_eq!(mode(&dir.path().join("next.pem")), 0o600);
    assert_eq!(
        signing_key_line(&path),
        format!("ES256, kid {}.", new.kid())
    );

    // Then sign with it: it leaves the previous keys, the one it replaces
    // goes first.
    let said = rotate_key(&path, &["--key", "next.pem"]);
    assert!(!said.contains("warning"), "{said}");
    let signing = signing_table(&path);
    assert_eq!(signing["key_file"].as_str(), Some("next.pem"));
    assert_eq!(
        signing["previous_key_files"].as_array().unwrap(),
        &[
            toml::Value::from(new_name),
            toml::Value::from("signing.pem")
        ]
    );
    assert!(signing_key_line(&path).starts_with("EdDSA, kid "));
}

#[test]
fn rotate_key_refuses_what_it_cannot_rotate() {
    let dir = ConfigDir::new(&EncryptionKey::generate().to_base64());
    let path = dir.write_config("issuer = \"https://auth.example.com\"\n");
    let output = run(porthor().args(["rotate-key", "--config"]).arg(&path), "");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no [signing] key_file"),
        "{}",
        stderr(&output)
    );

    let path = dir.write_config(&commented_config());
    let before = std::fs::read_to_string(&path).unwrap();
    for (flags, error) in [
        (&["--key", "signing.pem"][..], "nothing to rotate"),
        (&["--key", "missing.pem"][..], "cannot read"),
        (&["--output", "signing.pem"][..], "refusing to overwrite"),
    ] {
        let output = run(
            porthor()
                .args(["rotate-key", "--config"])
                .arg(&path)
                .args(flags),
            "",
        );
        assert!(!output.status.success(), "{flags:?}");
        assert!(stderr(&output).contains(error), "{}", stderr(&output));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }
}

/// `reload` signals only a porthor process: a missing, garbled or stale
/// pid file (one naming another program) is refused.
#[test]
fn reload_refuses_a_pid_file_naming_no_porthor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("porthor.pid");
    let reload = || run(porthor().args(["reload", "--pid-file"]).arg(&path), "");

    let output = reload();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("cannot read the pid file"));

    std::fs::write(&path, "not a pid\n").unwrap();
    let output = reload();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("does not hold a process id"));

    // This test's own process: alive, and not porthor.
    std::fs::write(&path, format!("{}\n", std::process::id())).unwrap();
    let output = reload();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not porthor (a stale pid file?)"),
        "{}",
        stderr(&output)
    );
    let output = run(
        porthor().args(["reload", "--pid", &std::process::id().to_string()]),
        "",
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not porthor"),
        "{}",
        stderr(&output)
    );
    let output = run(porthor().args(["reload", "--pid", "0"]), "");
    assert!(!output.status.success());
    let output = run(porthor().arg("reload"), "");
    assert!(!output.status.success());
}
