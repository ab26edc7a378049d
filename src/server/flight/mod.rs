//! The Arrow Flight SQL front: a tonic gRPC server whose [`FlightSqlService`] runs every
//! statement through the engine, like the PostgreSQL front, but hands results to clients as
//! Arrow record batches (no conversion to text or PostgreSQL types).
//!
//! - [`session`]: the handshake (basic authentication → bearer token) and one engine
//!   session per token, with its prepared statements.
//! - [`service`]: the Flight SQL calls; [`run`]: planning, limits and streaming;
//!   [`metadata`]: catalogs, schemas, tables, SQL info; [`status`]: errors as gRPC statuses.
//!
//! [`FlightSqlService`]: arrow_flight::sql::server::FlightSqlService

mod metadata;
mod run;
mod service;
mod session;
mod status;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion::error::Result;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

use super::ServerOptions;
use crate::Engine;

/// The Flight SQL server on `listener`: a future that serves clients until `stopped` turns
/// true.
pub(crate) fn server(
    listener: TcpListener,
    engine: Engine,
    options: &ServerOptions,
    mut stopped: watch::Receiver<bool>,
) -> Result<impl Future<Output = ()> + Send + 'static> {
    let service = service::QuiverFlightSql {
        sessions: session::Sessions::new(
            engine,
            options.users.clone(),
            options.max_connections,
            options.idle_timeout,
        ),
        limits: run::Limits {
            read_only: options.read_only,
            statement_timeout: options.statement_timeout,
        },
        sql_info: metadata::sql_info(options.read_only)
            .map_err(|e| datafusion::error::DataFusionError::Internal(e.message().to_string()))?,
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &options.tls {
        builder = builder.tls_config(tls.flight_config()).map_err(|e| {
            datafusion::error::DataFusionError::Configuration(format!(
                "cannot use the TLS certificate for Flight SQL: {e}"
            ))
        })?;
    }
    let router = builder.add_service(FlightServiceServer::new(service));
    Ok(async move {
        let stop = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop).await {
            log::warn!("the Flight SQL server stopped with an error: {e}");
        }
    })
}
