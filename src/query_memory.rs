//! The per-query memory limit: each query gets its own [`QueryMemoryPool`], a bound on what
//! that one query may hold, on top of the engine's pool (`--memory-limit`, which all queries
//! share). A query that needs more fails with a "Resources exhausted" error (SQLSTATE 53200
//! from the server) that names the limit; other queries go on.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::human_readable_size;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// A memory pool that lets one query hold at most `limit` bytes, reserving them in `inner`.
#[derive(Debug)]
pub(crate) struct QueryMemoryPool {
    inner: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl QueryMemoryPool {
    pub(crate) fn new(inner: Arc<dyn MemoryPool>, limit: usize) -> Self {
        QueryMemoryPool {
            inner,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for QueryMemoryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query memory limit of {} over {}",
            human_readable_size(self.limit),
            self.inner
        )
    }
}

impl MemoryPool for QueryMemoryPool {
    fn name(&self) -> &str {
        "QueryMemoryPool"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.inner.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.inner.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let within = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(additional)
                    .filter(|total| *total <= self.limit)
            });
        let Ok(used) = within else {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the query needs more than the query memory limit of {} \
                 ({} more for {}, {} already held by the query)",
                human_readable_size(self.limit),
                human_readable_size(additional),
                reservation.consumer().name(),
                human_readable_size(self.used.load(Ordering::Relaxed)),
            )));
        };
        if let Err(error) = self.inner.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(error);
        }
        debug_assert!(used + additional <= self.limit);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        match self.inner.memory_limit() {
            MemoryLimit::Finite(inner) => MemoryLimit::Finite(inner.min(self.limit)),
            _ => MemoryLimit::Finite(self.limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::UnboundedMemoryPool;

    #[test]
    fn bounds_one_query_and_gives_back() {
        let shared: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
        let pool: Arc<dyn MemoryPool> = Arc::new(QueryMemoryPool::new(Arc::clone(&shared), 100));
        let reservation = MemoryConsumer::new("sort").register(&pool);
        reservation.try_grow(60).unwrap();
        let error = reservation.try_grow(50).unwrap_err().to_string();
        assert!(error.contains("query memory limit of 100.0 B"), "{error}");
        assert_eq!(shared.reserved(), 60);
        reservation.shrink(30);
        reservation.try_grow(50).unwrap();
        drop(reservation);
        assert_eq!((pool.reserved(), shared.reserved()), (0, 0));
    }
}
