//! The folder transport: each message becomes `DIR/<mail-id>.eml`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tenancy_core::MailId;

use super::{Letter, Transport, TransportError};

/// Writes messages as RFC 5322 files, named after the outbox row (the left
/// part of their `Message-ID`), so that writing the same message again
/// replaces the file instead of adding a second one.
///
/// A message appears whole or not at all: it is written to a hidden
/// temporary file in the same folder, flushed to disk, and renamed. Files
/// and folders are created for the owner only (0600, 0700), since a message
/// holds an invitation token.
#[derive(Debug, Clone)]
pub struct MailDir {
    dir: PathBuf,
}

impl MailDir {
    /// Uses `dir`, creating it when missing.
    pub fn create(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        crate::create_private_dir(&dir)?;
        Ok(Self { dir })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a message.
    pub fn path_of(&self, id: MailId) -> PathBuf {
        self.dir.join(format!("{}.eml", id.as_uuid()))
    }
}

#[async_trait]
impl Transport for MailDir {
    async fn send(&self, letter: &Letter) -> Result<(), TransportError> {
        let bytes = letter.message.formatted();
        let dir = self.dir.clone();
        let target = self.path_of(letter.id);
        let temp = self.dir.join(format!(
            ".{}.{}.tmp",
            letter.id.as_uuid(),
            std::process::id()
        ));
        let written =
            tokio::task::spawn_blocking(move || write_atomically(&dir, &temp, &target, &bytes))
                .await
                .map_err(|e| TransportError::transient(format!("the writer stopped: {e}")))?;
        written.map_err(|e| {
            TransportError::transient(format!(
                "cannot write to the mail folder `{}`: {e}",
                self.dir.display()
            ))
        })
    }
}

fn write_atomically(dir: &Path, temp: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    // The folder may have been removed since start-up; make it again.
    crate::create_private_dir(dir)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = options.open(temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let result = result.and_then(|()| fs::rename(temp, target));
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result?;
    // Make the rename itself durable. Not every platform can open a folder
    // for that, and the message is complete either way.
    if let Ok(folder) = fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}
