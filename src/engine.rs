//! The engine: one DataFusion [`SessionContext`] with quiver's file functions, planners and
//! statement handling (several statements per text, atomic `COPY ... TO`).

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::{DynamicFileCatalog, UrlTableFactory};
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use datafusion_session::SessionStore;
use quiver_sql::{
    NamedArgsTableFunction, PlanExecutor, QuiverSqlOptions, ReshapePlanner, TableFunctionPlanner,
};

use crate::copy::execute_copy_atomically;
use crate::datasource::access::{
    ConfinedFileSystem, ConfinedTableFactory, ConfinedTableFunction, ConfinedUrlTables, FileAccess,
    access_denied,
};
use crate::datasource::block_on_io;
use crate::datasource::files::file_table_functions;
use crate::datasource::hdf5::{Hdf5InfoFunc, Hdf5TableFactory, ReadHdf5Func};
use crate::datasource::netcdf::write as netcdf_write;
use crate::datasource::netcdf::{
    NetCdfInfoFunc, NetCdfTableFactory, NetCdfUrlTableFactory, ReadNetCdfFunc,
};
use crate::datasource::remote::with_remote_stores;
use crate::datasource::text::text_table_functions;
use crate::query_memory::QueryMemoryPool;
use crate::repartition_memory::RepartitionNeverSpills;

/// Builds an [`Engine`]; every setting has a sensible default.
#[derive(Debug, Default, Clone)]
pub struct EngineBuilder {
    target_partitions: Option<usize>,
    memory_limit: Option<usize>,
    query_memory_limit: Option<usize>,
    batch_size: Option<usize>,
    options: Vec<(String, String)>,
    file_access: Option<FileAccess>,
    #[cfg(feature = "cluster")]
    cluster: Option<String>,
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

    /// The most memory, in bytes, that one query may hold (within the engine's
    /// [`memory_limit`](Self::memory_limit)); a query that needs more fails with a
    /// "Resources exhausted" error naming this limit, and other queries go on.
    pub fn query_memory_limit(mut self, bytes: usize) -> Self {
        self.query_memory_limit = Some(bytes);
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

    /// Confines the local files statements may read and write (for servers); without it
    /// they may use every file the process can.
    pub fn file_access(mut self, access: FileAccess) -> Self {
        self.file_access = Some(access);
        self
    }

    /// Runs queries on the Apache Ballista cluster whose scheduler is at `scheduler`
    /// (`host:port` or `df://host:port`) instead of in this process (cargo feature
    /// `cluster`; see docs/cluster.md). Planning stays here; the scheduler and its executors
    /// must reach the files the queries name at the same paths.
    #[cfg(feature = "cluster")]
    pub fn cluster(mut self, scheduler: impl Into<String>) -> Self {
        self.cluster = Some(scheduler.into());
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
        config
            .options_mut()
            .extensions
            .insert(QuiverSqlOptions::default());
        for (key, value) in &self.options {
            config.options_mut().set(key, value)?;
        }
        // No cache of directory listings: DataFusion keeps them for the whole session by
        // default, so files added or replaced (by COPY or by others) would stay invisible.
        let mut runtime = RuntimeEnvBuilder::new().with_cache_manager(
            datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
                .with_list_files_cache_limit(0),
        );
        if self.file_access.is_none() {
            // Under a data root only local files may be read: no object stores.
            runtime = with_remote_stores(runtime);
        }
        if let Some(bytes) = self.memory_limit {
            // As DataFusion's `with_memory_limit` builds it, under the repartition guard.
            let tracked = TrackConsumersPool::new(
                GreedyMemoryPool::new(bytes),
                NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN),
            );
            let pool = RepartitionNeverSpills::new(Arc::new(tracked));
            runtime = runtime.with_memory_pool(Arc::new(pool));
        }
        let runtime: Arc<RuntimeEnv> = runtime.build_arc()?;
        let access = self.file_access.map(Arc::new);
        if let Some(access) = &access {
            // DataFusion lists, reads and writes local files through this store.
            runtime.register_object_store(
                ObjectStoreUrl::local_filesystem().as_ref(),
                Arc::new(ConfinedFileSystem::new(Arc::clone(access))),
            );
        }
        let state = quiver_state(config, runtime, access.as_ref())?;
        #[cfg(feature = "cluster")]
        let state = match &self.cluster {
            Some(scheduler) => crate::cluster::client_state(state, scheduler)?,
            None => state,
        };
        let ctx = enable_url_tables(SessionContext::new_with_state(state), access.as_ref());
        Ok(Engine {
            ctx,
            access,
            query_memory_limit: self.query_memory_limit,
        })
    }
}

/// quiver's session on `config` and `runtime`: its table functions and factories (confined
/// by `access` when given), planners, functions and physical optimizer rule. The engine
/// and the cluster's scheduler build their sessions with it.
pub(crate) fn quiver_state(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    access: Option<&Arc<FileAccess>>,
) -> Result<SessionState> {
    let mut functions = file_table_functions(Arc::clone(&runtime));
    functions.extend(text_table_functions());
    functions.extend([
        Arc::new(ReadNetCdfFunc) as Arc<dyn NamedArgsTableFunction>,
        Arc::new(NetCdfInfoFunc),
        Arc::new(ReadHdf5Func),
        Arc::new(Hdf5InfoFunc),
    ]);
    let mut planner = TableFunctionPlanner::new();
    for function in functions {
        planner = planner.with_function(match access {
            Some(access) => Arc::new(ConfinedTableFunction::new(function, Arc::clone(access))),
            None => function,
        });
    }
    let reshape = ReshapePlanner::new(Arc::new(SessionPlanExecutor {
        config: config.clone(),
        runtime: Arc::clone(&runtime),
    }));
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_relation_planners(vec![
            Arc::new(planner),
            Arc::new(reshape),
            Arc::new(crate::arrays::ArrayFunctionPlanner),
        ])
        .with_physical_optimizer_rule(Arc::new(crate::dense::DenseAggregateRule));
    #[cfg(feature = "gpu")]
    {
        builder = builder.with_physical_optimizer_rule(Arc::new(crate::gpu_fit::GpuFitRule));
    }
    builder
        .expr_planners()
        .get_or_insert_with(Vec::new)
        .push(Arc::new(quiver_udfs::FitPlanner));
    let mut state = builder.build();
    register_functions(&mut state)?;
    let factories = state.table_factories_mut();
    factories.insert("NETCDF".to_string(), Arc::new(NetCdfTableFactory));
    factories.insert("HDF5".to_string(), Arc::new(Hdf5TableFactory));
    if let Some(access) = access {
        for factory in factories.values_mut() {
            *factory = Arc::new(ConfinedTableFactory::new(
                Arc::clone(factory),
                Arc::clone(access),
            ));
        }
    }
    Ok(state)
}

/// Registers quiver's scalar, aggregate and window functions on `state`.
pub(crate) fn register_functions(state: &mut SessionState) -> Result<()> {
    use datafusion::execution::FunctionRegistry;
    for function in quiver_udfs::scalar_functions() {
        state.register_udf(function)?;
    }
    for function in quiver_udfs::aggregate_functions() {
        state.register_udaf(function)?;
    }
    quiver_udfs::fill::register(state)
}

/// The parameter names of the scalar or aggregate function `name`, if it has them.
fn parameter_names(state: &SessionState, name: &str) -> Option<Vec<String>> {
    let signature = match state.scalar_functions().get(name) {
        Some(f) => f.signature().clone(),
        None => state.aggregate_functions().get(name)?.signature().clone(),
    };
    signature.parameter_names
}

/// An embedded quiver engine. Cheap to clone: clones share tables and settings.
#[derive(Clone)]
pub struct Engine {
    ctx: SessionContext,
    /// Where statements may read and write files; `None`: anywhere.
    access: Option<Arc<FileAccess>>,
    /// The most memory one query may hold, if bounded.
    query_memory_limit: Option<usize>,
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

    /// A new session on the same tables: it shares the catalogs (tables created in one
    /// session are visible to all), functions and runtime (memory pool) with this engine,
    /// but has its own copy of the settings, so `SET` in one session changes no other.
    /// The server gives each client connection one.
    pub fn new_session(&self) -> Engine {
        static NEXT_SESSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT_SESSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session_id = format!("{}-{n}", self.ctx.session_id());
        let state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_session_id(session_id)
            .build();
        Engine {
            ctx: SessionContext::new_with_state(state),
            access: self.access.clone(),
            query_memory_limit: self.query_memory_limit,
        }
    }

    /// Splits SQL text into its statements (separated by `;`), in the session's dialect.
    /// DuckDB's `PIVOT`, `UNPIVOT` and `SUMMARIZE` statements are first rewritten into
    /// standard SQL ([`quiver_sql::rewrite_duckdb_statements`]).
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let state = self.ctx.state();
        let options = state.config().options();
        let dialect_name = options.sql_parser.dialect;
        let dialect = dialect_from_str(dialect_name).ok_or_else(|| {
            datafusion::common::plan_datafusion_err!("unsupported SQL dialect {dialect_name}")
        })?;
        let sql = quiver_sql::rewrite_duckdb_statements(sql, dialect.as_ref())?;
        let statements = DFParserBuilder::new(sql.as_ref())
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
        match statement {
            Statement::CopyTo(copy) if netcdf_write::is_netcdf_copy(&copy) => {
                let (source, wrap) = netcdf_write::split_copy(copy)?;
                Ok(wrap(self.plan_statement(source).await?))
            }
            statement => self.plan_statement(statement).await,
        }
    }

    /// Plans a statement with DataFusion's planner.
    async fn plan_statement(&self, mut statement: Statement) -> Result<LogicalPlan> {
        let state = self.ctx.state();
        quiver_sql::fill_skipped_arguments(&mut statement, &|name| parameter_names(&state, name));
        let references = state.resolve_table_references(&statement)?;
        match state.statement_to_plan(statement).await {
            Ok(plan) => Ok(plan),
            Err(error) if access_denied(&error).is_some() => Err(error),
            Err(error) => Err(missing_file_error(&references)
                .unwrap_or_else(|| crate::datasource::name_csv_file_in_inference_error(error))),
        }
    }

    /// Runs a logical plan the way [`Engine::sql`] does.
    pub async fn execute_plan(&self, plan: LogicalPlan) -> Result<DataFrame> {
        match plan {
            LogicalPlan::Copy(mut copy) => {
                if let Some(access) = &self.access {
                    copy.output_url = access.resolve_write(&copy.output_url)?;
                }
                execute_copy_atomically(&self.ctx, copy).await
            }
            plan => {
                let frame = self.ctx.execute_logical_plan(plan).await?;
                match self.query_memory_limit {
                    Some(limit) => with_query_memory_limit(frame, limit),
                    None => Ok(frame),
                }
            }
        }
    }
}

/// The query `frame` with a memory pool of its own that holds at most `limit` bytes, within
/// the engine's pool.
fn with_query_memory_limit(frame: DataFrame, limit: usize) -> Result<DataFrame> {
    let (state, plan) = frame.into_parts();
    let shared = state.runtime_env();
    let pool = QueryMemoryPool::new(Arc::clone(&shared.memory_pool), limit);
    let pool = RepartitionNeverSpills::new(Arc::new(pool));
    let runtime = RuntimeEnvBuilder::from_runtime_env(shared)
        .with_memory_pool(Arc::new(pool))
        .build_arc()?;
    let state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .build();
    Ok(DataFrame::new(state, plan))
}

/// Runs the value queries of dynamic PIVOTs while a statement is planned: a fresh session
/// on the engine's runtime (memory pool, object stores), on its own thread.
#[derive(Debug)]
struct SessionPlanExecutor {
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
}

impl PlanExecutor for SessionPlanExecutor {
    fn collect(&self, plan: LogicalPlan) -> Result<Vec<RecordBatch>> {
        let ctx =
            SessionContext::new_with_config_rt(self.config.clone(), Arc::clone(&self.runtime));
        block_on_io(async move { ctx.execute_logical_plan(plan).await?.collect().await })?
    }
}

/// A clearer error than "table not found" when a table name in FROM is a file path
/// (`SELECT * FROM 'data/x.csv'`) and that file does not exist.
fn missing_file_error(references: &[TableReference]) -> Option<DataFusionError> {
    references.iter().find_map(|reference| {
        let name = reference.table();
        let looks_like_path = name.contains('/') || name.contains('.');
        if !looks_like_path || name.contains("://") {
            return None;
        }
        if name.contains(['*', '?', '[']) {
            let matches = glob::glob(name).map(|mut paths| paths.next().is_some());
            return (!matches.unwrap_or(true))
                .then(|| DataFusionError::Plan(format!("no files match '{name}'")));
        }
        (!std::path::Path::new(name).exists())
            .then(|| DataFusionError::Plan(format!("no such file or directory: '{name}'")))
    })
}

/// DataFusion's `enable_url_table`, with `.nc` names resolved to NetCDF tables and `.h5`
/// names to HDF5 tables first, and paths checked first under a data root.
fn enable_url_tables(ctx: SessionContext, access: Option<&Arc<FileAccess>>) -> SessionContext {
    let listing = Arc::new(DynamicListTableFactory::new(SessionStore::new()));
    let mut factory: Arc<dyn UrlTableFactory> = Arc::new(NetCdfUrlTableFactory::new(Arc::clone(
        &listing,
    )
        as Arc<dyn UrlTableFactory>));
    if let Some(access) = access {
        factory = Arc::new(ConfinedUrlTables::new(factory, Arc::clone(access)));
    }
    let catalog_list = Arc::new(DynamicFileCatalog::new(
        Arc::clone(ctx.state().catalog_list()),
        factory,
    ));
    let session_id = ctx.session_id();
    let ctx: SessionContext = ctx
        .into_state_builder()
        .with_session_id(session_id)
        .with_catalog_list(catalog_list)
        .build()
        .into();
    listing.session_store().with_state(ctx.state_weak_ref());
    ctx
}
