//! The `file://` object store under a data root: DataFusion lists, reads and writes local
//! files through it at run time (CSV, Parquet and JSON tables, `COPY ... TO`), so each file
//! it touches is checked with [`FileAccess`], symbolic links resolved, before the local
//! file system store proceeds.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::stream::{BoxStream, StreamExt};

use super::FileAccess;

/// The local file system, confined by a [`FileAccess`].
#[derive(Debug)]
pub(crate) struct ConfinedFileSystem {
    inner: Arc<LocalFileSystem>,
    access: Arc<FileAccess>,
}

impl ConfinedFileSystem {
    pub(crate) fn new(access: Arc<FileAccess>) -> Self {
        ConfinedFileSystem {
            inner: Arc::new(LocalFileSystem::new()),
            access,
        }
    }
}

impl fmt::Display for ConfinedFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalFileSystem under {}", self.access.root().display())
    }
}

/// Checks that `location` may be read (`write: false`) or written.
fn check(inner: &LocalFileSystem, access: &FileAccess, location: &Path, write: bool) -> Result<()> {
    let path: PathBuf = inner.path_to_filesystem(location)?;
    let text = path.to_string_lossy();
    let checked = if write {
        access.resolve_write(&text)
    } else {
        access.resolve_read(&text)
    };
    checked.map(|_| ()).map_err(|e| Error::PermissionDenied {
        path: text.into_owned(),
        source: Box::new(e),
    })
}

/// Checks the directory a listing starts from (the root of the file system when none).
fn check_prefix(inner: &LocalFileSystem, access: &FileAccess, prefix: Option<&Path>) -> Result<()> {
    check(inner, access, prefix.unwrap_or(&Path::from("")), false)
}

#[async_trait]
impl ObjectStore for ConfinedFileSystem {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        check(&self.inner, &self.access, location, true)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        check(&self.inner, &self.access, location, true)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        check(&self.inner, &self.access, location, false)?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let (inner, access) = (Arc::clone(&self.inner), Arc::clone(&self.access));
        let checked = locations.map(move |location| {
            let location = location?;
            check(&inner, &access, &location, true)?;
            Ok(location)
        });
        self.inner.delete_stream(checked.boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if let Err(e) = check_prefix(&self.inner, &self.access, prefix) {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        let (inner, access) = (Arc::clone(&self.inner), Arc::clone(&self.access));
        self.inner
            .list(prefix)
            .map(move |meta| {
                let meta = meta?;
                check(&inner, &access, &meta.location, false)?;
                Ok(meta)
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        check_prefix(&self.inner, &self.access, prefix)?;
        let listed = self.inner.list_with_delimiter(prefix).await?;
        for meta in &listed.objects {
            check(&self.inner, &self.access, &meta.location, false)?;
        }
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        check(&self.inner, &self.access, from, false)?;
        check(&self.inner, &self.access, to, true)?;
        self.inner.copy_opts(from, to, options).await
    }
}
