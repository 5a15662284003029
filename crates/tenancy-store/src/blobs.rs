//! Knowledge files' contents in a folder: `<root>/<organization>/<file>`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tenancy_core::StoreError;
use tenancy_core::ports::{BlobKey, BlobStore};

/// A [`BlobStore`] over a folder of the local file system. Writes are atomic
/// (a temporary file renamed into place), so a reader never sees half a file.
#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    /// Blobs under `root`, created on first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: BlobKey) -> PathBuf {
        // Both parts are UUIDs: no separators, no `..`.
        self.root
            .join(key.organization_id.to_string())
            .join(key.file_id.to_string())
    }
}

fn io(error: std::io::Error) -> StoreError {
    StoreError::other(error)
}

#[async_trait]
impl BlobStore for FsBlobs {
    async fn put(&self, key: BlobKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(key);
        let folder = path
            .parent()
            .ok_or_else(|| StoreError::other("a blob path has no folder"))?;
        tokio::fs::create_dir_all(folder).await.map_err(io)?;
        let partial = path.with_extension("partial");
        tokio::fs::write(&partial, &bytes).await.map_err(io)?;
        tokio::fs::rename(&partial, &path).await.map_err(io)
    }

    async fn get(&self, key: BlobKey) -> Result<Option<Vec<u8>>, StoreError> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn delete(&self, key: BlobKey) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use tenancy_core::{OrganizationId, ResourceId};
    use uuid::Uuid;

    use super::*;

    #[tokio::test]
    async fn put_get_delete() {
        let dir = std::env::temp_dir().join(format!("tenancy-blobs-{}", Uuid::now_v7()));
        let blobs = FsBlobs::new(&dir);
        let key = BlobKey {
            organization_id: OrganizationId::from_uuid(Uuid::now_v7()),
            file_id: ResourceId::from_uuid(Uuid::now_v7()),
        };
        assert_eq!(blobs.get(key).await.unwrap(), None);
        blobs.put(key, b"hello".to_vec()).await.unwrap();
        assert_eq!(
            blobs.get(key).await.unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        blobs.put(key, b"again".to_vec()).await.unwrap();
        assert_eq!(
            blobs.get(key).await.unwrap().as_deref(),
            Some(&b"again"[..])
        );
        blobs.delete(key).await.unwrap();
        blobs.delete(key).await.unwrap();
        assert_eq!(blobs.get(key).await.unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
