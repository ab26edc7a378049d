//! `read_text(paths [, encoding => ...])` and `read_lines(paths [, encoding => ...])`:
//! the table functions and their [`TextTable`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::TableType;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use quiver_sql::{NamedArgsTableFunction, TableFunctionArgs};

use super::TextKind;
use super::exec::{TextExec, TextFile};
use crate::datasource::files::string_list;
use crate::datasource::{expand_paths, file_size};

/// `read_text` and `read_lines`.
pub fn text_table_functions() -> Vec<Arc<dyn NamedArgsTableFunction>> {
    vec![Arc::new(ReadTextFunc), Arc::new(ReadLinesFunc)]
}

/// `read_text(paths)`: one row per file (filename, size, content).
#[derive(Debug)]
pub struct ReadTextFunc;

/// `read_lines(paths)`: one row per line (filename, line_number, line).
#[derive(Debug)]
pub struct ReadLinesFunc;

impl NamedArgsTableFunction for ReadTextFunc {
    fn name(&self) -> &str {
        "read_text"
    }

    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        Ok(Arc::new(TextTable::try_new(
            TextKind::Files,
            self.name(),
            args,
        )?))
    }
}

impl NamedArgsTableFunction for ReadLinesFunc {
    fn name(&self) -> &str {
        "read_lines"
    }

    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        Ok(Arc::new(TextTable::try_new(
            TextKind::Lines,
            self.name(),
            args,
        )?))
    }
}

/// The files matched by a `read_text` / `read_lines` call.
#[derive(Debug)]
pub struct TextTable {
    kind: TextKind,
    schema: SchemaRef,
    files: Vec<TextFile>,
    lossy: bool,
}

impl TextTable {
    /// Resolves the paths and globs of one call.
    pub fn try_new(kind: TextKind, name: &str, args: &TableFunctionArgs) -> Result<Self> {
        args.check_names(name, &["encoding"])?;
        let paths = match args.positional.as_slice() {
            [paths] => string_list(name, paths)?,
            _ => return plan_err!("{name} takes one path, glob or list of paths, then options"),
        };
        let lossy = match args.get("encoding") {
            None => false,
            Some(value) => match value.try_as_str().flatten().map(str::to_ascii_lowercase) {
                Some(e) if e == "utf-8" || e == "utf8" => false,
                Some(e) if e == "utf-8-lossy" || e == "utf8-lossy" => true,
                _ => {
                    return plan_err!(
                        "{name}: unknown encoding '{}' (valid: 'utf-8', 'utf-8-lossy')",
                        value.try_as_str().flatten().unwrap_or_default()
                    );
                }
            },
        };
        let files = expand_paths(name, &paths)?
            .into_iter()
            .map(|path| {
                let size = file_size(&path)?;
                Ok(TextFile { path, size })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_files(kind, files, lossy))
    }

    /// The table over `files`, already resolved: how a scheduler rebuilds the table a
    /// client planned.
    pub fn from_files(kind: TextKind, files: Vec<TextFile>, lossy: bool) -> Self {
        let third = match kind {
            TextKind::Files => [
                Field::new("filename", DataType::Utf8, false),
                Field::new("size", DataType::Int64, false),
                Field::new("content", DataType::Utf8, true),
            ],
            TextKind::Lines => [
                Field::new("filename", DataType::Utf8, false),
                Field::new("line_number", DataType::Int64, false),
                Field::new("line", DataType::Utf8, false),
            ],
        };
        Self {
            kind,
            schema: Arc::new(Schema::new(third.to_vec())),
            files,
            lossy,
        }
    }

    /// One row per file or per line.
    pub fn kind(&self) -> TextKind {
        self.kind
    }

    /// The files read, with their sizes.
    pub fn files(&self) -> &[TextFile] {
        &self.files
    }

    /// Whether invalid UTF-8 is replaced instead of refused.
    pub fn lossy(&self) -> bool {
        self.lossy
    }
}

#[async_trait]
impl TableProvider for TextTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(TextExec::new(
            self.kind,
            Arc::clone(&self.schema),
            projection.cloned(),
            &self.files,
            state.config().target_partitions(),
            self.lossy,
        )?))
    }
}
