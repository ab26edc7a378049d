//! The output stream of one array-scan partition (NetCDF, HDF5): its read blocks decoded one
//! after another on the CPU pool (`crate::executor`), never on a tokio worker, until the
//! row limit is reached. Partitions share no lock: each reads its own blocks.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use super::ReadBlock;
use crate::executor;

/// Turns one read block into batches.
pub(crate) trait BlockReader: Send + Sync + 'static {
    /// Reads `block`, at most `limit` rows of it.
    fn read(&self, block: &ReadBlock, limit: Option<usize>) -> Result<Vec<RecordBatch>>;
}

/// The stream of `blocks` read by `reader` on the pool of `threads` threads, at most
/// `limit` rows in all; the first error ends it.
pub(crate) fn block_stream(
    schema: SchemaRef,
    reader: Arc<dyn BlockReader>,
    blocks: Vec<ReadBlock>,
    limit: Option<usize>,
    threads: usize,
) -> SendableRecordBatchStream {
    let stream = futures::stream::unfold(
        (blocks.into_iter(), limit),
        move |(mut blocks, remaining)| {
            let reader = Arc::clone(&reader);
            async move {
                if remaining == Some(0) {
                    return None;
                }
                let block = blocks.next()?;
                let result = executor::run(threads, move |token| {
                    token.check()?;
                    reader.read(&block, remaining)
                })
                .await;
                let remaining = match (&result, remaining) {
                    (Ok(batches), Some(r)) => {
                        Some(r.saturating_sub(batches.iter().map(|b| b.num_rows()).sum()))
                    }
                    (Err(_), _) => Some(0),
                    (_, r) => r,
                };
                let items: Vec<Result<RecordBatch>> = match result {
                    Ok(batches) => batches.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                };
                Some((futures::stream::iter(items), (blocks, remaining)))
            }
        },
    )
    .flatten();
    Box::pin(RecordBatchStreamAdapter::new(schema, stream))
}
