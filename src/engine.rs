//! The engine: one DataFusion [`SessionContext`] with quiver's file functions, planners and
//! statement handling (several statements per text, atomic `COPY ... TO`).

use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use quiver_sql::TableFunctionPlanner;

use crate::copy::execute_copy_atomically;
use crate::datasource::files::file_table_functions;
use crate::datasource::text::text_table_functions;

/// Builds an [`Engine`]; every setting has a sensible default.
#[derive(Debug, Default, Clone)]
pub struct EngineBuilder {
    target_partitions: Option<usize>,
    memory_limit: Option<usize>,
    batch_size: Option<usize>,
    options: Vec<(String, String)>,
}

impl EngineBuilder {
    /// How many partitions a query is split into (default: the number of CPU cores).
    pub fn target_partitions(mut self, partitions: usize) -> Self {
        self.target_partitions = Some(partitions.max(1));
        self
    }

    /// The most memory, in bytes, that queries may hold for sorts, joins and aggregations;
    /// beyond it they spill or fail with an out-of-memory error.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Rows per Arrow batch (default 8192).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = Some(rows.max(1));
        self
    }

    /// Sets a configuration option, as `SET key = value` would.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// Builds the engine.
    pub fn build(self) -> Result<Engine> {
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(true);
        if let Some(n) = self.target_partitions {
            config = config.with_target_partitions(n);
        }
        if let Some(n) = self.batch_size {
            config = config.with_batch_size(n);
        }
        for (key, value) in &self.options {
            config.options_mut().set(key, value)?;
        }
        // No cache of directory listings: DataFusion keeps them for the whole session by
        // default, so files added or replaced (by COPY or by others) would stay invisible.
        let mut runtime = RuntimeEnvBuilder::new().with_cache_manager(
            datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
                .with_list_files_cache_limit(0),
        );
        if let Some(bytes) = self.memory_limit {
            runtime = runtime.with_memory_limit(bytes, 1.0);
        }
        let runtime: Arc<RuntimeEnv> = runtime.build_arc()?;
        let mut planner = TableFunctionPlanner::new();
        for function in file_table_functions(Arc::clone(&runtime)) {
            planner = planner.with_function(function);
        }
        for function in text_table_functions() {
            planner = planner.with_function(function);
        }
        let mut builder = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_relation_planners(vec![Arc::new(planner)]);
        builder
            .expr_planners()
            .get_or_insert_with(Vec::new)
            .push(Arc::new(quiver_udfs::FitPlanner));
        builder
            .scalar_functions()
            .get_or_insert_with(Vec::new)
            .extend(quiver_udfs::scalar_functions());
        builder
            .aggregate_functions()
            .get_or_insert_with(Vec::new)
            .extend(quiver_udfs::aggregate_functions());
        let state = builder.build();
        let ctx = SessionContext::new_with_state(state).enable_url_table();
        Ok(Engine { ctx })
    }
}

/// An embedded quiver engine. Cheap to clone: clones share tables and settings.
#[derive(Clone)]
pub struct Engine {
    ctx: SessionContext,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("session_id", &self.ctx.session_id())
            .finish()
    }
}

impl Engine {
    /// A builder with default settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine with default settings.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// The DataFusion session behind the engine, for registering tables and functions.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Plans one SQL statement. Queries stay lazy (collect or stream the [`DataFrame`]);
    /// DDL, `SET` and `COPY` run now, and `COPY` writes its file atomically.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let mut statements = self.parse(sql)?;
        match (statements.pop(), statements.is_empty()) {
            (Some(statement), true) => self.execute(statement).await,
            (None, _) => datafusion::common::plan_err!("no SQL statement was given"),
            (Some(_), false) => datafusion::common::plan_err!(
                "Engine::sql takes one statement; use Engine::parse and Engine::execute for several"
            ),
        }
    }

    /// Splits SQL text into its statements (separated by `;`), in the session's dialect.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let state = self.ctx.state();
        let options = state.config().options();
        let dialect_name = options.sql_parser.dialect;
        let dialect = dialect_from_str(dialect_name).ok_or_else(|| {
            datafusion::common::plan_datafusion_err!("unsupported SQL dialect {dialect_name}")
        })?;
        let statements = DFParserBuilder::new(sql)
            .with_dialect(dialect.as_ref())
            .with_recursion_limit(options.sql_parser.recursion_limit.get())
            .build()?
            .parse_statements()?;
        Ok(statements.into())
    }

    /// Plans one parsed statement; see [`Engine::sql`].
    pub async fn execute(&self, statement: Statement) -> Result<DataFrame> {
        let plan = self.plan(statement).await?;
        self.execute_plan(plan).await
    }

    /// Plans one parsed statement without running anything.
    pub async fn plan(&self, statement: Statement) -> Result<LogicalPlan> {
        let state = self.ctx.state();
        let references = state.resolve_table_references(&statement)?;
        match state.statement_to_plan(statement).await {
            Ok(plan) => Ok(plan),
            Err(error) => Err(missing_file_error(&references).unwrap_or(error)),
        }
    }

    /// Runs a logical plan the way [`Engine::sql`] does.
    pub async fn execute_plan(&self, plan: LogicalPlan) -> Result<DataFrame> {
        match plan {
            LogicalPlan::Copy(copy) => execute_copy_atomically(&self.ctx, copy).await,
            plan => self.ctx.execute_logical_plan(plan).await,
        }
    }
}

/// A clearer error than "table not found" when a table name in FROM is a file path
/// (`SELECT * FROM 'data/x.csv'`) and that file does not exist.
fn missing_file_error(references: &[TableReference]) -> Option<DataFusionError> {
    references.iter().find_map(|reference| {
        let name = reference.table();
        let looks_like_path = name.contains('/') || name.contains('.');
        let is_glob_or_url = name.contains(['*', '?', '[']) || name.contains("://");
        (looks_like_path && !is_glob_or_url && !std::path::Path::new(name).exists())
            .then(|| DataFusionError::Plan(format!("no such file or directory: '{name}'")))
    })
}
