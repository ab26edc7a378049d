//! Names the file behind a CSV parsing error. Arrow's CSV reader reports the line and the
//! value but not the file, and a scan may read many files; when a query fails with such an
//! error, the CSV files of the plan are re-read one by one, from the start, to find the file
//! that fails with the same error, and the message is prefixed with its path.

use std::fs::File;
use std::sync::Arc;

use datafusion::arrow::error::ArrowError;
use datafusion::datasource::physical_plan::{CsvSource, FileScanConfig};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::ExecutionPlan;

/// Returns `error` with the failing CSV file named, where the plan's CSV files show it.
pub fn name_csv_file_in_error(
    plan: &Arc<dyn ExecutionPlan>,
    error: DataFusionError,
) -> DataFusionError {
    let message = match root_arrow_csv_error(&error) {
        Some(message) => message,
        None => return error,
    };
    let mut scans = Vec::new();
    csv_scans(plan, &mut scans);
    for (config, source) in scans {
        for file in config.file_groups.iter().flat_map(|g| g.files()) {
            let path = format!("/{}", file.object_meta.location);
            if let Some(found) = first_error(&path, &config, &source)
                && found == message
            {
                let message = one_based_line(&message);
                return DataFusionError::Execution(format!("{path}: {message}"));
            }
        }
    }
    error
}

/// Arrow counts records from 0 (the header is record 0); editors count lines from 1.
fn one_based_line(message: &str) -> String {
    let Some(start) = message.find("at line ").map(|i| i + "at line ".len()) else {
        return message.to_string();
    };
    let digits = message[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .count();
    match message[start..start + digits].parse::<u64>() {
        Ok(n) => format!(
            "{}{}{}",
            &message[..start],
            n + 1,
            &message[start + digits..]
        ),
        Err(_) => message.to_string(),
    }
}

/// The message of the Arrow CSV error at the root of `error`, if it is one.
fn root_arrow_csv_error(error: &DataFusionError) -> Option<String> {
    match error.find_root() {
        DataFusionError::ArrowError(e, _) => match e.as_ref() {
            ArrowError::CsvError(m) | ArrowError::ParseError(m) => Some(m.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn csv_scans(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<(FileScanConfig, CsvSource)>) {
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
        && let Some(source) = config.file_source().downcast_ref::<CsvSource>()
    {
        out.push((config.clone(), source.clone()));
    }
    for child in plan.children() {
        csv_scans(child, out);
    }
}

/// Reads one uncompressed local CSV file from the start and returns its first error.
fn first_error(path: &str, config: &FileScanConfig, source: &CsvSource) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut builder = datafusion::arrow::csv::ReaderBuilder::new(Arc::clone(config.file_schema()))
        .with_header(source.has_header())
        .with_delimiter(source.delimiter())
        .with_quote(source.quote());
    if let Some(escape) = source.escape() {
        builder = builder.with_escape(escape);
    }
    if let Some(comment) = source.comment() {
        builder = builder.with_comment(comment);
    }
    if let Some(terminator) = source.terminator() {
        builder = builder.with_terminator(terminator);
    }
    let reader = builder.build(file).ok()?;
    for batch in reader {
        if let Err(ArrowError::CsvError(m) | ArrowError::ParseError(m)) = batch {
            return Some(m);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::one_based_line;

    #[test]
    fn lines_count_from_one() {
        assert_eq!(
            one_based_line("value 'x' for column 0 at line 4. Row data: '[x]'"),
            "value 'x' for column 0 at line 5. Row data: '[x]'"
        );
        assert_eq!(one_based_line("no line here"), "no line here");
    }
}
