//! [`TextExec`]: reads the files of each partition on blocking threads and streams their
//! batches (one per file for `read_text`, `batch_size` lines for `read_lines`).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::TextKind;
use super::decode::{decode_utf8, file_batches};
use crate::datasource::read_file;

/// One file to read and its size in bytes.
#[derive(Debug, Clone)]
pub struct TextFile {
    /// The path as matched.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// Scans text files, several partitions of files in parallel.
#[derive(Debug)]
pub struct TextExec {
    kind: TextKind,
    /// The table's full schema.
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    partitions: Vec<Vec<TextFile>>,
    lossy: bool,
    properties: Arc<PlanProperties>,
}

impl TextExec {
    /// Reads `files` split into at most `target_partitions` partitions of similar size.
    pub fn new(
        kind: TextKind,
        schema: SchemaRef,
        projection: Option<Vec<usize>>,
        files: &[TextFile],
        target_partitions: usize,
        lossy: bool,
    ) -> Result<Self> {
        let n = target_partitions.clamp(1, files.len().max(1));
        let mut partitions: Vec<Vec<TextFile>> = vec![Vec::new(); n];
        let mut loads = vec![0u64; n];
        let mut by_size: Vec<&TextFile> = files.iter().collect();
        by_size.sort_by(|a, b| b.size.cmp(&a.size).then(a.path.cmp(&b.path)));
        for file in by_size {
            let (i, _) = loads
                .iter()
                .enumerate()
                .min_by_key(|(_, l)| **l)
                .unwrap_or((0, &0));
            loads[i] += file.size.max(1);
            partitions[i].push(file.clone());
        }
        for p in &mut partitions {
            p.sort_by(|a, b| a.path.cmp(&b.path));
        }
        Self::with_partitions(kind, schema, projection, partitions, lossy)
    }

    /// Reads exactly these partitions of files (partition `i` is `partitions[i]`): how an
    /// executor rebuilds the scan a scheduler planned, so each task reads its own files.
    pub fn with_partitions(
        kind: TextKind,
        schema: SchemaRef,
        projection: Option<Vec<usize>>,
        partitions: Vec<Vec<TextFile>>,
        lossy: bool,
    ) -> Result<Self> {
        let projected = match &projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => Arc::clone(&schema),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(projected),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            kind,
            schema,
            projection,
            partitions,
            lossy,
            properties: Arc::new(properties),
        })
    }

    /// One row per file or per line.
    pub fn kind(&self) -> TextKind {
        self.kind
    }

    /// The table's full schema (before the projection).
    pub fn table_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The table columns read, all when `None`.
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }

    /// The files of each partition.
    pub fn partitions(&self) -> &[Vec<TextFile>] {
        &self.partitions
    }

    /// Whether invalid UTF-8 is replaced instead of refused.
    pub fn lossy(&self) -> bool {
        self.lossy
    }

    fn needs_content(&self) -> bool {
        match (&self.kind, &self.projection) {
            (TextKind::Files, Some(p)) => p.contains(&2),
            _ => true,
        }
    }
}

impl DisplayAs for TextExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: usize = self.partitions.iter().map(Vec::len).sum();
        let name = match self.kind {
            TextKind::Files => "read_text",
            TextKind::Lines => "read_lines",
        };
        write!(
            f,
            "TextExec: {name}, {files} files in {} partitions",
            self.partitions.len()
        )
    }
}

impl ExecutionPlan for TextExec {
    fn name(&self) -> &'static str {
        "TextExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    crate::leaf_plan_methods!("TextExec");

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some(files) = self.partitions.get(partition).cloned() else {
            return exec_err!("TextExec: no partition {partition}");
        };
        let batch_size = context.session_config().batch_size();
        let (kind, lossy, read) = (self.kind, self.lossy, self.needs_content());
        let schema = Arc::clone(&self.schema);
        let projection = self.projection.clone();
        let stream = futures::stream::iter(files)
            .then(move |file| {
                let schema = Arc::clone(&schema);
                let projection = projection.clone();
                async move {
                    let task = tokio::task::spawn_blocking(move || -> Result<_> {
                        let text = if read {
                            let bytes = read_file(&file.path)?;
                            Some(decode_utf8(&file.path, bytes, lossy)?)
                        } else {
                            None
                        };
                        let batches =
                            file_batches(kind, &schema, &file.path, file.size, text, batch_size)?;
                        match &projection {
                            Some(p) => batches
                                .iter()
                                .map(|b| b.project(p).map_err(DataFusionError::from))
                                .collect::<Result<Vec<_>>>(),
                            None => Ok(batches),
                        }
                    });
                    match task.await {
                        Ok(result) => result,
                        Err(e) => exec_err!("reading a text file failed: {e}"),
                    }
                }
            })
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(self.properties.eq_properties.schema()),
            stream,
        )))
    }
}
