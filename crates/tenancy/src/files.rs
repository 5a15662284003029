//! Files the server creates are its own user's alone: the database and its
//! journal files, knowledge files, emails and keys hold tokens, credentials
//! (sealed) and personal data.
//!
//! The process's file creation mask is set to 0077 at start, so that
//! whatever it creates (SQLite's `-wal` and `-shm` files included, which
//! SQLite creates itself) is 0600 and its folders 0700; files and folders
//! left by an earlier, laxer run are tightened at start.

use std::path::Path;

/// Sets the file creation mask to 0077.
pub fn restrict_new_files() {
    #[cfg(unix)]
    {
        let _ = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Takes group and other permissions off `path` and, if it is a folder,
/// off everything inside it. Missing paths are fine.
pub fn tighten(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // A link is not followed: what it points at is not ours to change.
        if metadata.file_type().is_symlink() {
            return Ok(());
        }
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
            tracing::info!(path = %path.display(), "took group and other permissions off");
        }
        if metadata.is_dir() {
            for entry in std::fs::read_dir(path)? {
                tighten(&entry?.path())?;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
    }
    Ok(())
}

/// The SQLite database file of a `sqlite://` URL and its journal files.
pub fn sqlite_files(url: &str) -> Vec<std::path::PathBuf> {
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Vec::new();
    };
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Vec::new();
    }
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| std::path::PathBuf::from(format!("{path}{suffix}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_are_the_database_and_its_journals() {
        assert_eq!(
            sqlite_files("sqlite://./data/t.db?mode=rwc"),
            [
                "./data/t.db",
                "./data/t.db-wal",
                "./data/t.db-shm",
                "./data/t.db-journal"
            ]
            .map(std::path::PathBuf::from)
        );
        assert!(sqlite_files("postgres://h/db").is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn tightening_takes_group_and_other_bits_off_a_tree() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("org");
        std::fs::create_dir(&inner).unwrap();
        let file = inner.join("file");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        tighten(dir.path()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&inner), 0o700);
        assert_eq!(mode(&file), 0o600);
        tighten(&dir.path().join("missing")).unwrap();
    }
}
