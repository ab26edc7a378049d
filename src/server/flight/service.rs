//! The [`FlightSqlService`]: each Flight SQL call is authenticated to its session, then
//! planned and run by that session's engine (see [`super::run`]) or answered from the
//! catalogs (see [`super::metadata`]).

use std::pin::Pin;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::SqlInfoData;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use futures::{Stream, TryStreamExt, stream};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::metadata;
use super::run::{self, FlightDataStream, Limits};
use super::session::Sessions;

/// Quiver's Flight SQL service.
pub(crate) struct QuiverFlightSql {
    pub(crate) sessions: Sessions,
    pub(crate) limits: Limits,
    pub(crate) sql_info: SqlInfoData,
}

type DoGetResponse = Result<Response<<QuiverFlightSql as FlightService>::DoGetStream>, Status>;

impl QuiverFlightSql {
    /// A `FlightInfo` that tells the client to fetch `command` with the given result schema.
    fn info(
        schema: &Schema,
        command: impl ProstMessageExt,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("cannot encode a schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    fn rows(stream: FlightDataStream) -> DoGetResponse {
        Ok(Response::new(stream))
    }
}

/// The record batches a client sent with a `DoPut` call.
async fn batches(request: Request<PeekableFlightDataStream>) -> Result<Vec<RecordBatch>, Status> {
    let data = request.into_inner().map_err(FlightError::from);
    FlightRecordBatchStream::new_from_flight_data(data)
        .try_collect()
        .await
        .map_err(Status::from)
}

#[tonic::async_trait]
impl FlightSqlService for QuiverFlightSql {
    type FlightService = QuiverFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let token = self.sessions.login(request.metadata())?;
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("cannot encode the session token"))?;
        let answer = HandshakeResponse {
            protocol_version: 0,
            payload: token.into_bytes().into(),
        };
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(stream::iter([Ok(answer)])));
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.sessions.session(request.metadata())?;
        let plan = run::plan_sql(&session, &query.query, self.limits.deadline()).await?;
        self.limits.check(&plan)?;
        let schema = run::result_schema(&plan);
        let ticket = TicketStatementQuery {
            statement_handle: session.plan_ticket(plan)?.into(),
        };
        Self::info(&schema, ticket, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> DoGetResponse {
        let session = self.sessions.session(request.metadata())?;
        let plan = session.take_planned(&ticket.statement_handle)?;
        let deadline = self.limits.deadline();
        Self::rows(run::stream_rows(&session, plan, self.limits, deadline).await?)
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.sessions.session(request.metadata())?;
        let deadline = self.limits.deadline();
        let plan = run::plan_sql(&session, &command.query, deadline).await?;
        run::run_update(&session, plan, self.limits, deadline).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.sessions.session(request.metadata())?;
        let plan = run::plan_sql(&session, &query.query, self.limits.deadline()).await?;
        self.limits.check(&plan)?;
        let dataset_schema = run::ipc_schema(&run::result_schema(&plan))?;
        let parameter_schema = run::ipc_schema(&run::parameter_schema(&plan)?)?;
        let handle = session.prepare(plan)?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: dataset_schema.into(),
            parameter_schema: parameter_schema.into(),
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let session = self.sessions.session(request.metadata())?;
        let handle = query.prepared_statement_handle;
        let prepared = session.prepared(&handle)?;
        let values = run::parameter_values(&prepared.plan, &batches(request).await?)?;
        session.bind(&handle, values)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.sessions.session(request.metadata())?;
        let prepared = session.prepared(&query.prepared_statement_handle)?;
        let schema = run::result_schema(&prepared.plan);
        Self::info(&schema, query, request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> DoGetResponse {
        let session = self.sessions.session(request.metadata())?;
        let prepared = session.prepared(&query.prepared_statement_handle)?;
        let plan = run::bound_plan(prepared)?;
        let deadline = self.limits.deadline();
        Self::rows(run::stream_rows(&session, plan, self.limits, deadline).await?)
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = self.sessions.session(request.metadata())?;
        let prepared = session.prepared(&query.prepared_statement_handle)?;
        let plan = run::bound_plan(prepared)?;
        run::run_update(&session, plan, self.limits, self.limits.deadline()).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let session = self.sessions.session(request.metadata())?;
        session.close(&query.prepared_statement_handle)
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.sessions.session(request.metadata())?;
        let schema = query.into_builder().schema();
        Self::info(&schema, query, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> DoGetResponse {
        let session = self.sessions.session(request.metadata())?;
        Self::rows(metadata::one_batch(metadata::catalogs(&session, query)?))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.sessions.session(request.metadata())?;
        let schema = query.clone().into_builder().schema();
        Self::info(&schema, query, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> DoGetResponse {
        let session = self.sessions.session(request.metadata())?;
        Self::rows(metadata::one_batch(metadata::schemas(&session, query)?))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.sessions.session(request.metadata())?;
        let schema = query.clone().into_builder().schema();
        Self::info(&schema, query, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> DoGetResponse {
        let session = self.sessions.session(request.metadata())?;
        Self::rows(metadata::one_batch(
            metadata::tables(&session, query).await?,
        ))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.sessions.session(request.metadata())?;
        let schema = query.into_builder().schema();
        Self::info(&schema, query, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> DoGetResponse {
        self.sessions.session(request.metadata())?;
        Self::rows(metadata::one_batch(metadata::table_types(query)?))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.sessions.session(request.metadata())?;
        let schema = query.clone().into_builder(&self.sql_info).schema();
        Self::info(&schema, query, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> DoGetResponse {
        self.sessions.session(request.metadata())?;
        let batch = query
            .into_builder(&self.sql_info)
            .build()
            .map_err(|e| Status::internal(format!("cannot build the SQL info: {e}")))?;
        Self::rows(metadata::one_batch(batch))
    }

    /// The SQL info is fixed when the server starts.
    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
