//! `porthor keygen`: new key files, readable only by their owner.

use std::fs::{OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use porthor_signer::Signer;
use porthor_store::EncryptionKey;
use zeroize::Zeroizing;

use crate::cli::KeygenArgs;

/// Owner read and write, nothing for anyone else.
const KEY_FILE_MODE: u32 = 0o600;

pub fn run(args: &KeygenArgs, out: &mut impl Write) -> Result<()> {
    // For a container's first start (compose, an init container): a key
    // made once and kept, with no shell needed to test for the file.
    if args.if_missing && args.output.exists() {
        writeln!(
            out,
            "{} exists; left unchanged (--if-missing)",
            args.output.display()
        )?;
        return Ok(());
    }
    let (contents, description) = if args.store_key {
        let key = EncryptionKey::generate();
        (
            Zeroizing::new(format!("{}\n", key.to_base64())),
            "store encryption key".to_owned(),
        )
    } else {
        let pem = porthor_signer::generate_pem(args.alg)
            .with_context(|| format!("cannot generate an {} key", args.alg))?;
        // Load it back: proves the key is one Porthor can sign with, and
        // gives its kid.
        let signer = Signer::from_pem(pem.as_bytes()).context("the new key does not load")?;
        (
            pem,
            format!("{} signing key (kid {})", args.alg, signer.kid()),
        )
    };
    write_key_file(&args.output, args.force, contents.as_bytes())?;
    writeln!(
        out,
        "wrote a new {description} to {}",
        args.output.display()
    )?;
    Ok(())
}

/// Writes `contents` to a new file at `path` readable only by its owner;
/// an existing file is refused unless `force`.
pub fn write_key_file(path: &Path, force: bool, contents: &[u8]) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).mode(KEY_FILE_MODE);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::AlreadyExists => bail!(
            "refusing to overwrite {}: it already exists (pass --force to replace it)",
            path.display()
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot create {}", path.display()));
        }
    };
    // `mode` applies only to a file this call creates; an overwritten file
    // keeps its old mode unless it is set again, before the key goes in.
    file.set_permissions(Permissions::from_mode(KEY_FILE_MODE))
        .with_context(|| format!("cannot make {} private", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
