//! The command line: subcommands and their flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use porthor_signer::SigningAlgorithm;

/// Porthor, an OpenID Connect provider.
///
/// Settings come from the TOML file given by --config, overridden by
/// PORTHOR_* environment variables: PORTHOR_ISSUER, PORTHOR_SERVER__LISTEN,
/// PORTHOR_STORE__REDIS_URL, PORTHOR_TOKENS__CODE_LIFETIME and so on (the key
/// path in capitals, `__` between levels).
#[derive(Debug, Parser)]
#[command(name = "porthor", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider.
    ///
    /// Without --config it runs on embedded demo
    /// defaults: an in-memory store, a fresh signing key, issuer
    /// http://127.0.0.1:8080, the built-in demo relying party at /demo/,
    /// and a client `demo` (redirect URI http://127.0.0.1:8080/demo/callback,
    /// the demo's) and user `demo` with random credentials printed at
    /// start, with the landing page's URL: its "Try a login" ends on a
    /// page of the user's claims. That mode is for trying Porthor out, not
    /// for production.
    ///
    /// Signals: SIGTERM drains (/ready answers 503 for server.drain_delay,
    /// default 5s, while everything else is served), then stops accepting
    /// and lets in-flight requests finish (server.shutdown_timeout, default
    /// 30s) before exiting 0; SIGINT skips the drain; SIGHUP reloads the
    /// configuration file's clients, users, signing keys and throttle
    /// limits, keeping connections and sessions (an invalid file is refused,
    /// every problem logged, and the running configuration stays); SIGHUP
    /// and SIGUSR1 reopen log.audit_file (for logrotate).
    Serve(ServeArgs),
    /// Make a running `porthor serve` reload its configuration file: send
    /// it SIGHUP, finding it by the pid file it was started with
    /// (`serve --pid-file`), or by --pid (1 in a container, where porthor
    /// is the first process).
    ///
    /// The outcome is in the server's log ("configuration reloaded", or
    /// "configuration reload refused" with every problem) and its
    /// porthor_config_reloads_total metric; `check-config` first tells
    /// whether the file is valid.
    Reload(ReloadArgs),
    /// Rotate the signing key: write a new key beside the current one (same
    /// algorithm unless --alg), make it `signing.key_file`, and move the
    /// current one to the front of `signing.previous_key_files`, editing
    /// the configuration file in place (comments kept).
    ///
    /// Then reload the server (`porthor reload`, SIGHUP): new tokens are
    /// signed with the new key, and the old one stays in the JWKS so that
    /// tokens it signed keep verifying. With --publish-only the new key only
    /// joins the JWKS, and --key later switches signing to it: the
    /// procedure in docs/operations.md, "Rotating the signing key".
    RotateKey(RotateKeyArgs),
    /// Write a new signing key (PEM) or store encryption key to a file
    /// readable only by its owner.
    Keygen(KeygenArgs),
    /// Hash a client secret read from stdin, for `client_secret_hash`.
    HashSecret(HashSecretArgs),
    /// Hash a password read from stdin with Argon2id, for `password_hash`.
    HashPassword,
    /// Invalidate every outstanding authorization code in the store.
    DeleteAllCodes(ConfigArgs),
    /// End every login session of a user, and with them every code, access
    /// token and refresh token issued under them, on every replica at once
    /// (for a compromised account; the Redis store only).
    ///
    /// It does not stop new logins: change the user's password or remove
    /// them from `[[users]]` (and reload) first.
    RevokeUser(RevokeUserArgs),
    /// Validate the configuration and print it with secrets redacted.
    ///
    /// Checks every key, the key files (readable, private to their owner,
    /// parseable), the clients and users, and the `[ui]` overrides (every
    /// template parsed and rendered, the stylesheet and logo readable); an
    /// error names the key, and the file and line where there is one. Exits
    /// 1 on any problem; warnings (odd but harmless settings) are logged.
    CheckConfig(ConfigArgs),
    /// Print the JSON Schema of the configuration file, for editors.
    ///
    /// Point an editor's TOML support at it (taplo, or VS Code's Even
    /// Better TOML: a `#:schema ./porthor.schema.json` line at the top of
    /// porthor.toml) to have every key completed, described and checked as
    /// you type. The same schema, for this version, is
    /// docs/porthor.schema.json in the source tree.
    ConfigSchema,
    /// Probe a running instance's /health (or /ready) and exit 0 if it
    /// answers 200, 1 otherwise: a container's HEALTHCHECK.
    ///
    /// A plain HTTP/1.1 GET over a TCP socket, for loopback: no TLS, no
    /// proxy, no redirects. The instance is --url, or else the one the
    /// configuration (--config and PORTHOR_* variables, as for `serve`)
    /// describes: its server.listen address (`0.0.0.0` and `[::]` probed on
    /// loopback) and the issuer's path.
    Healthcheck(HealthcheckArgs),
    /// Register a relying party: `porthor client add`.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Add a user who can log in: `porthor user add`.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The instance's base URL, such as http://127.0.0.1:8080 (with the
    /// issuer's path, if it has one).
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    pub url: Option<String>,
    /// Read the instance's address from this configuration file.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Probe /ready (the store answers) instead of /health (the process is
    /// up).
    #[arg(long)]
    pub ready: bool,
    /// Give up after this long, connecting and reading together.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub timeout: String,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Make a new client: print its secret (once) and the `[[clients]]`
    /// stanza to paste into the configuration, or with --append add the
    /// stanza to the file, keeping its comments.
    ///
    /// The client is checked as check-config would; with --append, an id
    /// the file already has is refused. Reload the provider (`porthor
    /// reload`, SIGHUP) for it to take effect.
    Add(ClientAddArgs),
}

#[derive(Debug, Args)]
pub struct ClientAddArgs {
    /// The client_id relying parties will send.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// A redirect URI: https, or http on a loopback host; exact match.
    /// Repeat for more than one.
    #[arg(long = "redirect-uri", value_name = "URI", required = true)]
    pub redirect_uris: Vec<String>,
    /// What the login and consent pages call the application.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A public client (a single-page or native app): no secret, PKCE
    /// required.
    #[arg(long)]
    pub public: bool,
    /// "required" to ask the user to approve the client's scopes, or
    /// "implicit" (the default: a first-party application).
    #[arg(long, value_name = "POLICY")]
    pub consent: Option<String>,
    /// Append the stanza to this configuration file instead of printing
    /// it; the file keeps its comments and layout.
    #[arg(long, value_name = "PATH")]
    pub append: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Make a new user: hash the password read from stdin (or a generated
    /// one, printed once) and print the `[[users]]` stanza to paste, or with
    /// --append add it to the file, keeping its comments.
    ///
    /// With --append, a username the file already has is refused. Reload
    /// the provider (`porthor reload`, SIGHUP) for it to take effect.
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The username to log in with.
    #[arg(value_name = "USERNAME")]
    pub username: String,
    /// The email claim.
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,
    /// The name claim (a display name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A group for the groups claim; repeat for more than one.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Generate a random password and print it once, instead of reading
    /// one from stdin.
    #[arg(long)]
    pub generate_password: bool,
    /// Append the stanza to this configuration file instead of printing
    /// it; the file keeps its comments and layout.
    #[arg(long, value_name = "PATH")]
    pub append: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The TOML configuration file.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub insecure: InsecureArgs,
    /// Write the process id to this file once listening, and remove it on
    /// a clean stop: for `porthor reload --pid-file`.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ReloadArgs {
    /// The pid file `porthor serve --pid-file` wrote.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// The server's process id.
    #[arg(long, value_name = "PID")]
    pub pid: Option<i32>,
}

#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// The TOML configuration file whose `[signing]` table to edit.
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    /// The new key's algorithm: RS256, ES256 or EdDSA; the current key's
    /// unless given.
    #[arg(long, value_parser = parse_algorithm, conflicts_with = "key")]
    pub alg: Option<SigningAlgorithm>,
    /// Where to write the new key, as the file should name it (relative to
    /// its directory); by default beside the current key, named after it
    /// and the time.
    #[arg(long, short, value_name = "PATH", conflicts_with = "key")]
    pub output: Option<PathBuf>,
    /// Only publish the new key: add it to `signing.previous_key_files`
    /// (in the JWKS, not signing) and leave `key_file` as it is.
    #[arg(long, conflicts_with = "key")]
    pub publish_only: bool,
    /// Sign with this existing key (one --publish-only wrote, as the file
    /// names it) instead of a new one: it leaves
    /// `previous_key_files` and becomes `key_file`.
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The TOML configuration file.
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    #[command(flatten)]
    pub insecure: InsecureArgs,
}

#[derive(Debug, Args)]
pub struct RevokeUserArgs {
    /// The user whose sessions to end.
    #[arg(value_name = "USERNAME")]
    pub username: String,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct InsecureArgs {
    /// Accept signing and store key files that users other than their
    /// owner may read (normally refused: `chmod 600` them). For development
    /// only.
    #[arg(long)]
    pub allow_insecure: bool,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key; refused if it exists, unless --force.
    #[arg(long, short, value_name = "PATH")]
    pub output: PathBuf,
    /// The signing algorithm: RS256 (RSA 2048), ES256 (P-256) or EdDSA
    /// (Ed25519).
    #[arg(long, default_value = "RS256", value_parser = parse_algorithm, conflicts_with = "store_key")]
    pub alg: SigningAlgorithm,
    /// Write a store encryption key (32 random bytes, base64) instead of a
    /// signing key, for `store.encryption_key_file`.
    #[arg(long)]
    pub store_key: bool,
    /// Replace the file if it exists.
    #[arg(long, conflicts_with = "if_missing")]
    pub force: bool,
    /// Do nothing (and succeed) if the file exists: for a container's
    /// first start, which makes the keys once and keeps them.
    #[arg(long)]
    pub if_missing: bool,
}

#[derive(Debug, Args)]
pub struct HashSecretArgs {
    /// Make a new random secret instead of reading one, and print both the
    /// secret and its hash.
    #[arg(long)]
    pub generate: bool,
}

fn parse_algorithm(text: &str) -> Result<SigningAlgorithm, String> {
    SigningAlgorithm::parse(text)
        .ok_or_else(|| format!("unknown algorithm {text:?}; expected RS256, ES256 or EdDSA"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keygen_flags() {
        let cli = Cli::try_parse_from(["porthor", "keygen", "--output", "k.pem", "--alg", "EdDSA"])
            .unwrap();
        let Command::Keygen(args) = cli.command else {
            panic!("not keygen: {cli:?}");
        };
        assert_eq!(args.alg, SigningAlgorithm::EdDsa);
        assert!(!args.store_key && !args.force);

        let cli = Cli::try_parse_from(["porthor", "keygen", "-o", "k.pem"]).unwrap();
        let Command::Keygen(args) = cli.command else {
            panic!("not keygen: {cli:?}");
        };
        assert_eq!(args.alg, SigningAlgorithm::Rs256);

        for bad in [
            &["porthor", "keygen", "--output", "k", "--alg", "HS256"][..],
            &[
                "porthor",
                "keygen",
                "--output",
                "k",
                "--alg",
                "ES256",
                "--store-key",
            ],
            &["porthor", "keygen"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn config_is_required_where_it_must_be() {
        assert!(Cli::try_parse_from(["porthor", "check-config"]).is_err());
        assert!(Cli::try_parse_from(["porthor", "delete-all-codes"]).is_err());
        assert!(Cli::try_parse_from(["porthor", "revoke-user", "--config", "p"]).is_err());
        assert!(Cli::try_parse_from(["porthor", "revoke-user", "alice"]).is_err());
        let cli =
            Cli::try_parse_from(["porthor", "revoke-user", "alice", "--config", "p"]).unwrap();
        let Command::RevokeUser(args) = cli.command else {
            panic!("not revoke-user: {cli:?}");
        };
        assert_eq!(args.username, "alice");
        assert_eq!(args.config.config, PathBuf::from("p"));
        let cli = Cli::try_parse_from(["porthor", "serve"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Serve(ServeArgs {
                config: None,
                insecure: InsecureArgs {
                    allow_insecure: false
                },
                pid_file: None,
            })
        ));
        let cli = Cli::try_parse_from([
            "porthor",
            "check-config",
            "--config",
            "p",
            "--allow-insecure",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::CheckConfig(ConfigArgs {
                insecure: InsecureArgs {
                    allow_insecure: true
                },
                ..
            })
        ));
    }
}
