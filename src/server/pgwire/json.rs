//! Lists, structs and maps as JSON text for PostgreSQL clients: `[1,2,3]`,
//! `{"a":1,"b":null}`. PostgreSQL's array and composite text forms would need a declared
//! type per shape and lose field names, while JSON text is read by every client and keeps
//! both; the column's PostgreSQL type is `text`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};

/// Whether values of `data_type` are sent as JSON text.
fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(_, _)
    )
}

/// `schema` with every nested column as text.
pub(crate) fn json_schema(schema: &Schema) -> Schema {
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|field| match is_nested(field.data_type()) {
            true => Arc::new(Field::new(
                field.name(),
                DataType::Utf8,
                field.is_nullable(),
            )),
            false => Arc::clone(field),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// `batch` with every nested column as JSON text.
pub(crate) fn nested_as_json(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| is_nested(f.data_type())) {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| match is_nested(field.data_type()) {
            true => to_json(field, column.as_ref()),
            false => Ok(Arc::clone(column)),
        })
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
    let schema: SchemaRef = Arc::new(json_schema(&schema));
    RecordBatch::try_new(schema, columns)
}

fn to_json(field: &FieldRef, column: &dyn Array) -> Result<ArrayRef, ArrowError> {
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let mut encoder = make_encoder(field, column, &options)?;
    let mut out = StringBuilder::with_capacity(column.len(), column.len() * 16);
    let mut buffer = Vec::new();
    for row in 0..column.len() {
        if column.is_null(row) {
            out.append_null();
            continue;
        }
        buffer.clear();
        encoder.encode(row, &mut buffer);
        out.append_value(String::from_utf8_lossy(&buffer));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array, ListArray, StructArray};
    use datafusion::arrow::datatypes::Int64Type;

    #[test]
    fn lists_and_structs_become_json() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), None, Some(3)]),
            None,
        ]);
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None]));
        let structs = StructArray::from(vec![(
            Arc::new(Field::new("id", DataType::Int64, true)),
            Arc::clone(&ids),
        )]);
        let batch = RecordBatch::try_from_iter([
            ("l", Arc::new(list) as ArrayRef),
            ("s", Arc::new(structs) as ArrayRef),
            ("n", ids),
        ])
        .unwrap();
        let json = nested_as_json(batch).unwrap();
        let text = |i: usize| json.column(i).as_string::<i32>().clone();
        assert_eq!(text(0).value(0), "[1,null,3]");
        assert!(text(0).is_null(1));
        assert_eq!(text(1).value(0), r#"{"id":7}"#);
        assert_eq!(text(1).value(1), r#"{"id":null}"#);
        assert_eq!(json.schema().field(2).data_type(), &DataType::Int64);
    }
}
