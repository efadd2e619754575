//! `porthor rotate-key`: a new signing key beside the current one, and the
//! configuration file's `[signing]` table edited to match with `toml_edit`
//! (comments and layout kept), for a reload to apply.
//!
//! Three moves, one per step of the procedure in docs/operations.md:
//! generate and sign with the new key at once (the default), generate and
//! only publish it (`--publish-only`: it joins `previous_key_files`, which
//! the JWKS lists and nothing signs with), and sign with a key published
//! earlier (`--key`). In every move the key that stops signing stays
//! published, first in `previous_key_files`, so that tokens it signed keep
//! verifying; retiring it is the operator's edit, once they have expired.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, Result, anyhow, bail};
use porthor_signer::Signer;
use toml_edit::{Array, DocumentMut, Item, TableLike, value};

use crate::cli::RotateKeyArgs;
use crate::config::resolve;
use crate::{keygen, stanza};

const KEY_FILE: &str = "key_file";
const PREVIOUS_KEY_FILES: &str = "previous_key_files";

/// `porthor rotate-key`.
pub fn run(args: &RotateKeyArgs, out: &mut impl Write) -> Result<()> {
    let file = &args.config;
    let shown = file.display();
    let text = fs::read_to_string(file).with_context(|| format!("cannot read {shown}"))?;
    let mut document: DocumentMut = text
        .parse()
        .with_context(|| format!("{shown} is not valid TOML; fix it first"))?;
    let base_dir = file.parent().unwrap_or(Path::new(""));
    let signing = document
        .get_mut("signing")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| no_key_file(file))?;
    let current = signing
        .get(KEY_FILE)
        .and_then(Item::as_str)
        .ok_or_else(|| no_key_file(file))?
        .to_owned();
    let mut previous = previous_key_files(signing, file)?;
    let current_signer = load(&resolve(base_dir, Path::new(&current)))?;

    let (new_name, new_signer, written) = match &args.key {
        Some(key) => {
            let name = key.to_string_lossy().into_owned();
            if name == current {
                bail!("{name} is signing.key_file already: nothing to rotate");
            }
            let signer = load(&resolve(base_dir, key))?;
            (name, signer, None)
        }
        None => {
            let algorithm = args.alg.unwrap_or_else(|| current_signer.algorithm());
            let name = match &args.output {
                Some(output) => output.to_string_lossy().into_owned(),
                None => beside(&current),
            };
            let path = resolve(base_dir, Path::new(&name));
            let pem = porthor_signer::generate_pem(algorithm)
                .with_context(|| format!("cannot generate an {algorithm} key"))?;
            let signer = Signer::from_pem(pem.as_bytes()).context("the new key does not load")?;
            keygen::write_key_file(&path, false, pem.as_bytes())?;
            (name, signer, Some(path))
        }
    };
    let published_before = previous.contains(&new_name);
    if args.publish_only {
        previous.push(new_name.clone());
    } else {
        previous.retain(|name| *name != new_name && *name != current);
        previous.insert(0, current.clone());
        signing.insert(KEY_FILE, value(new_name.as_str()));
    }
    signing.insert(
        PREVIOUS_KEY_FILES,
        value(previous.iter().map(String::as_str).collect::<Array>()),
    );
    let mut text = document.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if let Err(error) = stanza::replace(file, text) {
        if let Some(path) = &written {
            // Nothing names it: leave no stray key behind.
            let _ = fs::remove_file(path);
        }
        return Err(error.context(format!("cannot write {shown}; it is unchanged")));
    }

    let (algorithm, kid) = (new_signer.algorithm(), new_signer.kid());
    if let Some(path) = &written {
        writeln!(
            out,
            "wrote a new {algorithm} signing key (kid {kid}) to {}",
            path.display()
        )?;
    }
    if args.publish_only {
        writeln!(
            out,
            "{shown}: the new key is in signing.previous_key_files: published in the JWKS, not signing yet."
        )?;
        writeln!(
            out,
            "Reload porthor (`porthor reload --pid-file FILE`, or SIGHUP); once relying parties' JWKS caches have expired (max-age=3600: an hour), run `porthor rotate-key --config {shown} --key {new_name}` and reload again."
        )?;
    } else {
        writeln!(
            out,
            "{shown}: signing.key_file is now {new_name:?} (kid {kid}); the old key {current:?} (kid {}) is first in signing.previous_key_files, still published so that tokens it signed keep verifying.",
            current_signer.kid()
        )?;
        if args.key.is_some() && !published_before {
            writeln!(
                out,
                "warning: {new_name} was not in signing.previous_key_files, so relying parties have not seen it yet: until their JWKS caches expire, some may refuse the tokens it signs."
            )?;
        }
        writeln!(
            out,
            "Reload porthor for it to take effect (`porthor reload --pid-file FILE`, `systemctl reload porthor`, or SIGHUP). Once the longest token lifetime has passed, remove {current:?} from signing.previous_key_files and reload again (docs/operations.md, \"Rotating the signing key\")."
        )?;
    }
    Ok(())
}

fn no_key_file(file: &Path) -> anyhow::Error {
    anyhow!(
        "{} has no [signing] key_file to rotate (a key file set by PORTHOR_SIGNING__KEY_FILE is out of this command's reach)",
        file.display()
    )
}

/// `previous_key_files` as the file writes them.
fn previous_key_files(signing: &dyn TableLike, file: &Path) -> Result<Vec<String>> {
    let Some(item) = signing.get(PREVIOUS_KEY_FILES) else {
        return Ok(Vec::new());
    };
    item.as_array()
        .and_then(|array| {
            array
                .iter()
                .map(|entry| entry.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            anyhow!(
                "{}: signing.previous_key_files is not a list of paths; fix the file first",
                file.display()
            )
        })
}

fn load(path: &Path) -> Result<Signer> {
    let pem = zeroize::Zeroizing::new(
        fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    Signer::from_pem(&pem).with_context(|| format!("{} is not a signing key", path.display()))
}

/// The name of a new key beside `current` (as the file names it): its stem
/// (less an earlier rotation's time), the time now, `.pem`:
/// `keys/signing.pem` -> `keys/signing-20261204T223000Z.pem`.
fn beside(current: &str) -> String {
    let current = Path::new(current);
    let stem = current
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = match stem.rsplit_once('-') {
        Some((base, stamp)) if is_stamp(stamp) => base.to_owned(),
        _ => stem,
    };
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let name = PathBuf::from(format!("{stem}-{stamp}.pem"));
    current
        .parent()
        .map_or(name.clone(), |parent| parent.join(&name))
        .to_string_lossy()
        .into_owned()
}

/// Whether `text` is a time as [`beside`] writes it: `20261204T223000Z`.
fn is_stamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 16
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 => *byte == b'T',
            15 => *byte == b'Z',
            _ => byte.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_are_named_after_the_current_one() {
        let name = beside("keys/signing.pem");
        let stamp = name
            .strip_prefix("keys/signing-")
            .and_then(|rest| rest.strip_suffix(".pem"))
            .unwrap();
        assert!(is_stamp(stamp), "{name}");
        // A second rotation replaces the first one's time.
        let again = beside(&name);
        assert!(again.starts_with("keys/signing-") && again.len() == name.len());
        assert!(beside("signing.pem").starts_with("signing-"));
        assert!(!is_stamp("2026120T223000Z0"));
    }
}
