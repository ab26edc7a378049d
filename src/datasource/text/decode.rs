//! Bytes of one file to Arrow batches: UTF-8 validation (with the byte offset of the first
//! invalid sequence in the error, or lossy replacement) and line splitting.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{Result, exec_err};

use super::TextKind;

/// Decodes `bytes` as UTF-8, failing with the file name and byte offset unless `lossy`.
pub fn decode_utf8(path: &str, bytes: Vec<u8>, lossy: bool) -> Result<String> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) if lossy => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        Err(e) => exec_err!(
            "invalid utf-8 in '{path}' at byte offset {} (use encoding => 'utf-8-lossy' to \
             replace invalid bytes)",
            e.utf8_error().valid_up_to()
        ),
    }
}

/// The batches of one file, full schema (projection is applied by the caller).
pub fn file_batches(
    kind: TextKind,
    schema: &SchemaRef,
    path: &str,
    size: u64,
    text: Option<String>,
    batch_size: usize,
) -> Result<Vec<RecordBatch>> {
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    match kind {
        TextKind::Files => {
            let content: ArrayRef = Arc::new(StringArray::from(vec![text]));
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec![path])),
                Arc::new(Int64Array::from(vec![size])),
                content,
            ];
            Ok(vec![RecordBatch::try_new(Arc::clone(schema), columns)?])
        }
        TextKind::Lines => {
            let text = text.unwrap_or_default();
            let mut lines: Vec<&str> = text.split('\n').collect();
            if text.ends_with('\n') || text.is_empty() {
                lines.pop();
            }
            let mut batches = Vec::new();
            for (chunk_index, chunk) in lines.chunks(batch_size.max(1)).enumerate() {
                let first = (chunk_index * batch_size.max(1)) as i64 + 1;
                let numbers: Int64Array = (first..first + chunk.len() as i64).collect();
                let lines = StringArray::from_iter_values(
                    chunk.iter().map(|l| l.strip_suffix('\r').unwrap_or(l)),
                );
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(StringArray::from(vec![path; chunk.len()])),
                    Arc::new(numbers),
                    Arc::new(lines),
                ];
                batches.push(RecordBatch::try_new(Arc::clone(schema), columns)?);
            }
            Ok(batches)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_utf8_names_file_and_offset() {
        let err = decode_utf8("a.txt", b"ab\xffcd".to_vec(), false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("'a.txt' at byte offset 2"), "{err}");
        let text = decode_utf8("a.txt", b"ab\xffcd".to_vec(), true).unwrap_or_default();
        assert_eq!(text, "ab\u{fffd}cd");
    }
}
