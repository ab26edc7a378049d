//! Runs a connection's statements (simple and extended query protocol) through its own
//! engine session, with the read-only check, the statement timeout, cancel requests and
//! SQLSTATE error mapping.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, WriteOp};
use datafusion::sql::parser::Statement;
use datafusion_postgres::QueryHook;
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{
    arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type,
};
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use futures::future::{BoxFuture, FutureExt, Shared as SharedFuture};
use futures::{Sink, StreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionGuard, ConnectionHandle, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::simplequery::Query;
use pgwire::types::format::FormatOptions;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::idle::Activity;
use super::idle::Busy;
use super::shutdown::{self, Phase, Working};
use super::{Shared, json};
use crate::Engine;
use crate::server::{sqlstate, statement};

/// A statement prepared with the extended protocol.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    /// The SQL statement as the engine parsed it.
    statement: Statement,
    /// Its plan, with `$n` placeholders.
    plan: LogicalPlan,
}

/// The query handler of one connection.
pub(crate) struct QueryHandler {
    shared: Arc<Shared>,
    engine: Engine,
    hooks: Vec<Arc<dyn QueryHook>>,
    parser: Arc<PreparedParser>,
    /// This connection's entry for cancel requests, made at its first statement (when the
    /// startup has given it its process id and secret key).
    cancel: OnceLock<(Arc<ConnectionHandle>, ConnectionGuard)>,
    /// For the idle timeout: whether a statement is running, and since when none is.
    activity: Arc<Activity>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl QueryHandler {
    pub(crate) fn new(
        shared: Arc<Shared>,
        permit: Option<OwnedSemaphorePermit>,
        activity: Arc<Activity>,
    ) -> Self {
        let engine = shared.engine.new_session();
        let hooks: Vec<Arc<dyn QueryHook>> =
            vec![Arc::new(SetShowHook), Arc::new(TransactionStatementHook)];
        let parser = Arc::new(PreparedParser {
            shared: Arc::clone(&shared),
            engine: engine.clone(),
            hooks: hooks.clone(),
        });
        QueryHandler {
            shared,
            engine,
            hooks,
            parser,
            cancel: OnceLock::new(),
            activity,
            _permit: permit,
        }
    }

    /// Marks a statement as in progress, for the idle timeout and the shutdown, from its
    /// message until its last row is sent (pgwire collects the rows of the extended protocol
    /// before it sends them, so the statement's own streams end too early for that).
    fn working(&self) -> (Busy, Working) {
        (self.activity.begin(), self.shared.shutdown.working())
    }

    /// Admits a statement (refused once the server shuts down): when it must stop, and the
    /// signal of a cancel request.
    async fn interrupt<C: ClientInfo + ?Sized>(&self, client: &C) -> PgWireResult<Interrupt> {
        self.shared.shutdown.admit()?;
        let client_timeout = client
            .metadata()
            .get("statement_timeout_ms")
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        let timeout = match (client_timeout, self.shared.statement_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (handle, _) = self.cancel.get_or_init(|| {
            let (pid, secret) = client.pid_and_secret_key();
            self.shared.cancels.register(pid, secret)
        });
        let receiver = handle.start_query().await;
        let signal: BoxFuture<'static, bool> = Box::pin(async move { receiver.await.is_ok() });
        Ok(Interrupt {
            deadline: timeout.map(|t| Instant::now() + t),
            cancel: Some(signal.shared()),
            shutdown: self.shared.shutdown.watch(),
        })
    }

    /// Plans and runs one statement, under `interrupt`.
    async fn run<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        plan: LogicalPlan,
        format: &Format,
        interrupt: &Interrupt,
    ) -> PgWireResult<Response> {
        if self.shared.read_only {
            refuse_writes(&plan)?;
        }
        let tag = command_tag(&plan);
        let dataframe = interrupt.run(self.engine.execute_plan(plan)).await?;
        let Some(tag) = tag else {
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            let fields = Arc::new(arrow_schema_to_pg_fields(
                &json::json_schema(dataframe.schema().as_arrow()),
                format,
                Some(options),
            )?);
            let batches = interrupt
                .run(dataframe.execute_stream())
                .await?
                .map(|batch| {
                    batch
                        .and_then(|b| json::nested_as_json(b).map_err(DataFusionError::from))
                        .map_err(|e| user_error(&e))
                });
            let rows = interrupt.guard(batches).flat_map({
                let fields = Arc::clone(&fields);
                move |batch| row_stream(&fields, batch)
            });
            return Ok(Response::Query(QueryResponse::new(fields, rows)));
        };
        let batches = interrupt.run(dataframe.collect()).await?;
        let rows = batches
            .first()
            .filter(|b| b.num_rows() == 1 && b.num_columns() == 1 && tag.counts_rows)
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::UInt64Array>()
                    .map(|a| a.value(0) as usize)
            });
        let mut result = Tag::new(tag.name);
        if tag.name == "INSERT" {
            result = result.with_oid(0);
        }
        if let Some(rows) = rows {
            result = result.with_rows(rows);
        }
        Ok(Response::Execution(result))
    }
}

fn row_stream(
    fields: &Arc<Vec<FieldInfo>>,
    batch: PgWireResult<datafusion::arrow::record_batch::RecordBatch>,
) -> stream::Iter<Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync>> {
    let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
        Ok(batch) => encode_recordbatch(Arc::clone(fields), batch),
        Err(e) => Box::new(std::iter::once(Err(e))),
    };
    stream::iter(rows)
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let _working = self.working();
        self._on_query(client, query).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = parse(&self.shared, &self.engine, query)?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        'statements: for statement in statements {
            if let Statement::Statement(ast) = &statement {
                for hook in &self.hooks {
                    let context = self.engine.context();
                    if let Some(response) = hook.handle_simple_query(ast, context, client).await {
                        match response {
                            Ok(response) => responses.push(response),
                            Err(e) => {
                                responses.push(Response::Error(Box::new(e.into())));
                                break 'statements;
                            }
                        }
                        continue 'statements;
                    }
                }
            }
            let interrupt = self.interrupt(client).await?;
            let result = match interrupt.run(self.engine.plan(statement)).await {
                Ok(plan) => {
                    self.run(client, plan, &Format::UnifiedText, &interrupt)
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(response) => responses.push(response),
                Err(e) => {
                    responses.push(Response::Error(Box::new(e.into())));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Prepared;
    type QueryParser = PreparedParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let _working = self.working();
        self._on_execute(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let (types, wire_types) = parameter_types(&prepared.plan)?;
        let types: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
        let wire_types: Vec<Option<&Type>> = wire_types.iter().map(Some).collect();
        let params = deserialize_parameters_with_server_types(portal, &types, &wire_types)?;
        if let Statement::Statement(ast) = &prepared.statement {
            for hook in &self.hooks {
                let context = self.engine.context();
                if let Some(response) = hook
                    .handle_extended_query(ast, &prepared.plan, &params, context, client)
                    .await
                {
                    return response;
                }
            }
        }
        let plan = prepared
            .plan
            .clone()
            .replace_params_with_values(&params)
            .map_err(|e| user_error(&e))?;
        let interrupt = self.interrupt(client).await?;
        self.run(client, plan, &portal.result_column_format, &interrupt)
            .await
    }
}

/// Parses and plans statements of the extended protocol (`Parse` messages).
pub(crate) struct PreparedParser {
    shared: Arc<Shared>,
    engine: Engine,
    hooks: Vec<Arc<dyn QueryHook>>,
}

#[async_trait]
impl QueryParser for PreparedParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = parse(&self.shared, &self.engine, sql)?.into_iter();
        let Some(statement) = statements.next() else {
            return Ok(None);
        };
        if statements.next().is_some() {
            return Err(error_info(
                sqlstate::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement".to_string(),
            ));
        }
        if let Statement::Statement(ast) = &statement {
            for hook in &self.hooks {
                let context = self.engine.context();
                if let Some(plan) = hook.handle_extended_parse_query(ast, context, client).await {
                    return Ok(Some(Prepared {
                        plan: plan?,
                        statement,
                    }));
                }
            }
        }
        let plan = self
            .engine
            .plan(statement.clone())
            .await
            .map_err(|e| user_error(&e))?;
        Ok(Some(Prepared { statement, plan }))
    }

    fn get_parameter_types(&self, prepared: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(parameter_types(&prepared.plan)?.1)
    }

    fn get_result_schema(
        &self,
        prepared: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        if command_tag(&prepared.plan).is_some() {
            return Ok(vec![]);
        }
        arrow_schema_to_pg_fields(
            &json::json_schema(prepared.plan.schema().as_arrow()),
            format.unwrap_or(&Format::UnifiedText),
            None,
        )
    }
}

/// Splits SQL text into statements. Statements in plain SQL go through datafusion-postgres'
/// PostgreSQL compatibility rewrites (what psql, JDBC and ODBC send about pg_catalog);
/// quiver's own statements (`COPY ... TO`, `CREATE EXTERNAL TABLE`, ...) are parsed by the
/// engine as in the shell.
fn parse(shared: &Shared, engine: &Engine, sql: &str) -> PgWireResult<Vec<Statement>> {
    let is_plain = |s: &Statement| matches!(s, Statement::Statement(_));
    match engine.parse(sql) {
        Ok(statements) if statements.iter().all(is_plain) => match shared.compat.parse(sql) {
            Ok(rewritten) if rewritten.len() == statements.len() => Ok(rewritten
                .into_iter()
                .map(|s| Statement::Statement(Box::new(s)))
                .collect()),
            _ => Ok(statements),
        },
        Ok(statements) => Ok(statements
            .into_iter()
            .map(|s| match s {
                Statement::Statement(s) => {
                    Statement::Statement(Box::new(shared.compat.rewrite(*s)))
                }
                other => other,
            })
            .collect()),
        Err(error) => match shared.compat.parse(sql) {
            Ok(rewritten) => Ok(rewritten
                .into_iter()
                .map(|s| Statement::Statement(Box::new(s)))
                .collect()),
            Err(_) => Err(user_error(&error)),
        },
    }
}

/// What a statement that returns no rows reports (`CREATE TABLE`, `INSERT 0 3`); `None` for
/// statements that return rows.
struct CommandTag {
    name: &'static str,
    counts_rows: bool,
}

fn command_tag(plan: &LogicalPlan) -> Option<CommandTag> {
    let (name, counts_rows) = match plan {
        LogicalPlan::Dml(dml) => match dml.op {
            WriteOp::Insert(_) => ("INSERT", true),
            WriteOp::Delete => ("DELETE", true),
            WriteOp::Update => ("UPDATE", true),
            WriteOp::Ctas => ("SELECT", true),
            WriteOp::Truncate => ("TRUNCATE TABLE", false),
            _ => ("OK", false),
        },
        LogicalPlan::Copy(_) => ("COPY", true),
        LogicalPlan::Ddl(ddl) => (
            match ddl {
                DdlStatement::CreateExternalTable(_) | DdlStatement::CreateMemoryTable(_) => {
                    "CREATE TABLE"
                }
                DdlStatement::CreateView(_) => "CREATE VIEW",
                DdlStatement::CreateCatalogSchema(_) => "CREATE SCHEMA",
                DdlStatement::CreateCatalog(_) => "CREATE DATABASE",
                DdlStatement::CreateIndex(_) => "CREATE INDEX",
                DdlStatement::DropTable(_) => "DROP TABLE",
                DdlStatement::DropView(_) => "DROP VIEW",
                DdlStatement::DropCatalogSchema(_) => "DROP SCHEMA",
                DdlStatement::CreateFunction(_) => "CREATE FUNCTION",
                DdlStatement::DropFunction(_) => "DROP FUNCTION",
            },
            false,
        ),
        LogicalPlan::Statement(datafusion::logical_expr::Statement::SetVariable(_)) => {
            ("SET", false)
        }
        LogicalPlan::Statement(datafusion::logical_expr::Statement::ResetVariable(_)) => {
            ("RESET", false)
        }
        LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(_)) => {
            ("PREPARE", false)
        }
        LogicalPlan::Statement(datafusion::logical_expr::Statement::Deallocate(_)) => {
            ("DEALLOCATE", false)
        }
        _ => return None,
    };
    Some(CommandTag { name, counts_rows })
}

/// In read-only mode: refuses plans that create, change or drop tables, or write files.
fn refuse_writes(plan: &LogicalPlan) -> PgWireResult<()> {
    match statement::first_write(plan) {
        Some(write) => Err(error_info(
            sqlstate::READ_ONLY,
            statement::read_only_message(&write),
        )),
        None => Ok(()),
    }
}

/// The parameters of a prepared plan, in `$1, $2, ...` order: their Arrow types where
/// known, and the PostgreSQL types told to the client.
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<(Vec<Option<DataType>>, Vec<Type>)> {
    let arrow = statement::parameter_types(plan).map_err(|e| user_error(&e))?;
    let wire = arrow
        .iter()
        .map(|t| match t {
            Some(t) => into_pg_type(t),
            None => Ok(Type::UNKNOWN),
        })
        .collect::<PgWireResult<Vec<Type>>>()?;
    Ok((arrow, wire))
}

/// When a running statement must stop: at its deadline, on a cancel request, or when the
/// server's shutdown grace period is over.
struct Interrupt {
    deadline: Option<Instant>,
    cancel: Option<SharedFuture<BoxFuture<'static, bool>>>,
    shutdown: tokio::sync::watch::Receiver<Phase>,
}

impl Interrupt {
    /// Waits until the statement must stop, and says why.
    fn fired(&self) -> impl Future<Output = PgWireError> + Send + 'static {
        let deadline = self.deadline;
        let cancel = self.cancel.clone();
        let terminated = shutdown::reached(self.shutdown.clone(), Phase::Terminating);
        async move {
            let timeout = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            let cancelled = async {
                let cancelled = match cancel {
                    Some(cancel) => cancel.await,
                    None => false,
                };
                if !cancelled {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = timeout => error_info(
                    sqlstate::QUERY_CANCELED,
                    "canceling statement due to statement timeout".to_string(),
                ),
                _ = cancelled => error_info(
                    sqlstate::QUERY_CANCELED,
                    "canceling statement due to user request".to_string(),
                ),
                _ = terminated => shutdown::terminating(),
            }
        }
    }

    /// Runs `work` unless interrupted first.
    async fn run<T>(
        &self,
        work: impl Future<Output = datafusion::error::Result<T>>,
    ) -> PgWireResult<T> {
        tokio::select! {
            error = self.fired() => Err(error),
            result = work => result.map_err(|e| user_error(&e)),
        }
    }

    /// Ends `items` with an error when interrupted, and after its first error.
    fn guard<T: Send + 'static>(
        &self,
        items: impl futures::Stream<Item = PgWireResult<T>> + Send + Unpin + 'static,
    ) -> impl futures::Stream<Item = PgWireResult<T>> + Send + 'static {
        let fired = self.fired().boxed();
        stream::unfold(Some((items, fired)), |state| async move {
            let (mut items, mut fired) = state?;
            tokio::select! {
                error = &mut fired => Some((Err(error), None)),
                item = items.next() => match item {
                    Some(Ok(item)) => Some((Ok(item), Some((items, fired)))),
                    Some(Err(e)) => Some((Err(e), None)),
                    None => None,
                },
            }
        })
    }
}

/// An engine error as the client sees it: the message and its SQLSTATE.
fn user_error(error: &DataFusionError) -> PgWireError {
    error_info(sqlstate::sqlstate(error), crate::error::user_message(error))
}

fn error_info(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    )))
}
