//! `porthor`, the OpenID Connect provider's binary and composition root.
//!
//! This crate owns the command line (clap), the configuration file and its
//! `PORTHOR_*` environment overrides (config-rs), turning them into the plain
//! structs each library crate takes ([`config`]), the embedded demo defaults
//! ([`demo`]), process-wide logging (tracing-subscriber), the metrics
//! exporter ([`telemetry`]), the Slack alerts ([`alerts`]: a `tracing`
//! layer and the one HTTP client, to the webhook), the async runtime, the
//! signals that stop `serve` (SIGTERM drains first, see `commands::serve`)
//! and the reload on SIGHUP ([`reload`]), and the maintenance commands
//! (`keygen`, `rotate-key`, `reload`, `hash-secret`, `hash-password`,
//! `delete-all-codes`, `revoke-user`, `check-config`, `config-schema`,
//! `healthcheck`,
//! `client add`, `user add`). It reads key files
//! into bytes, builds the store, the signer and the OIDC service, and hands
//! them to the server.
//!
//! It must not know the protocol rules (`porthor-oidc`), serving HTTP or
//! actix-web (`porthor-server`), the Redis client, key layout or record encryption
//! (`porthor-store`), or JWT internals (`porthor-signer`). Configuration
//! structs with serde live here and nowhere else, and nothing here is a
//! library for other crates.

mod alerts;
mod cli;
mod commands;
mod config;
mod demo;
mod hashing;
mod healthcheck;
mod keygen;
mod logging;
mod reload;
mod rotate;
mod stanza;
mod telemetry;

use std::io::{self, Write as _};
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, ClientCommand, Command, UserCommand};

#[tokio::main]
async fn main() -> ExitCode {
    // Every TLS client in the process (reqwest under the demo relying party
    // and the alerts, redis under `rediss://`) runs on aws-lc-rs, the one
    // crypto library the binary links (jsonwebtoken's): reqwest, built with
    // rustls but no provider of its own, panics building a client without
    // a process default. An error means one is already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Nothing more to do if stderr is gone.
            let _ = writeln!(io::stderr().lock(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Not locked for the whole run: `serve` writes once, then runs for long.
    let mut out = io::stdout();
    match cli.command {
        Command::Serve(args) => commands::serve(&args, &mut out).await,
        Command::Reload(args) => reload::send(&args, &mut out),
        Command::RotateKey(args) => rotate::run(&args, &mut out),
        Command::Keygen(args) => keygen::run(&args, &mut out),
        Command::HashSecret(args) => hashing::hash_secret(&args, io::stdin().lock(), &mut out),
        Command::HashPassword => hashing::hash_password(io::stdin().lock(), &mut out),
        Command::DeleteAllCodes(args) => commands::delete_all_codes(&args, &mut out).await,
        Command::RevokeUser(args) => commands::revoke_user(&args, &mut out).await,
        Command::CheckConfig(args) => commands::check_config(&args, &mut out),
        Command::ConfigSchema => commands::config_schema(&mut out),
        Command::Healthcheck(args) => healthcheck::run(&args, &mut out),
        Command::Client(ClientCommand::Add(args)) => stanza::add_client(&args, &mut out),
        Command::User(UserCommand::Add(args)) => {
            stanza::add_user(&args, io::stdin().lock(), &mut out)
        }
    }
}
