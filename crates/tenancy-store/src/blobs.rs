//! Knowledge files' contents in a folder: `<root>/<organization>/<file>`,
//! and uploads on their way in under `<root>/.staging/`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use futures::io::AsyncReadExt as _;
use tenancy_core::ports::{BlobKey, BlobReader, BlobStore, Incoming, StagedBlob};
use tenancy_core::{OrganizationId, StoreError};
use tokio::io::AsyncWriteExt as _;
use tokio_util::compat::TokioAsyncReadCompatExt as _;
use uuid::Uuid;

/// Where uploads are staged, beside the organizations' folders; their names
/// are UUIDs, so none starts with a dot.
const STAGING: &str = ".staging";

/// A staged upload not written to for this long was left by a process that
/// died: no upload waits that long between two chunks, and a finished one
/// is published or discarded within its request.
pub const STAGED_STALE_AFTER: Duration = Duration::from_secs(60 * 60);

/// How much of an upload is held in memory at a time.
const CHUNK: usize = 64 * 1024;

/// A [`BlobStore`] over a folder of the local file system.
///
/// An upload is written to a file of its own under `.staging/` as it comes;
/// publishing links it into the organization's folder under a temporary
/// name and renames that into place, so a reader never sees half a file.
/// Staged files that outlive their upload (the process died) are swept away
/// at start ([`FsBlobs::sweep_staging`]) and at most hourly while uploads
/// come. Folders are created readable by the server's user only (0700),
/// files likewise (0600).
#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
    last_sweep: Arc<Mutex<Option<Instant>>>,
}

impl FsBlobs {
    /// Blobs under `root`, created on first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            last_sweep: Arc::new(Mutex::new(None)),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of staged uploads.
    pub fn staging(&self) -> PathBuf {
        self.root.join(STAGING)
    }

    fn path(&self, key: BlobKey) -> PathBuf {
        // Both parts are UUIDs: no separators, no `..`.
        self.root
            .join(key.organization_id.to_string())
            .join(key.file_id.to_string())
    }

    /// The file of a staged blob; only names this store gave out are taken.
    fn staged_path(&self, staged: &StagedBlob) -> Result<PathBuf, StoreError> {
        let name = staged.name();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::other(format!(
                "`{name}` is not the name of a staged blob"
            )));
        }
        Ok(self.staging().join(name))
    }

    /// Erases staged uploads that nothing has written to for
    /// [`STAGED_STALE_AFTER`], and tells how many it erased. Uploads still
    /// under way are left alone, so that instances sharing the folder may
    /// each sweep it.
    pub async fn sweep_staging(&self) -> std::io::Result<usize> {
        self.sweep_staging_older_than(STAGED_STALE_AFTER).await
    }

    /// Erases staged uploads last written to more than `age` ago.
    pub async fn sweep_staging_older_than(&self, age: Duration) -> std::io::Result<usize> {
        *self
            .last_sweep
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        let mut entries = match tokio::fs::read_dir(self.staging()).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let now = SystemTime::now();
        let mut erased = 0;
        while let Some(entry) = entries.next_entry().await? {
            let modified = entry.metadata().await?.modified()?;
            if now.duration_since(modified).unwrap_or_default() >= age {
                match tokio::fs::remove_file(entry.path()).await {
                    Ok(()) => erased += 1,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(erased)
    }

    /// Sweeps the staging folder if the last sweep was long enough ago.
    async fn sweep_if_due(&self) {
        let due = self
            .last_sweep
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() >= STAGED_STALE_AFTER);
        if due {
            // A sweep that fails is tried again at the next one; the upload
            // it came with goes on regardless.
            let _ = self.sweep_staging().await;
        }
    }

    /// Copies `content` into `file` to its end.
    async fn copy(content: &mut Incoming<'_>, file: &mut tokio::fs::File) -> std::io::Result<()> {
        let mut chunk = vec![0_u8; CHUNK];
        loop {
            let read = content.read(&mut chunk).await?;
            let Some(bytes) = chunk.get(..read) else {
                return Err(std::io::Error::other("a read past its buffer"));
            };
            if bytes.is_empty() {
                break;
            }
            file.write_all(bytes).await?;
        }
        file.flush().await?;
        file.sync_all().await
    }
}

fn io(error: std::io::Error) -> StoreError {
    StoreError::other(error)
}

/// Creates a folder and its parents, readable by the server's user only.
async fn create_folder(path: &Path) -> std::io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(path).await
}

/// Options that create a new file readable by the server's user only.
fn new_file() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options
}

async fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[async_trait]
impl BlobStore for FsBlobs {
    async fn stage<'a>(&self, content: &'a mut Incoming<'a>) -> Result<StagedBlob, StoreError> {
        let staging = self.staging();
        create_folder(&staging).await.map_err(io)?;
        self.sweep_if_due().await;
        let staged = StagedBlob::new(Uuid::now_v7().simple().to_string());
        let path = self.staged_path(&staged)?;
        let mut file = new_file().open(&path).await.map_err(io)?;
        if let Err(error) = Self::copy(content, &mut file).await {
            drop(file);
            let _ = remove_if_there(&path).await;
            return Err(io(error));
        }
        Ok(staged)
    }

    async fn publish(&self, staged: &StagedBlob, key: BlobKey) -> Result<(), StoreError> {
        let from = self.staged_path(staged)?;
        let path = self.path(key);
        let folder = path
            .parent()
            .ok_or_else(|| StoreError::other("a blob path has no folder"))?;
        create_folder(folder).await.map_err(io)?;
        // A second name for the staged file, renamed into place: the staged
        // name stays until discarded, so a publish can be tried again.
        let partial = path.with_extension("partial");
        remove_if_there(&partial).await.map_err(io)?;
        if tokio::fs::hard_link(&from, &partial).await.is_err() {
            // A file system without hard links: a copy does the same.
            tokio::fs::copy(&from, &partial).await.map_err(io)?;
        }
        tokio::fs::rename(&partial, &path).await.map_err(io)?;
        // Renaming a name onto another name of the same file (a publish
        // tried again) does nothing, and leaves the temporary name behind.
        remove_if_there(&partial).await.map_err(io)
    }

    async fn discard(&self, staged: &StagedBlob) -> Result<(), StoreError> {
        remove_if_there(&self.staged_path(staged)?)
            .await
            .map_err(io)
    }

    async fn open(&self, key: BlobKey) -> Result<Option<BlobReader>, StoreError> {
        match tokio::fs::File::open(self.path(key)).await {
            Ok(file) => Ok(Some(Box::new(file.compat()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn delete(&self, key: BlobKey) -> Result<(), StoreError> {
        remove_if_there(&self.path(key)).await.map_err(io)
    }

    async fn delete_organization(&self, organization: OrganizationId) -> Result<(), StoreError> {
        let folder = self.root.join(organization.to_string());
        match tokio::fs::remove_dir_all(&folder).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::io::Cursor;
    use tenancy_core::{OrganizationId, ResourceId};

    use super::*;

    fn key() -> BlobKey {
        BlobKey {
            organization_id: OrganizationId::from_uuid(Uuid::now_v7()),
            file_id: ResourceId::from_uuid(Uuid::now_v7()),
        }
    }

    async fn read(blobs: &FsBlobs, key: BlobKey) -> Option<Vec<u8>> {
        let mut reader = blobs.open(key).await.unwrap()?;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await.unwrap();
        Some(bytes)
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
        found
    }

    #[tokio::test]
    async fn stage_publish_read_and_delete() {
        let dir = tempfile_dir();
        let blobs = FsBlobs::new(&dir);
        let key = key();
        assert_eq!(read(&blobs, key).await, None);
        // More than one chunk, so that the copy loops.
        let content: Vec<u8> = (0..CHUNK * 2 + 7).map(|i| (i % 251) as u8).collect();
        let staged = blobs
            .stage(&mut Cursor::new(content.clone()))
            .await
            .unwrap();
        // Staged: under no key yet.
        assert_eq!(read(&blobs, key).await, None);
        assert_eq!(files_under(&dir), [blobs.staging().join(staged.name())]);
        blobs.publish(&staged, key).await.unwrap();
        // Publishing again (a retried commit) replaces the same content.
        blobs.publish(&staged, key).await.unwrap();
        blobs.discard(&staged).await.unwrap();
        blobs.discard(&staged).await.unwrap();
        assert_eq!(read(&blobs, key).await, Some(content));
        assert_eq!(files_under(&dir), [blobs.path(key)]);
        blobs.delete(key).await.unwrap();
        blobs.delete(key).await.unwrap();
        assert_eq!(read(&blobs, key).await, None);
        assert!(files_under(&dir).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_and_folders_are_the_servers_own() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile_dir();
        let blobs = FsBlobs::new(&dir);
        let key = key();
        let staged = blobs.stage(&mut Cursor::new(b"x".to_vec())).await.unwrap();
        blobs.publish(&staged, key).await.unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&blobs.path(key)), 0o600);
        assert_eq!(mode(&blobs.staging().join(staged.name())), 0o600);
        assert_eq!(mode(blobs.path(key).parent().unwrap()), 0o700);
        assert_eq!(mode(&blobs.staging()), 0o700);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Content that fails after some bytes, as a client that goes away.
    struct BrokenOff(usize);

    impl futures::io::AsyncRead for BrokenOff {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<std::io::Result<usize>> {
            if self.0 == 0 {
                return Poll::Ready(Err(std::io::Error::other("connection reset")));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(b'x');
            self.0 -= n;
            Poll::Ready(Ok(n))
        }
    }

    #[tokio::test]
    async fn content_that_breaks_off_leaves_no_staged_file() {
        let dir = tempfile_dir();
        let blobs = FsBlobs::new(&dir);
        let failed = blobs.stage(&mut BrokenOff(CHUNK + 3)).await;
        assert!(failed.is_err());
        assert!(files_under(&dir).is_empty(), "{:?}", files_under(&dir));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn only_staged_names_it_gave_out_are_taken() {
        let dir = tempfile_dir();
        let blobs = FsBlobs::new(&dir);
        for name in ["", "../secret", "a/b", ".staging"] {
            let staged = StagedBlob::new(name);
            assert!(blobs.publish(&staged, key()).await.is_err(), "{name}");
            assert!(blobs.discard(&staged).await.is_err(), "{name}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn the_sweep_erases_only_stale_staged_files() {
        let dir = tempfile_dir();
        let blobs = FsBlobs::new(&dir);
        assert_eq!(blobs.sweep_staging().await.unwrap(), 0);
        let stale = blobs
            .stage(&mut Cursor::new(b"old".to_vec()))
            .await
            .unwrap();
        let fresh = blobs
            .stage(&mut Cursor::new(b"new".to_vec()))
            .await
            .unwrap();
        let key = key();
        blobs.publish(&stale, key).await.unwrap();
        // The stale one was last written to two hours ago.
        std::fs::File::options()
            .write(true)
            .open(blobs.staging().join(stale.name()))
            .unwrap()
            .set_modified(SystemTime::now() - 2 * STAGED_STALE_AFTER)
            .unwrap();
        assert_eq!(blobs.sweep_staging().await.unwrap(), 1);
        let left: Vec<PathBuf> = files_under(&blobs.staging());
        assert_eq!(left, [blobs.staging().join(fresh.name())]);
        // A published file keeps its content: it is another name for it.
        assert_eq!(read(&blobs, key).await.as_deref(), Some(&b"old"[..]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        std::env::temp_dir().join(format!("tenancy-blobs-{}", Uuid::now_v7()))
    }
}
