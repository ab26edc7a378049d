//! Catalog metadata for Flight SQL clients (GetCatalogs, GetDbSchemas, GetTables,
//! GetTableTypes, GetSqlInfo), read from the calling session's catalogs, so a client sees
//! the tables every other client sees, `information_schema` and `pg_catalog` included.

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables, SqlInfo,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::TableType;
use futures::{TryStreamExt, stream};
use tonic::Status;

use super::run::FlightDataStream;
use super::session::Session;
use super::status::status;

/// The table types quiver has, as Flight SQL names them.
const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "LOCAL TEMPORARY"];

/// What GetSqlInfo answers.
pub(crate) fn sql_info(read_only: bool) -> Result<SqlInfoData, Status> {
    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "quiver");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    info.append(SqlInfo::FlightSqlServerReadOnly, read_only);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::FlightSqlServerTransaction, 0_i32);
    info.append(SqlInfo::FlightSqlServerCancel, false);
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, true);
    info.append(SqlInfo::SqlDdlTable, true);
    info.build()
        .map_err(|e| Status::internal(format!("cannot build the SQL info: {e}")))
}

/// The catalogs of the session.
pub(crate) fn catalogs(
    session: &Session,
    query: CommandGetCatalogs,
) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    let mut names = session.engine.context().catalog_names();
    names.sort();
    for name in names {
        builder.append(name);
    }
    builder.build().map_err(arrow_status)
}

/// The schemas of the session's catalogs (the builder applies the client's filters).
pub(crate) fn schemas(
    session: &Session,
    query: CommandGetDbSchemas,
) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    for (catalog, schema) in schema_names(session) {
        builder.append(catalog, schema);
    }
    builder.build().map_err(arrow_status)
}

/// The tables of the session's schemas, with their Arrow schemas when asked for.
pub(crate) async fn tables(
    session: &Session,
    query: CommandGetTables,
) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    let context = session.engine.context();
    for (catalog_name, schema_name) in schema_names(session) {
        let Some(schema) = context
            .catalog(&catalog_name)
            .and_then(|c| c.schema(&schema_name))
        else {
            continue;
        };
        let mut names = schema.table_names();
        names.sort();
        for name in names {
            // A table dropped since it was listed is skipped.
            let Some(table) = schema.table(&name).await.map_err(|e| status(&e))? else {
                continue;
            };
            let kind = match table.table_type() {
                TableType::Base => TABLE_TYPES[0],
                TableType::View => TABLE_TYPES[1],
                TableType::Temporary => TABLE_TYPES[2],
            };
            builder
                .append(&catalog_name, &schema_name, &name, kind, &table.schema())
                .map_err(arrow_status)?;
        }
    }
    builder.build().map_err(arrow_status)
}

/// The table types quiver knows.
pub(crate) fn table_types(query: CommandGetTableTypes) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    for kind in TABLE_TYPES {
        builder.append(kind);
    }
    builder.build().map_err(arrow_status)
}

/// (catalog, schema) pairs of the session, sorted.
fn schema_names(session: &Session) -> Vec<(String, String)> {
    let context = session.engine.context();
    let mut pairs = Vec::new();
    for catalog_name in context.catalog_names() {
        if let Some(catalog) = context.catalog(&catalog_name) {
            for schema_name in catalog.schema_names() {
                pairs.push((catalog_name.clone(), schema_name));
            }
        }
    }
    pairs.sort();
    pairs
}

/// One metadata batch as Flight data.
pub(crate) fn one_batch(batch: RecordBatch) -> FlightDataStream {
    let encoded = FlightDataEncoderBuilder::new()
        .with_schema(batch.schema())
        .build(stream::iter([Ok(batch)]))
        .map_err(Status::from);
    Box::pin(encoded)
}

fn arrow_status(error: impl std::fmt::Display) -> Status {
    Status::internal(format!("cannot build the metadata answer: {error}"))
}
