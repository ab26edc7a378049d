//! Planning and running statements for Flight SQL calls: one statement per call, parsed and
//! planned by the session's engine, the read-only check, the statement timeout (planning,
//! execution and streaming the rows), and results as a stream of Flight data.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightData, IpcMessage, SchemaAsIpc};
use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::LogicalPlan;
use futures::{Stream, StreamExt, TryStreamExt, stream};
use tokio::time::Instant;
use tonic::{Code, Status};

use super::session::{Prepared, Session};
use super::status::{status, with_sqlstate};
use crate::server::{sqlstate, statement};

/// The stream type of `DoGet` answers.
pub(crate) type FlightDataStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send>>;

/// What every statement of the Flight server is subject to.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) read_only: bool,
    pub(crate) statement_timeout: Option<Duration>,
}

impl Limits {
    /// When a statement starting now must stop.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.statement_timeout.map(|t| Instant::now() + t)
    }

    /// Refuses writes on a read-only server.
    pub(crate) fn check(&self, plan: &LogicalPlan) -> Result<(), Status> {
        match statement::first_write(plan).filter(|_| self.read_only) {
            Some(write) => Err(with_sqlstate(
                Code::PermissionDenied,
                sqlstate::READ_ONLY,
                statement::read_only_message(&write),
            )),
            None => Ok(()),
        }
    }
}

/// Runs `work` unless the deadline passes first.
pub(crate) async fn bounded<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = DfResult<T>>,
) -> Result<T, Status> {
    let Some(deadline) = deadline else {
        return work.await.map_err(|e| status(&e));
    };
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => Err(timed_out()),
        result = work => result.map_err(|e| status(&e)),
    }
}

fn timed_out() -> Status {
    with_sqlstate(
        Code::Cancelled,
        sqlstate::QUERY_CANCELED,
        "canceling statement due to statement timeout".to_string(),
    )
}

/// Parses and plans one SQL statement in `session`.
pub(crate) async fn plan_sql(
    session: &Session,
    sql: &str,
    deadline: Option<Instant>,
) -> Result<LogicalPlan, Status> {
    let mut statements = session.engine.parse(sql).map_err(|e| status(&e))?;
    let statement = match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => statement,
        (None, _) => return Err(invalid("no SQL statement was given")),
        (Some(_), false) => {
            return Err(invalid(
                "a Flight SQL call takes one statement; send several statements one by one",
            ));
        }
    };
    bounded(deadline, session.engine.plan(statement)).await
}

/// Runs a plan and streams its rows as Flight data.
pub(crate) async fn stream_rows(
    session: &Session,
    plan: LogicalPlan,
    limits: Limits,
    deadline: Option<Instant>,
) -> Result<FlightDataStream, Status> {
    limits.check(&plan)?;
    let dataframe = bounded(deadline, session.engine.execute_plan(plan)).await?;
    let batches = bounded(deadline, dataframe.execute_stream()).await?;
    let schema = batches.schema();
    let batches = batches.map_err(|e| FlightError::Tonic(Box::new(status(&e))));
    let batches = until(deadline, batches);
    let encoded = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches)
        .map_err(Status::from);
    Ok(Box::pin(encoded))
}

/// Ends `items` with a timeout error at the deadline.
fn until(
    deadline: Option<Instant>,
    items: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
) -> Pin<Box<dyn Stream<Item = Result<RecordBatch, FlightError>> + Send>> {
    let Some(deadline) = deadline else {
        return Box::pin(items);
    };
    Box::pin(stream::unfold(
        Some(Box::pin(items)),
        move |state| async move {
            let mut items = state?;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    Some((Err(FlightError::Tonic(Box::new(timed_out()))), None))
                }
                item = items.next() => item.map(|item| (item, Some(items))),
            }
        },
    ))
}

/// Runs a statement that returns no rows (DDL, `INSERT`, `COPY`) and returns how many rows
/// it changed or wrote (0 where it does not say).
pub(crate) async fn run_update(
    session: &Session,
    plan: LogicalPlan,
    limits: Limits,
    deadline: Option<Instant>,
) -> Result<i64, Status> {
    limits.check(&plan)?;
    let dataframe = bounded(deadline, session.engine.execute_plan(plan)).await?;
    let batches = bounded(deadline, dataframe.collect()).await?;
    let count = batches
        .first()
        .filter(|b| b.num_rows() == 1 && b.num_columns() == 1)
        .and_then(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
        .map_or(0, |counts| counts.value(0));
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}

/// The plan of a prepared statement with its bound parameter values.
pub(crate) fn bound_plan(prepared: Prepared) -> Result<LogicalPlan, Status> {
    match prepared.params {
        Some(params) => prepared
            .plan
            .replace_params_with_values(&params)
            .map_err(|e| status(&e)),
        None => {
            let count = statement::parameter_types(&prepared.plan)
                .map_err(|e| status(&e))?
                .len();
            if count > 0 {
                return Err(invalid(&format!(
                    "the prepared statement has {count} parameter(s): bind their values first"
                )));
            }
            Ok(prepared.plan)
        }
    }
}

/// Parameter values from the one row a client binds, cast to the types the plan expects.
pub(crate) fn parameter_values(
    plan: &LogicalPlan,
    batches: &[RecordBatch],
) -> Result<ParamValues, Status> {
    let types = statement::parameter_types(plan).map_err(|e| status(&e))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Err(invalid("no parameter values were bound (expected one row)"));
    };
    if rows != 1 {
        return Err(invalid(&format!(
            "expected one row of parameter values, got {rows}"
        )));
    }
    if batch.num_columns() != types.len() {
        return Err(invalid(&format!(
            "the prepared statement has {} parameter(s), {} value(s) were bound",
            types.len(),
            batch.num_columns()
        )));
    }
    let mut values = Vec::with_capacity(types.len());
    for (column, expected) in batch.columns().iter().zip(&types) {
        let value = ScalarValue::try_from_array(column.as_ref(), 0).map_err(|e| status(&e))?;
        let value = match expected {
            Some(expected) if value.data_type() != *expected => {
                value.cast_to(expected).map_err(|e| status(&e))?
            }
            _ => value,
        };
        values.push(value);
    }
    Ok(ParamValues::from(values))
}

/// The schema of a plan's parameters (`$1`, `$2`, ...), for the client.
pub(crate) fn parameter_schema(plan: &LogicalPlan) -> Result<Schema, Status> {
    let types = statement::parameter_types(plan).map_err(|e| status(&e))?;
    let fields: Vec<Field> = types
        .into_iter()
        .enumerate()
        .map(|(i, t)| Field::new(format!("${}", i + 1), t.unwrap_or(DataType::Null), true))
        .collect();
    Ok(Schema::new(fields))
}

/// A schema in Arrow IPC form, as Flight SQL sends it.
pub(crate) fn ipc_schema(schema: &Schema) -> Result<Vec<u8>, Status> {
    let options = IpcWriteOptions::default();
    let message: Result<IpcMessage, _> = SchemaAsIpc::new(schema, &options).try_into();
    message
        .map(|IpcMessage(bytes)| bytes.to_vec())
        .map_err(|e| Status::internal(format!("cannot encode a schema: {e}")))
}

/// The schema of a plan's result.
pub(crate) fn result_schema(plan: &LogicalPlan) -> SchemaRef {
    Arc::clone(plan.schema().inner())
}

/// A client mistake in a Flight SQL call.
pub(crate) fn invalid(message: &str) -> Status {
    with_sqlstate(
        Code::InvalidArgument,
        sqlstate::PLAN_ERROR,
        message.to_string(),
    )
}
