//! `porthor hash-secret` and `porthor hash-password`: the stored forms of
//! client secrets and passwords, for the configuration file, and the
//! line reading and password generation `user add` shares with them.

use std::io::{BufRead, Write};

use anyhow::{Result, anyhow, bail};
use porthor_models::ClientSecretHash;
use zeroize::Zeroizing;

use crate::cli::HashSecretArgs;

/// Hashes the secret on `input`, or with `--generate` a new one.
pub fn hash_secret(args: &HashSecretArgs, input: impl BufRead, out: &mut impl Write) -> Result<()> {
    if args.generate {
        let secret = Zeroizing::new(ClientSecretHash::generate_secret());
        let hash = ClientSecretHash::from_secret(&secret).map_err(|error| anyhow!(error))?;
        writeln!(out, "client_secret = \"{}\"", secret.as_str())?;
        writeln!(out, "client_secret_hash = \"{hash}\"")?;
        return Ok(());
    }
    let secret = read_line(input)?;
    let hash = ClientSecretHash::from_secret(&secret).map_err(|error| anyhow!(error))?;
    writeln!(out, "{hash}")?;
    Ok(())
}

/// Hashes the password on `input` with Argon2id.
pub fn hash_password(input: impl BufRead, out: &mut impl Write) -> Result<()> {
    let password = read_line(input)?;
    if password.is_empty() {
        bail!("the password is empty");
    }
    let hash = porthor_oidc::hash_password(&password)?;
    writeln!(out, "{hash}")?;
    Ok(())
}

/// Length of a generated password (alphanumeric, about 143 bits).
const GENERATED_PASSWORD_LEN: usize = 24;

/// A random alphanumeric password, for `user add --generate-password`.
pub fn random_password() -> Zeroizing<String> {
    use rand::Rng as _;
    Zeroizing::new(
        rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(GENERATED_PASSWORD_LEN)
            .map(char::from)
            .collect(),
    )
}

/// The first line of `input`, without its line ending; wiped when dropped.
pub fn read_line(mut input: impl BufRead) -> Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    input.read_line(&mut line)?;
    let len = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(len);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_ending_is_trimmed() {
        for (input, expected) in [
            ("secret\n", "secret"),
            ("secret\r\n", "secret"),
            ("secret", "secret"),
            (" sec ret \n", " sec ret "),
            ("first\nsecond\n", "first"),
            ("", ""),
        ] {
            assert_eq!(read_line(input.as_bytes()).unwrap().as_str(), expected);
        }
    }

    #[test]
    fn secret_hash_round_trips() {
        let secret = ClientSecretHash::generate_secret();
        let mut out = Vec::new();
        let args = HashSecretArgs { generate: false };
        hash_secret(&args, format!("{secret}\n").as_bytes(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let hash = ClientSecretHash::parse(text.trim_end()).unwrap();
        assert!(hash.verify(&secret));
        let short = hash_secret(&args, "too-short\n".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(short.to_string().contains("shorter than 32"), "{short}");
    }

    #[test]
    fn empty_password_is_refused() {
        let error = hash_password("\n".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("empty"), "{error}");
    }
}
