//! `porthor client add` and `porthor user add`: a new `[[clients]]` or
//! `[[users]]` entry, printed for pasting or appended to a configuration
//! file with `toml_edit`, which keeps the file's comments and layout.
//!
//! The entry is checked by the same rules `check-config` applies
//! ([`config::check_entries`]), so a stanza this prints is one the provider
//! accepts. Appending refuses an id or username the file already has,
//! naming the file and the entry. It must not know the rules themselves,
//! and never writes a secret anywhere but stdout: the client secret and a
//! generated password are shown once, and only their hashes reach the file.

use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use porthor_models::ClientSecretHash;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};
use zeroize::Zeroizing;

use crate::cli::{ClientAddArgs, UserAddArgs};
use crate::config::{self, ClientSettings, UserSettings};
use crate::hashing;

/// `porthor client add`.
pub fn add_client(args: &ClientAddArgs, out: &mut impl Write) -> Result<()> {
    let secret = (!args.public).then(|| Zeroizing::new(ClientSecretHash::generate_secret()));
    let secret_hash = secret
        .as_ref()
        .map(|secret| ClientSecretHash::from_secret(secret).map(|hash| hash.to_string()))
        .transpose()
        .map_err(|error| anyhow!(error))?;
    let settings = ClientSettings {
        client_id: args.id.clone(),
        client_secret_hash: secret_hash,
        token_endpoint_auth_method: args.public.then(|| "none".to_owned()),
        redirect_uris: args.redirect_uris.clone(),
        // A public client cannot prove who it is at the token endpoint, so
        // PKCE is what binds the code to the app that asked for it.
        require_pkce: args.public,
        post_logout_redirect_uris: Vec::new(),
        always_issue_refresh_token: false,
        name: args.name.clone(),
        consent: args.consent.clone(),
        allowed_scopes: None,
        allow_offline_access: None,
        introspect_any: false,
    };
    config::check_entries(std::slice::from_ref(&settings), &[])
        .map_err(|errors| flag_hint(&errors.to_string()))?;
    // The secret before the stanza and apart from it, so that pasting the
    // stanza cannot carry the secret into the file; and only once the entry
    // is known to be accepted, so a refused one shows no secret.
    let preamble = Zeroizing::new(match &secret {
        Some(secret) => format!(
            "client_secret: {}\n(shown only this once: give it to the application; the configuration keeps only its hash)\n",
            secret.as_str()
        ),
        None => {
            "A public client: no secret; the application must send a PKCE S256 code_challenge.\n"
                .to_owned()
        }
    });
    let table = client_table(&settings);
    let target = Target {
        array: "clients",
        key: "client_id",
        flag: "--id",
    };
    match &args.append {
        Some(file) => {
            target.append(file, &settings.client_id, table)?;
            writeln!(out, "{}", preamble.as_str())?;
            writeln!(
                out,
                "added client {:?} to {}; reload porthor (`porthor reload`, or SIGHUP) for it to take effect",
                settings.client_id,
                file.display()
            )?;
        }
        None => {
            writeln!(out, "{}", preamble.as_str())?;
            writeln!(out, "# Add this to the configuration file:")?;
            write!(out, "{}", stanza(target.array, table))?;
        }
    }
    Ok(())
}

/// `porthor user add`, with the password read from `input` unless
/// generated.
pub fn add_user(args: &UserAddArgs, input: impl BufRead, out: &mut impl Write) -> Result<()> {
    let (password, generated) = if args.generate_password {
        (hashing::random_password(), true)
    } else {
        let password = hashing::read_line(input)?;
        if password.is_empty() {
            bail!(
                "no password on stdin: pipe one in (`porthor user add {} < password.txt`) or pass --generate-password",
                args.username
            );
        }
        (password, false)
    };
    let settings = UserSettings {
        username: args.username.clone(),
        password_hash: porthor_oidc::hash_password(&password)?,
        name: args.name.clone(),
        email: args.email.clone(),
        groups: args.groups.clone(),
    };
    config::check_entries(&[], std::slice::from_ref(&settings))
        .map_err(|errors| flag_hint(&errors.to_string()))?;
    let preamble = Zeroizing::new(if generated {
        format!(
            "password: {}\n(shown only this once; the configuration keeps only its hash)\n\n",
            password.as_str()
        )
    } else {
        String::new()
    });
    let table = user_table(&settings);
    let target = Target {
        array: "users",
        key: "username",
        flag: "USERNAME",
    };
    match &args.append {
        Some(file) => {
            target.append(file, &settings.username, table)?;
            write!(out, "{}", preamble.as_str())?;
            writeln!(
                out,
                "added user {:?} to {}; reload porthor (`porthor reload`, or SIGHUP) for it to take effect",
                settings.username,
                file.display()
            )?;
        }
        None => {
            write!(out, "{}", preamble.as_str())?;
            writeln!(out, "# Add this to the configuration file:")?;
            write!(out, "{}", stanza(target.array, table))?;
        }
    }
    Ok(())
}

/// A checked entry's problems, said in terms of this command's flags: the
/// key paths name a one-entry list, not a file.
fn flag_hint(problems: &str) -> anyhow::Error {
    anyhow!("{problems}\n(fix the flag that sets that key and run the command again)")
}

/// The table of a client entry: only the keys the command set, in the
/// order `deploy/porthor.toml` uses.
fn client_table(settings: &ClientSettings) -> Table {
    let mut table = Table::new();
    table.insert("client_id", value(&settings.client_id));
    if let Some(name) = &settings.name {
        table.insert("name", value(name));
    }
    if let Some(hash) = &settings.client_secret_hash {
        table.insert("client_secret_hash", value(hash));
    }
    if let Some(method) = &settings.token_endpoint_auth_method {
        table.insert("token_endpoint_auth_method", value(method));
    }
    table.insert("redirect_uris", value(strings(&settings.redirect_uris)));
    if settings.require_pkce {
        table.insert("require_pkce", value(true));
    }
    if let Some(consent) = &settings.consent {
        table.insert("consent", value(consent));
    }
    table
}

/// The table of a user entry.
fn user_table(settings: &UserSettings) -> Table {
    let mut table = Table::new();
    table.insert("username", value(&settings.username));
    table.insert("password_hash", value(&settings.password_hash));
    if let Some(name) = &settings.name {
        table.insert("name", value(name));
    }
    if let Some(email) = &settings.email {
        table.insert("email", value(email));
    }
    if !settings.groups.is_empty() {
        table.insert("groups", value(strings(&settings.groups)));
    }
    table
}

fn strings(list: &[String]) -> Array {
    list.iter().map(String::as_str).collect()
}

/// `[[array]]` with `table`'s keys, as TOML text.
fn stanza(array: &str, table: Table) -> String {
    let mut document = DocumentMut::new();
    let mut tables = ArrayOfTables::new();
    tables.push(table);
    document.insert(array, Item::ArrayOfTables(tables));
    document.to_string()
}

/// Which list of a configuration file an entry goes to.
struct Target {
    /// `clients` or `users`.
    array: &'static str,
    /// The key that must be unique in it.
    key: &'static str,
    /// The command-line argument that sets that key, for the error.
    flag: &'static str,
}

impl Target {
    /// Appends `table` (whose `self.key` is `id`) to `file`'s list, unless
    /// an entry already has that id. The file is replaced in one rename,
    /// so a reader (or a crash) never sees it half written.
    fn append(&self, file: &Path, id: &str, mut table: Table) -> Result<()> {
        let shown = file.display();
        let text = fs::read_to_string(file).with_context(|| format!("cannot read {shown}"))?;
        let mut document: DocumentMut = text
            .parse()
            .with_context(|| format!("{shown} is not valid TOML; fix it first"))?;
        let array = self.array;
        let tables = document
            .entry(array)
            .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
            .as_array_of_tables_mut()
            .ok_or_else(|| {
                anyhow!(
                    "{shown}: `{array}` is not a list of [[{array}]] tables; fix the file first"
                )
            })?;
        for (index, entry) in tables.iter().enumerate() {
            if entry.get(self.key).and_then(Item::as_str) == Some(id) {
                bail!(
                    "{shown}: {array}[{index}].{key} is already {id:?}; choose another {flag}, or edit or remove that entry",
                    key = self.key,
                    flag = self.flag,
                );
            }
        }
        // Right after the list's last entry, rather than at the end of the
        // file after whatever tables follow it.
        if let Some(position) = tables.iter().filter_map(Table::position).max() {
            table.set_position(Some(position));
        }
        table
            .decor_mut()
            .set_prefix(format!("\n# Added by `porthor {}`.\n", self.command()));
        tables.push(table);
        let mut text = document.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        replace(file, text).with_context(|| format!("cannot write {shown}; it is unchanged"))
    }

    fn command(&self) -> &'static str {
        if self.array == "clients" {
            "client add"
        } else {
            "user add"
        }
    }
}

/// Writes `text` to a temporary file beside `file` with `file`'s
/// permissions, then renames it over `file`.
pub fn replace(file: &Path, text: String) -> Result<()> {
    let permissions = fs::metadata(file)?.permissions();
    let name = file
        .file_name()
        .ok_or_else(|| anyhow!("{} names no file", file.display()))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(".porthor-new");
    let temporary: PathBuf = file.with_file_name(temporary_name);
    fs::write(&temporary, text)?;
    fs::set_permissions(&temporary, permissions)?;
    fs::rename(&temporary, file).inspect_err(|_| {
        let _ = fs::remove_file(&temporary);
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What comes before the stanza, and the stanza parsed.
    fn split(text: &str) -> (&str, DocumentMut) {
        let (before, stanza) = text
            .split_once("# Add this to the configuration file:\n")
            .unwrap();
        (before, stanza.parse().unwrap())
    }

    fn client_args(id: &str) -> ClientAddArgs {
        ClientAddArgs {
            id: id.to_owned(),
            redirect_uris: vec!["https://app.example.com/callback".to_owned()],
            name: Some("App".to_owned()),
            public: false,
            consent: None,
            append: None,
        }
    }

    #[test]
    fn printed_client_stanza_has_the_hash_of_the_printed_secret() {
        let mut out = Vec::new();
        add_client(&client_args("app"), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (secret, document) = split(&text);
        let client = document
            .get("clients")
            .and_then(Item::as_array_of_tables)
            .and_then(|tables| tables.get(0))
            .unwrap();
        assert_eq!(client.get("client_id").and_then(Item::as_str), Some("app"));
        let hash = client.get("client_secret_hash").and_then(Item::as_str);
        let hash = ClientSecretHash::parse(hash.unwrap()).unwrap();
        let secret = secret.strip_prefix("client_secret: ").unwrap();
        let secret = secret.lines().next().unwrap();
        assert!(hash.verify(secret), "{text}");
    }

    #[test]
    fn bad_client_settings_are_refused_naming_the_key() {
        for (args, key) in [
            (
                ClientAddArgs {
                    redirect_uris: vec!["http://app.example.com/cb".to_owned()],
                    ..client_args("app")
                },
                "clients[0].redirect_uris[0]",
            ),
            (
                ClientAddArgs {
                    consent: Some("sometimes".to_owned()),
                    ..client_args("app")
                },
                "clients[0].consent",
            ),
            (client_args(""), "clients[0].client_id"),
        ] {
            let error = add_client(&args, &mut Vec::new()).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn user_password_comes_from_stdin_and_must_not_be_empty() {
        let args = UserAddArgs {
            username: "bob".to_owned(),
            email: None,
            name: None,
            groups: vec![],
            generate_password: false,
            append: None,
        };
        let error = add_user(&args, "\n".as_bytes(), &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("--generate-password"), "{error}");
        let mut out = Vec::new();
        add_user(&args, "correct horse\n".as_bytes(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("correct horse"), "{text}");
        let (_, document) = split(&text);
        let hash = document["users"][0]["password_hash"].as_str().unwrap();
        use argon2::PasswordVerifier as _;
        let hash = argon2::password_hash::PasswordHash::new(hash).unwrap();
        argon2::Argon2::default()
            .verify_password(b"correct horse", &hash)
            .unwrap();
    }
}
