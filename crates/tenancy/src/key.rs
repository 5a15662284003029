//! The secret key file: 32 random bytes that seal secrets at rest (the
//! tokens of queued invitation emails).
//!
//! A missing file is created with mode 0600. An existing one is used only if
//! it holds exactly 32 bytes and neither its group nor others may read or
//! write it: a key that others can read protects nothing, and a file of
//! another size is a mistake (a text file, a truncated copy) better stopped
//! at start than discovered when a queued email no longer opens.
//!
//! Several instances that share one PostgreSQL database must share one key
//! file too: an email queued by one instance is delivered by whichever
//! worker gets to it first.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use tenancy_store::SecretKey;

use crate::Error;

/// The size of a key.
pub const KEY_LEN: usize = 32;

/// Reads the key file at `path`, creating it (and its folder) when missing.
pub fn load_or_create(path: &Path) -> Result<SecretKey, Error> {
    match fs::symlink_metadata(path) {
        Ok(_) => read(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match create(path) {
            Ok(key) => {
                tracing::info!(path = %path.display(), "created a new secret key file");
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(CreateError::Exists) => read(path),
            Err(CreateError::Other(e)) => Err(e),
        },
        Err(e) => Err(Error::config(format!(
            "cannot read the secret key file `{}`: {e}",
            path.display()
        ))),
    }
}

/// The id stored beside each ciphertext: derived from the key, so that a
/// row sealed with another key says so (`sealed with key ...`) instead of
/// failing as a corrupt one. A hash prefix tells nothing about the key.
pub fn key_id(bytes: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::new()
        .chain_update(b"tenancy secret key id\0")
        .chain_update(bytes)
        .finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("file-{hex}")
}

fn read(path: &Path) -> Result<SecretKey, Error> {
    let shown = path.display();
    let mut file = fs::File::open(path)
        .map_err(|e| Error::config(format!("cannot open the secret key file `{shown}`: {e}")))?;
    let metadata = file
        .metadata()
        .map_err(|e| Error::config(format!("cannot read the secret key file `{shown}`: {e}")))?;
    if !metadata.is_file() {
        return Err(Error::config(format!(
            "the secret key file `{shown}` is not a regular file"
        )));
    }
    check_permissions(path, &metadata)?;
    if metadata.len() != KEY_LEN as u64 {
        return Err(wrong_size(path, metadata.len()));
    }
    let mut bytes = [0_u8; KEY_LEN];
    file.read_exact(&mut bytes)
        .map_err(|_| wrong_size(path, metadata.len()))?;
    // A file that grew while it was read is not the key that was checked.
    let mut rest = [0_u8; 1];
    if file.read(&mut rest).map_or(true, |n| n != 0) {
        return Err(wrong_size(path, metadata.len() + 1));
    }
    let key = SecretKey::new(key_id(&bytes), bytes);
    bytes.fill(0);
    Ok(key)
}

fn wrong_size(path: &Path, len: u64) -> Error {
    Error::config(format!(
        "the secret key file `{}` holds {len} bytes, but a key is exactly {KEY_LEN} random bytes; \
         point `--secret-key-file` at the right file, or move this one away to have a new key made \
         (emails still queued under the old key will then not be delivered)",
        path.display()
    ))
}

#[cfg(unix)]
fn check_permissions(path: &Path, metadata: &fs::Metadata) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::config(format!(
            "the secret key file `{shown}` has mode {mode:04o}, so its group or others may read or write it; \
             run `chmod 600 {shown}`",
            shown = path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _metadata: &fs::Metadata) -> Result<(), Error> {
    Ok(())
}

enum CreateError {
    Exists,
    Other(Error),
}

fn create(path: &Path) -> Result<SecretKey, CreateError> {
    let shown = path.display();
    let fail = |what: &str, e: io::Error| {
        CreateError::Other(Error::config(format!(
            "cannot {what} the secret key file `{shown}`: {e}"
        )))
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::create_private_dir(parent).map_err(|e| {
            CreateError::Other(Error::config(format!(
                "cannot create the folder `{}` of the secret key file: {e}",
                parent.display()
            )))
        })?;
    }
    let fresh = SecretKey::generate("new").map_err(|e| {
        CreateError::Other(Error::config(format!(
            "cannot make a secret key for `{shown}`: {e}"
        )))
    })?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(CreateError::Exists),
        Err(e) => return Err(fail("create", e)),
    };
    let written = file
        .write_all(fresh.expose())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Leave no half-written key behind to be refused on the next start.
        let _ = fs::remove_file(path);
        return Err(fail("write", e));
    }
    Ok(SecretKey::new(key_id(fresh.expose()), *fresh.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_differ_between_keys_and_hide_them() {
        let a = key_id(&[1; 32]);
        assert_ne!(a, key_id(&[2; 32]));
        assert_eq!(a, key_id(&[1; 32]));
        assert!(a.starts_with("file-") && a.len() == 21, "{a}");
    }
}
