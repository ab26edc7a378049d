//! `quiver serve --flight`: a server started in-process on port 0 and arrow-flight's own
//! Flight SQL client: queries, prepared statements, catalog metadata, errors, passwords.

#![cfg(feature = "server")]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow_flight::FlightInfo;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{
    CommandGetDbSchemas, CommandGetTables, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use futures::TryStreamExt;
use prost::Message;
use quiver::Engine;
use quiver::server::{Server, ServerOptions};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::server::{PASSWORD, USER, test_users};

type Client = FlightSqlServiceClient<Channel>;

/// Starts a server with Flight SQL on a free loopback port, a `people` table and a
/// password; it is ready on return.
async fn start(options: ServerOptions) -> Server {
    start_engine(
        Engine::builder().target_partitions(2).build().unwrap(),
        options,
    )
    .await
}

async fn start_engine(engine: Engine, options: ServerOptions) -> Server {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/people.csv");
    let sql = format!(
        "CREATE TABLE people AS SELECT * FROM read_csv('{}')",
        csv.display()
    );
    engine.sql(&sql).await.unwrap().collect().await.unwrap();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let options = ServerOptions {
        pg_addr: loopback,
        flight_addr: Some(loopback),
        users: test_users(),
        ..options
    };
    Server::start(engine, options).await.unwrap()
}

async fn unauthenticated(server: &Server) -> Client {
    let addr = server.flight_addr().unwrap();
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightSqlServiceClient::new(channel)
}

async fn connect(server: &Server) -> Client {
    let mut client = unauthenticated(server).await;
    client.handshake(USER, PASSWORD).await.unwrap();
    client
}

/// Fetches every endpoint of `info`.
async fn fetch(client: &mut Client, info: FlightInfo) -> Result<Vec<RecordBatch>, FlightError> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.unwrap();
        let stream = client.do_get(ticket).await?;
        batches.extend(stream.try_collect::<Vec<_>>().await?);
    }
    Ok(batches)
}

async fn query(client: &mut Client, sql: &str) -> Result<Vec<RecordBatch>, FlightError> {
    let info = client.execute(sql.to_string(), None).await?;
    fetch(client, info).await
}

/// The values of column `i` as text, in row order.
fn column(batches: &[RecordBatch], i: usize) -> Vec<String> {
    let mut values = Vec::new();
    for batch in batches {
        let column = arrow::compute::cast(batch.column(i), &DataType::Utf8).unwrap();
        let column = column.as_string::<i32>();
        values.extend((0..column.len()).map(|r| column.value(r).to_string()));
    }
    values
}

/// The gRPC status behind a client error, and its SQLSTATE.
fn status(error: &FlightError) -> (Code, String) {
    let FlightError::Tonic(status) = error else {
        panic!("expected a gRPC status, got {error}");
    };
    let sqlstate = status
        .metadata()
        .get("x-sqlstate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status.code(), sqlstate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_query() {
    let server = start(ServerOptions::default()).await;
    let mut client = connect(&server).await;
    let batches = query(
        &mut client,
        "SELECT id, name FROM people ORDER BY id LIMIT 2",
    )
    .await
    .unwrap();
    assert_eq!(column(&batches, 1), ["Ada", "Lovelace, A."]);
    assert_eq!(batches[0].schema().field(0).data_type(), &DataType::Int64);
    // DDL and DML through the update call, seen by a query afterwards
    client
        .execute_update("CREATE TABLE t AS VALUES (1), (2), (3)".to_string(), None)
        .await
        .unwrap();
    let inserted = client
        .execute_update("INSERT INTO t VALUES (4)".to_string(), None)
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    let batches = query(&mut client, "SELECT sum(column1) FROM t")
        .await
        .unwrap();
    assert_eq!(column(&batches, 0), ["10"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_prepared_statement() {
    let server = start(ServerOptions::default()).await;
    let mut client = connect(&server).await;
    let mut statement = client
        .prepare(
            "SELECT count(*) AS n FROM people WHERE score > $1".to_string(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(statement.parameter_schema().unwrap().fields().len(), 1);
    assert_eq!(statement.dataset_schema().unwrap().field(0).name(), "n");
    let mut count =
        async |statement: &mut arrow_flight::sql::client::PreparedStatement<Channel>,
               threshold: f64| {
            let schema = Arc::new(Schema::new(vec![Field::new("$1", DataType::Float64, true)]));
            let values = Arc::new(Float64Array::from(vec![threshold]));
            let batch = RecordBatch::try_new(schema, vec![values]).unwrap();
            statement.set_parameters(batch).unwrap();
            let info = statement.execute().await.unwrap();
            let batches = fetch(&mut client, info).await.unwrap();
            batches[0].column(0).as_primitive::<Int64Type>().value(0)
        };
    assert!(count(&mut statement, 0.0).await > 0);
    assert_eq!(count(&mut statement, 1000.0).await, 0);
    statement.close().await.unwrap();
    // without parameters
    let mut statement = client
        .prepare("SELECT name FROM people WHERE id = 1".to_string(), None)
        .await
        .unwrap();
    let info = statement.execute().await.unwrap();
    assert_eq!(column(&fetch(&mut client, info).await.unwrap(), 0), ["Ada"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_catalog_metadata() {
    let server = start(ServerOptions::default()).await;
    let mut client = connect(&server).await;
    let info = client.get_catalogs().await.unwrap();
    let catalogs = column(&fetch(&mut client, info).await.unwrap(), 0);
    assert!(catalogs.contains(&"datafusion".to_string()), "{catalogs:?}");
    let request = CommandGetDbSchemas {
        catalog: Some("datafusion".to_string()),
        db_schema_filter_pattern: None,
    };
    let info = client.get_db_schemas(request).await.unwrap();
    let schemas = column(&fetch(&mut client, info).await.unwrap(), 1);
    assert!(schemas.contains(&"public".to_string()), "{schemas:?}");
    let request = CommandGetTables {
        catalog: Some("datafusion".to_string()),
        db_schema_filter_pattern: Some("public".to_string()),
        table_name_filter_pattern: Some("peo%".to_string()),
        table_types: vec![],
        include_schema: true,
    };
    let info = client.get_tables(request).await.unwrap();
    let batches = fetch(&mut client, info).await.unwrap();
    assert_eq!(column(&batches, 2), ["people"]);
    assert_eq!(column(&batches, 3), ["TABLE"]);
    let encoded = batches[0].column(4).as_binary::<i32>().value(0).to_vec();
    let schema = Schema::try_from(arrow_flight::IpcMessage(encoded.into())).unwrap();
    assert!(schema.field_with_name("name").is_ok(), "{schema:?}");
    let info = client.get_table_types().await.unwrap();
    let types = column(&fetch(&mut client, info).await.unwrap(), 0);
    assert!(types.contains(&"VIEW".to_string()), "{types:?}");
    let info = client
        .get_sql_info(vec![SqlInfo::FlightSqlServerName])
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await.unwrap();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_errors_are_statuses() {
    let options = ServerOptions {
        read_only: true,
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let mut client = connect(&server).await;
    let error = query(&mut client, "SELEC 1").await.unwrap_err();
    assert_eq!(status(&error), (Code::InvalidArgument, "42601".to_string()));
    let error = query(&mut client, "SELECT * FROM nowhere")
        .await
        .unwrap_err();
    assert_eq!(status(&error), (Code::NotFound, "42P01".to_string()));
    let error = query(&mut client, "SELECT 1/0").await.unwrap_err();
    assert_eq!(status(&error).1, "22012");
    let error = client
        .execute_update("CREATE TABLE t AS VALUES (1)".to_string(), None)
        .await
        .unwrap_err();
    assert_eq!(
        status(&error),
        (Code::PermissionDenied, "25006".to_string())
    );
    // the session goes on
    let batches = query(&mut client, "SELECT 42").await.unwrap();
    assert_eq!(column(&batches, 0), ["42"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_authentication() {
    let server = start(ServerOptions::default()).await;
    let mut client = unauthenticated(&server).await;
    let error = client.handshake(USER, "wrong").await.unwrap_err();
    assert!(
        error.to_string().contains("password authentication failed"),
        "{error}"
    );
    let error = client.handshake("mallory", PASSWORD).await.unwrap_err();
    assert!(
        error.to_string().contains("password authentication failed"),
        "{error}"
    );
    // no token: refused
    let error = query(&mut client, "SELECT 1").await.unwrap_err();
    assert_eq!(status(&error).0, Code::Unauthenticated);
    // a made-up token: refused
    client.set_token("0123".to_string());
    let error = query(&mut client, "SELECT 1").await.unwrap_err();
    assert_eq!(status(&error).0, Code::Unauthenticated);
    // each handshake is its own session: SET in one does not change the other
    let mut first = connect(&server).await;
    let mut second = connect(&server).await;
    first
        .execute_update(
            "SET datafusion.execution.batch_size = 123".to_string(),
            None,
        )
        .await
        .unwrap();
    let show = "SELECT value FROM information_schema.df_settings \
                WHERE name = 'datafusion.execution.batch_size'";
    assert_eq!(column(&query(&mut first, show).await.unwrap(), 0), ["123"]);
    assert_ne!(column(&query(&mut second, show).await.unwrap(), 0), ["123"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_statement_timeout() {
    let options = ServerOptions {
        statement_timeout: Some(std::time::Duration::from_millis(200)),
        ..ServerOptions::default()
    };
    let server = start(options).await;
    let mut client = connect(&server).await;
    let sql = "SELECT count(*) FROM range(3000000000) a WHERE a.value % 7 = 3";
    let error = query(&mut client, sql).await.unwrap_err();
    assert_eq!(status(&error), (Code::Cancelled, "57014".to_string()));
    let batches = query(&mut client, "SELECT 1").await.unwrap();
    assert_eq!(column(&batches, 0), ["1"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_file_access_is_confined() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let engine = Engine::builder()
        .target_partitions(2)
        .file_access(quiver::FileAccess::confined(&root).unwrap())
        .build()
        .unwrap();
    let server = start_engine(engine, ServerOptions::default()).await;
    let mut client = connect(&server).await;
    let batches = query(&mut client, "SELECT count(*) FROM 'people.csv'")
        .await
        .unwrap();
    assert_eq!(column(&batches, 0), ["4"]);
    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM '../data/people.csv'",
    ] {
        let error = query(&mut client, sql).await.unwrap_err();
        assert_eq!(
            status(&error),
            (Code::PermissionDenied, "42501".to_string()),
            "{sql}"
        );
    }
    let error = client
        .execute_update("COPY (SELECT 1) TO 'x.csv'".to_string(), None)
        .await
        .unwrap_err();
    assert_eq!(status(&error).1, "42501");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_runs_the_plan_its_ticket_names() {
    let server = start(ServerOptions::default()).await;
    let mut client = connect(&server).await;
    client
        .execute_update("CREATE TABLE gone AS VALUES (1), (2)".to_string(), None)
        .await
        .unwrap();
    let info = client
        .execute("SELECT count(*) FROM gone".to_string(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    // Planned by GetFlightInfo: DoGet runs that plan, so dropping the table in between does
    // not matter (planning the SQL again would fail: the table no longer exists).
    client
        .execute_update("DROP TABLE gone".to_string(), None)
        .await
        .unwrap();
    let batches = fetch(&mut client, info).await.unwrap();
    assert_eq!(column(&batches, 0), ["2"]);
    // A ticket is good for one DoGet; made-up tickets (here one carrying SQL) are refused
    // the same way.
    let made_up = TicketStatementQuery {
        statement_handle: "SELECT 1".into(),
    };
    let made_up = arrow_flight::Ticket::new(made_up.as_any().encode_to_vec());
    for ticket in [ticket, made_up] {
        let error = match client.do_get(ticket).await {
            Ok(stream) => stream.try_collect::<Vec<_>>().await.unwrap_err(),
            Err(error) => error,
        };
        let FlightError::Tonic(status) = &error else {
            panic!("expected a gRPC status, got {error}");
        };
        assert_eq!(status.code(), Code::NotFound, "{status}");
        assert!(status.message().contains("GetFlightInfo again"), "{status}");
    }
    server.shutdown().await;
}
