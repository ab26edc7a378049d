//! Device-resident columns: the f32 value columns a GPU dense aggregation uploads stay on
//! the device for the next query that reads the same block, so a repeated or refined query
//! neither reads the files nor copies the values again. Keyed by file (path, size and
//! modification time, and for an object store its ETag: a changed file misses and its old
//! columns are dropped), column (what the scan decodes, see
//! [`Grid::read_identity`](crate::datasource::array::Grid)) and index box; bounded in bytes by
//! `quiver.gpu_cache_bytes`, least recently used evicted first. A local file is stat'ed, an
//! object in a store asked for its metadata (one HEAD request), once per query
//! (`crate::dense::gpu::GpuRun`).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::SystemTime;

use datafusion::arrow::buffer::NullBuffer;
use wgpu::Buffer;

use crate::datasource::remote::{self, is_remote};

/// One version of a file: a rewrite changes its size, modification time or ETag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FileVersion {
    path: String,
    size: u64,
    modified: SystemTime,
    /// The object store's ETag (`None` for local files and stores without one).
    tag: Option<String>,
}

impl FileVersion {
    /// The version of the file `path` now; `None` for files that cannot be stat'ed (nothing
    /// is kept for them).
    pub(crate) fn of(path: &str) -> Option<Self> {
        if is_remote(path) {
            let meta = remote::head(path).ok()?;
            return Some(Self {
                path: path.to_string(),
                size: meta.size,
                modified: SystemTime::from(meta.last_modified),
                tag: meta.e_tag,
            });
        }
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            path: path.to_string(),
            size: meta.len(),
            modified: meta.modified().ok()?,
            tag: None,
        })
    }
}

/// One block's column as read from one version of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ColumnKey {
    file: FileVersion,
    column: String,
    ranges: Vec<(u64, u64)>,
}

impl ColumnKey {
    /// The key of `column` (a grid's read identity) of `file` over `ranges`.
    pub(crate) fn new(file: &FileVersion, column: String, ranges: &[(u64, u64)]) -> Self {
        Self {
            file: file.clone(),
            column,
            ranges: ranges.to_vec(),
        }
    }
}

/// A column on the device: `len` f32 values and the host's record of which are NULL.
#[derive(Debug)]
pub(crate) struct ResidentColumn {
    pub buffer: Buffer,
    pub len: usize,
    pub nulls: Option<NullBuffer>,
}

impl ResidentColumn {
    fn bytes(&self) -> u64 {
        self.buffer.size()
    }
}

struct Entry {
    column: Arc<ResidentColumn>,
    used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<ColumnKey, Entry>,
    bytes: u64,
    clock: u64,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The column under `key`, if it is on the device.
pub(crate) fn get(key: &ColumnKey) -> Option<Arc<ResidentColumn>> {
    cache().get(key)
}

/// Keeps `column` under `key` when it fits in `limit` bytes, evicting the least recently
/// used columns and every column of an older version of the same file; returns it either
/// way for the caller to use.
pub(crate) fn insert(key: ColumnKey, column: ResidentColumn, limit: u64) -> Arc<ResidentColumn> {
    cache().insert(key, column, limit)
}

/// How many columns and bytes are resident.
pub(crate) fn usage() -> (usize, u64) {
    let cache = cache();
    (cache.entries.len(), cache.bytes)
}

impl Cache {
    fn get(&mut self, key: &ColumnKey) -> Option<Arc<ResidentColumn>> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.get_mut(key)?;
        entry.used = clock;
        Some(Arc::clone(&entry.column))
    }

    fn insert(
        &mut self,
        key: ColumnKey,
        column: ResidentColumn,
        limit: u64,
    ) -> Arc<ResidentColumn> {
        let column = Arc::new(column);
        let size = column.bytes();
        if size > limit {
            return column;
        }
        let stale: Vec<ColumnKey> = self
            .entries
            .keys()
            .filter(|k| k.file.path == key.file.path && k.file != key.file)
            .cloned()
            .collect();
        for k in stale {
            self.remove(&k);
        }
        while self.bytes + size > limit {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
        self.clock += 1;
        let entry = Entry {
            column: Arc::clone(&column),
            used: self.clock,
        };
        self.bytes += size;
        if let Some(old) = self.entries.insert(key, entry) {
            self.bytes -= old.column.bytes();
        }
        column
    }

    fn remove(&mut self, key: &ColumnKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.bytes -= entry.column.bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::buffer::upload;
    use crate::gpu::kernels::testing::gpu_or_skip;

    #[test]
    fn keeps_columns_within_the_bound_and_drops_old_versions_of_a_file() {
        let Some(gpu) = gpu_or_skip() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.nc");
        std::fs::write(&path, b"one").unwrap();
        let path = path.to_string_lossy().into_owned();
        let column = |n: usize| ResidentColumn {
            buffer: upload(gpu, "test", &vec![1f32; n]),
            len: n,
            nulls: None,
        };
        let key = |ranges: &[(u64, u64)]| {
            ColumnKey::new(&FileVersion::of(&path).unwrap(), "tas".into(), ranges)
        };
        let mut cache = Cache::default();
        let limit = 3 * 4096;
        cache.insert(key(&[(0, 1)]), column(1024), limit);
        cache.insert(key(&[(1, 2)]), column(1024), limit);
        assert!(cache.get(&key(&[(0, 1)])).is_some());
        cache.insert(key(&[(2, 3)]), column(1024), limit);
        assert_eq!((cache.entries.len(), cache.bytes), (3, limit));
        // A fourth evicts the least recently used: (1, 2), since (0, 1) was read.
        cache.insert(key(&[(3, 4)]), column(1024), limit);
        assert!(cache.get(&key(&[(1, 2)])).is_none());
        assert!(cache.get(&key(&[(0, 1)])).is_some());
        assert_eq!((cache.entries.len(), cache.bytes), (3, limit));
        // Too big for the bound: used but not kept.
        let big = cache.insert(key(&[(4, 5)]), column(4096), limit);
        assert_eq!(big.len, 4096);
        assert!(cache.get(&key(&[(4, 5)])).is_none());
        // The file changes (its size): old keys miss, and the next insert drops them all.
        std::fs::write(&path, b"changed").unwrap();
        assert!(cache.get(&key(&[(0, 1)])).is_none());
        cache.insert(key(&[(0, 1)]), column(16), limit);
        assert_eq!((cache.entries.len(), cache.bytes), (1, 64));
        assert!(FileVersion::of(&format!("{path}.missing")).is_none());
    }
}
