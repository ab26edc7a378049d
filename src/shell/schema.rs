//! `.schema [TABLE]` / `\d TABLE`: the columns of the session's tables, as
//! information_schema.columns lists them, plus each column's `units` and `long_name`
//! (the attributes NetCDF and HDF5 columns carry as field metadata), which
//! information_schema has no place for.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;

/// One row per column of `table`, or of every table outside information_schema when
/// `table` is empty, sorted by table name.
pub(crate) async fn schema_listing(ctx: &SessionContext, table: &str) -> Result<RecordBatch> {
    let mut tables = Vec::new();
    if table.is_empty() {
        for catalog_name in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                if schema_name == "information_schema" {
                    continue;
                }
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for name in schema.table_names() {
                    if let Some(provider) = schema.table(&name).await? {
                        tables.push((name, provider.schema()));
                    }
                }
            }
        }
        tables.sort_by(|a, b| a.0.cmp(&b.0));
    } else {
        let provider = ctx
            .table_provider(table)
            .await
            .map_err(|_| DataFusionError::Plan(format!("no table named '{table}'")))?;
        tables.push((table.to_string(), provider.schema()));
    }
    let mut columns: [Vec<Option<String>>; 6] = Default::default();
    for (name, schema) in &tables {
        for field in schema.fields() {
            let text = |key: &str| field.metadata().get(key).cloned();
            let row = [
                Some(name.clone()),
                Some(field.name().clone()),
                Some(field.data_type().to_string()),
                Some(if field.is_nullable() { "YES" } else { "NO" }.to_string()),
                text("units"),
                text("long_name"),
            ];
            for (column, value) in columns.iter_mut().zip(row) {
                column.push(value);
            }
        }
    }
    let names = [
        "table_name",
        "column_name",
        "data_type",
        "is_nullable",
        "units",
        "long_name",
    ];
    let schema: SchemaRef = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays = columns
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as _)
        .collect();
    Ok(RecordBatch::try_new(schema, arrays)?)
}
