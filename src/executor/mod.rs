//! The CPU pool: rayon thread pools bridged to DataFusion's async streams, so that decoding
//! and array kernels run on their own threads and never block a tokio worker.
//!
//! Work is handed a [`CancelToken`]; dropping the future (a cancelled query, Ctrl-C in the
//! shell, a closed client connection) sets it, and long loops check it between chunks.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::common::{DataFusionError, Result, exec_err};
use rayon::ThreadPool;

/// The `ExecutionPlan` methods every leaf plan of quiver shares: no children (being given
/// some is an error naming the plan), no expressions to visit. Use inside
/// `impl ExecutionPlan for ...` as `crate::leaf_plan_methods!("NetCdfExec");`.
#[macro_export]
macro_rules! leaf_plan_methods {
    ($name:literal) => {
        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            vec![]
        }

        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            ) -> datafusion::common::Result<
                datafusion::common::tree_node::TreeNodeRecursion,
            >,
        ) -> datafusion::common::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        }

        fn with_new_children(
            self: std::sync::Arc<Self>,
            children: Vec<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
        ) -> datafusion::common::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>>
        {
            if children.is_empty() {
                Ok(self)
            } else {
                datafusion::common::exec_err!("{} has no children", $name)
            }
        }
    };
}

/// Set when the consumer of a pool task has gone away.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Whether the work should stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// An error to return from work that stopped because of cancellation.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            exec_err!("query cancelled")
        } else {
            Ok(())
        }
    }

    fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Cancels its token when dropped (the future that owns it was dropped or finished).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The pool with `threads` threads (one pool per size, built on first use and kept).
pub fn pool(threads: usize) -> Result<Arc<ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let threads = threads.max(1);
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| DataFusionError::Internal("cpu pool registry poisoned".into()))?;
    if let Some(pool) = pools.get(&threads) {
        return Ok(Arc::clone(pool));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("quiver-cpu-{i}"))
        .build()
        .map_err(|e| DataFusionError::Execution(format!("cannot start the cpu pool: {e}")))?;
    let pool = Arc::new(pool);
    pools.insert(threads, Arc::clone(&pool));
    Ok(pool)
}

/// Runs `work` on the pool of `threads` threads; the returned future resolves to its result.
/// Dropping the future cancels the token `work` was given. A panic in `work` becomes an error.
pub fn run<T, F>(threads: usize, work: F) -> impl Future<Output = Result<T>> + Send
where
    T: Send + 'static,
    F: FnOnce(&CancelToken) -> Result<T> + Send + 'static,
{
    let token = CancelToken::default();
    let guard = CancelOnDrop(token.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = pool(threads).map(|pool| {
        let inner = Arc::clone(&pool);
        pool.spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                inner.install(|| work(&token))
            }))
            .unwrap_or_else(|_| exec_err!("a cpu pool task panicked"));
            // The receiver is gone when the query was cancelled: nothing to deliver.
            let _ = tx.send(result);
        });
    });
    async move {
        let _guard = guard;
        started?;
        rx.await
            .unwrap_or_else(|_| exec_err!("a cpu pool task stopped without a result"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn runs_work_and_returns_its_result() {
        let sum = run(2, |_| Ok((1..=100u64).sum::<u64>())).await.unwrap();
        assert_eq!(sum, 5050);
    }

    #[tokio::test]
    async fn a_panic_becomes_an_error() {
        let err = run(1, |_| -> Result<()> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
    }

    #[tokio::test]
    async fn dropping_the_future_cancels_the_work() {
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let fut = run(1, move |token| {
            let start = Instant::now();
            while !token.is_cancelled() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = seen_tx.send(token.is_cancelled());
            token.check()
        });
        // Poll once so the work starts, then drop the future.
        let _ = tokio::time::timeout(Duration::from_millis(20), fut).await;
        let cancelled = seen_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(cancelled);
    }
}
