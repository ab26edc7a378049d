//! Files in object stores — `s3://bucket/key` and `http(s)://host/path` — for every reader.
//! DataFusion's CSV, Parquet and JSON tables find their store in the runtime's registry
//! ([`RemoteStoreRegistry`]); the NetCDF and HDF5 readers read byte ranges through
//! [`RemoteStorage`], so a query fetches the metadata and only the chunks it needs.
//!
//! A store is made on first use from its URL and kept for the process: S3 takes its
//! credentials, region and endpoint from the usual `AWS_*` environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP`, ...); HTTP needs nothing. Every request runs on one I/O runtime of
//! the process ([`run`]), so pooled connections outlive the runtime of the query that
//! opened them, and the synchronous array readers can wait for a range from any thread.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use futures::TryStreamExt;
use hdf5_reader::storage::{DynStorage, Storage, StorageBuffer};
use object_store::aws::AmazonS3Builder;
use object_store::client::SpawnedReqwestConnector;
use object_store::http::HttpBuilder;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::runtime::{Handle, Runtime};
use url::Url;

/// Reads of at least this many bytes are fetched as one range of their own; smaller ones
/// (metadata: headers, B-tree nodes, heaps) go through blocks of this size, cached.
const BLOCK: usize = 64 << 10;

/// Cached blocks per open file (4 MiB).
const CACHED_BLOCKS: usize = 64;

/// Whether `path` names a file in an object store rather than a local file.
pub(crate) fn is_remote(path: &str) -> bool {
    let lower = path.get(..8).unwrap_or(path).to_ascii_lowercase();
    lower.starts_with("s3://") || lower.starts_with("http://") || lower.starts_with("https://")
}

/// The runtime every object-store request runs on (two worker threads: the requests wait
/// on the network, not the CPU).
static IO: LazyLock<std::result::Result<Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("quiver-io")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
});

fn io_handle() -> Result<Handle> {
    match &*IO {
        Ok(runtime) => Ok(runtime.handle().clone()),
        Err(e) => exec_err!("cannot start the object store I/O runtime: {e}"),
    }
}

/// Runs `future` on the I/O runtime and waits for it, from any thread (inside a tokio
/// runtime or not).
pub(crate) fn run<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = io_handle()?.spawn(future);
    futures::executor::block_on(task)
        .map_err(|e| DataFusionError::Execution(format!("object store request failed: {e}")))
}

/// The stores made so far, by scheme and authority (`s3://bucket`, `https://host:port`).
static STORES: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> =
    LazyLock::new(Default::default);

/// The store that serves `url` (made on first use).
fn store(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    let key = format!("{}://{}", url.scheme(), url.authority());
    let mut stores = STORES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(store) = stores.get(&key) {
        return Ok(Arc::clone(store));
    }
    let connector = SpawnedReqwestConnector::new(io_handle()?);
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" => Arc::new(
            AmazonS3Builder::from_env()
                .with_bucket_name(url.host_str().unwrap_or_default())
                .with_http_connector(connector)
                .build()
                .map_err(|e| store_error(&key, e))?,
        ),
        "http" | "https" => Arc::new(
            HttpBuilder::new()
                .with_url(key.clone())
                .with_client_options(ClientOptions::new().with_allow_http(true))
                .with_http_connector(connector)
                .build()
                .map_err(|e| store_error(&key, e))?,
        ),
        other => return plan_err!("no object store for '{other}://' URLs (s3, http, https)"),
    };
    stores.insert(key, Arc::clone(&store));
    Ok(store)
}

fn store_error(key: &str, e: object_store::Error) -> DataFusionError {
    DataFusionError::Plan(format!("cannot use the object store {key}: {e}"))
}

/// A file in an object store: the store and the file's path in it.
#[derive(Debug, Clone)]
struct Location {
    url: String,
    store: Arc<dyn ObjectStore>,
    path: Path,
}

impl Location {
    fn new(url: &str) -> Result<Location> {
        let parsed = Url::parse(url).map_err(|e| {
            DataFusionError::Plan(format!("'{url}' is not a valid object store URL: {e}"))
        })?;
        let path = Path::from_url_path(parsed.path()).map_err(|e| {
            DataFusionError::Plan(format!("'{url}' is not a valid object store path: {e}"))
        })?;
        Ok(Location {
            url: url.to_string(),
            store: store(&parsed)?,
            path,
        })
    }

    /// The file's size, modification time and tag, or an error naming it (`no such file`
    /// when the store says so).
    fn head(&self) -> Result<ObjectMeta> {
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        match run(async move { store.head(&path).await })? {
            Ok(meta) => Ok(meta),
            Err(object_store::Error::NotFound { .. }) => {
                plan_err!("no such file: '{}'", self.url)
            }
            Err(e) => exec_err!("cannot read '{}': {e}", self.url),
        }
    }

    fn fetch(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        let range = offset..offset + len as u64;
        let bytes = run(async move { store.get_range(&path, range).await })
            .map_err(std::io::Error::other)?
            .map_err(|e| std::io::Error::other(format!("'{}': {e}", self.url)))?;
        Ok(bytes.to_vec())
    }
}

/// The size of the file at `url`.
pub(crate) fn size(url: &str) -> Result<u64> {
    Ok(head(url)?.size)
}

/// What the store says of the file at `url` now: size, modification time, ETag.
pub(crate) fn head(url: &str) -> Result<ObjectMeta> {
    Location::new(url)?.head()
}

/// The whole file at `url`, in one request.
pub(crate) fn read_all(url: &str) -> Result<Vec<u8>> {
    let location = Location::new(url)?;
    let (store, path) = (Arc::clone(&location.store), location.path.clone());
    let bytes = run(async move { store.get(&path).await?.bytes().await })?
        .map_err(|e| DataFusionError::Execution(format!("cannot read '{url}': {e}")))?;
    Ok(bytes.to_vec())
}

/// The files `url` names: the file itself, or for an S3 URL with `*`, `?` or `[` the keys
/// that match it, sorted. HTTP cannot list, so an HTTP URL is always one file (a `?` there
/// starts its query). An error names the URL when nothing is there.
pub(crate) fn expand(function: &str, url: &str) -> Result<Vec<String>> {
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("s3://") || !url.contains(['*', '?', '[']) {
        if lower.starts_with("http") && url.contains(['*', '[']) {
            return plan_err!(
                "{function}: '{url}' is a glob, and HTTP servers cannot list files: name each file"
            );
        }
        size(url)?;
        return Ok(vec![url.to_string()]);
    }
    let parsed = Url::parse(url)
        .map_err(|e| DataFusionError::Plan(format!("'{url}' is not a valid S3 URL: {e}")))?;
    let key = parsed.path().trim_start_matches('/');
    let pattern = glob::Pattern::new(key)
        .map_err(|e| DataFusionError::Plan(format!("{function}: invalid glob '{url}': {e}")))?;
    let fixed = &key[..key.find(['*', '?', '[']).unwrap_or(key.len())];
    let prefix = fixed.rfind('/').map(|i| Path::from(&fixed[..i]));
    let bucket = store(&parsed)?;
    let listed = run(async move { bucket.list(prefix.as_ref()).try_collect::<Vec<_>>().await })?
        .map_err(|e| DataFusionError::Plan(format!("{function}: cannot list '{url}': {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    let mut matched: Vec<String> = listed
        .into_iter()
        .filter(|meta| pattern.matches(meta.location.as_ref()))
        .map(|meta| format!("s3://{host}/{}", meta.location))
        .collect();
    if matched.is_empty() {
        return plan_err!("{function}: no files match '{url}'");
    }
    matched.sort();
    Ok(matched)
}

/// A file in an object store as the NetCDF and HDF5 readers' random-access storage: a read
/// of [`BLOCK`] bytes or more is one range request; smaller reads come from cached blocks.
pub(crate) struct RemoteStorage {
    location: Location,
    len: u64,
    /// Recently read blocks by index, the newest last.
    blocks: Mutex<Vec<(u64, Arc<[u8]>)>>,
}

impl RemoteStorage {
    /// Opens the file at `url` (one request for its size).
    pub(crate) fn open(url: &str) -> Result<DynStorage> {
        let location = Location::new(url)?;
        let len = location.head()?.size;
        Ok(Arc::new(RemoteStorage {
            location,
            len,
            blocks: Mutex::new(Vec::with_capacity(CACHED_BLOCKS)),
        }))
    }

    fn block(&self, index: u64) -> std::io::Result<Arc<[u8]>> {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = blocks.iter().position(|(i, _)| *i == index) {
            let hit = blocks.remove(at);
            blocks.push(hit.clone());
            return Ok(hit.1);
        }
        drop(blocks);
        let start = index * BLOCK as u64;
        let len = (self.len - start).min(BLOCK as u64) as usize;
        let block: Arc<[u8]> = self.location.fetch(start, len)?.into();
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if blocks.len() == CACHED_BLOCKS {
            blocks.remove(0);
        }
        blocks.push((index, Arc::clone(&block)));
        Ok(block)
    }
}

impl Storage for RemoteStorage {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_range(&self, offset: u64, len: usize) -> hdf5_reader::error::Result<StorageBuffer> {
        let end = offset
            .checked_add(len as u64)
            .filter(|end| *end <= self.len);
        let Some(end) = end else {
            return Err(hdf5_reader::error::Error::UnexpectedEof {
                offset,
                needed: len as u64,
                available: self.len.saturating_sub(offset),
            });
        };
        if len == 0 {
            return Ok(StorageBuffer::from_vec(Vec::new()));
        }
        if len >= BLOCK {
            return Ok(StorageBuffer::from_vec(self.location.fetch(offset, len)?));
        }
        let (first, last) = (offset / BLOCK as u64, (end - 1) / BLOCK as u64);
        let mut out = Vec::with_capacity(len);
        for index in first..=last {
            let block = self.block(index)?;
            let start = index * BLOCK as u64;
            let from = (offset.max(start) - start) as usize;
            let to = (end.min(start + block.len() as u64) - start) as usize;
            out.extend_from_slice(&block[from..to]);
        }
        Ok(StorageBuffer::from_vec(out))
    }
}

/// `runtime` with a [`RemoteStoreRegistry`]: the runtime of every quiver session (local
/// engine, cluster scheduler and executors).
pub(crate) fn with_remote_stores(runtime: RuntimeEnvBuilder) -> RuntimeEnvBuilder {
    runtime.with_object_store_registry(Arc::new(RemoteStoreRegistry::default()))
}

/// DataFusion's registry of object stores, which also serves `s3://` and `http(s)://` URLs
/// with the process's stores, so CSV, Parquet and JSON tables read them like local files.
#[derive(Debug, Default)]
pub(crate) struct RemoteStoreRegistry {
    inner: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for RemoteStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Err(_) if is_remote(url.as_str()) => store(url),
            found => found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_are_told_from_paths() {
        assert!(is_remote("s3://bucket/a.nc"));
        assert!(is_remote("HTTPS://host/a.nc"));
        assert!(is_remote("http://127.0.0.1:8080/a.nc"));
        assert!(!is_remote("/data/a.nc"));
        assert!(!is_remote("file:///data/a.nc"));
        assert!(!is_remote("s3"));
    }

    #[test]
    fn an_http_glob_is_refused_by_name() {
        let err = expand("read_netcdf", "http://127.0.0.1:9/tas*.nc").unwrap_err();
        assert!(err.to_string().contains("cannot list"), "{err}");
    }
}
