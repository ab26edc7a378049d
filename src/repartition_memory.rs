//! A memory pool wrapper that never refuses `RepartitionExec` its buffers. DataFusion 55.2's
//! `RepartitionExec` spills a batch it cannot reserve memory for to a spill pool, and when
//! two of its input tasks spill at once the reader can wait on the wrong file forever: the
//! query neither ends nor fails (apache/datafusion#24883, fixed after 55.2; quiver saw one
//! such hang in about a hundred memory-limited group-bys on two partitions). Under this
//! wrapper a repartition's reservations always succeed — they still count, so the operators
//! that can spill or fail (aggregates, sorts, joins) see less room — and it never spills.
//! That is how DataFusion behaved before repartitions could spill: their buffers are a few
//! batches per partition. Remove this when DataFusion is upgraded past the fix.

use std::fmt;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// Wraps `inner`; see the module docs.
#[derive(Debug)]
pub(crate) struct RepartitionNeverSpills {
    inner: Arc<dyn MemoryPool>,
}

impl RepartitionNeverSpills {
    pub(crate) fn new(inner: Arc<dyn MemoryPool>) -> Self {
        RepartitionNeverSpills { inner }
    }
}

/// Whether `reservation` holds a repartition's buffered batches.
fn is_repartition(reservation: &MemoryReservation) -> bool {
    reservation.consumer().name().starts_with("RepartitionExec")
}

impl fmt::Display for RepartitionNeverSpills {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl MemoryPool for RepartitionNeverSpills {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        if is_repartition(reservation) {
            self.inner.grow(reservation, additional);
            return Ok(());
        }
        self.inner.try_grow(reservation, additional)
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn repartitions_are_counted_but_not_refused() {
        let pool: Arc<dyn MemoryPool> = Arc::new(RepartitionNeverSpills::new(Arc::new(
            GreedyMemoryPool::new(100),
        )));
        let repartition = MemoryConsumer::new("RepartitionExec[1]").register(&pool);
        repartition.try_grow(150).unwrap();
        assert_eq!(pool.reserved(), 150);
        // Everything else is refused as before, and sees the repartition's share.
        let sort = MemoryConsumer::new("ExternalSorter[0]").register(&pool);
        assert!(sort.try_grow(1).is_err());
        drop(repartition);
        sort.try_grow(100).unwrap();
        assert!(sort.try_grow(1).is_err());
    }
}
