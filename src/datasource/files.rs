//! `read_csv`, `read_parquet` and `read_json`: files, globs and lists of files as tables,
//! with the reading options users know from DuckDB (`header`, `delim`, `nullstr`, ...).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::{Column, DataFusionError, Result, ScalarValue, plan_err};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, col, lit, when};
use datafusion::prelude::SessionConfig;
use quiver_sql::{NamedArgsTableFunction, TableFunctionArgs};

use super::{block_on_io, remote};

/// The file table functions, each reading through `runtime`'s object stores.
pub fn file_table_functions(runtime: Arc<RuntimeEnv>) -> Vec<Arc<dyn NamedArgsTableFunction>> {
    [FileKind::Csv, FileKind::Parquet, FileKind::Json]
        .into_iter()
        .map(|kind| {
            Arc::new(ReadFilesFunc {
                kind,
                runtime: Arc::clone(&runtime),
            }) as Arc<dyn NamedArgsTableFunction>
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum FileKind {
    Csv,
    Parquet,
    Json,
}

impl FileKind {
    fn function_name(self) -> &'static str {
        match self {
            FileKind::Csv => "read_csv",
            FileKind::Parquet => "read_parquet",
            FileKind::Json => "read_json",
        }
    }

    fn default_extension(self) -> &'static str {
        match self {
            FileKind::Csv => ".csv",
            FileKind::Parquet => ".parquet",
            FileKind::Json => ".json",
        }
    }

    fn options(self) -> &'static [&'static str] {
        match self {
            FileKind::Csv => &[
                "header",
                "delim",
                "delimiter",
                "sep",
                "quote",
                "escape",
                "comment",
                "nullstr",
                "null",
                "sample_size",
                "compression",
            ],
            FileKind::Parquet => &[],
            FileKind::Json => &["sample_size", "compression"],
        }
    }
}

/// `read_csv(paths, ...)`, `read_parquet(paths)`, `read_json(paths, ...)`.
#[derive(Debug)]
struct ReadFilesFunc {
    kind: FileKind,
    runtime: Arc<RuntimeEnv>,
}

impl NamedArgsTableFunction for ReadFilesFunc {
    fn name(&self) -> &str {
        self.kind.function_name()
    }

    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        args.check_names(name, self.kind.options())?;
        let paths = match args.positional.as_slice() {
            [paths] => string_list(name, paths)?,
            _ => return plan_err!("{name} takes one path, glob or list of paths, then options"),
        };
        // DataFusion expands globs of local paths only: an S3 glob becomes its files here.
        let mut paths = paths;
        if paths
            .iter()
            .any(|p| remote::is_remote(p) && p.contains(['*', '[']))
        {
            paths = paths
                .iter()
                .map(|p| match remote::is_remote(p) && p.contains(['*', '[']) {
                    true => remote::expand(name, p),
                    false => Ok(vec![p.clone()]),
                })
                .collect::<Result<Vec<_>>>()?
                .concat();
        }
        let format = self.format(args, &paths)?;
        let state = SessionStateBuilder::new()
            .with_config(SessionConfig::new())
            .with_runtime_env(Arc::clone(&self.runtime))
            .build();
        let mut urls = Vec::with_capacity(paths.len());
        for path in &paths {
            check_path_exists(path)?;
            urls.push(ListingTableUrl::parse(path)?);
        }
        // An explicit file or glob is read whatever its extension; a directory only
        // yields the files with the format's usual extension.
        let extension = if paths.iter().all(|p| p.ends_with('/')) {
            self.kind.default_extension()
        } else {
            ""
        };
        let options = ListingOptions::new(format).with_file_extension(extension);
        let schema = block_on_io(async {
            let mut schemas = Vec::with_capacity(urls.len());
            for (url, path) in urls.iter().zip(&paths) {
                let schema = options.infer_schema(&state, url).await;
                let schema = schema.map_err(|e| inference_error(name, path, e))?;
                schemas.push(schema.as_ref().clone());
            }
            Schema::try_merge(schemas).map_err(DataFusionError::from)
        })??;
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options);
        match null_strings(name, args)? {
            Some(nulls) => with_null_strings(config, &schema, &nulls),
            None => Ok(Arc::new(ListingTable::try_new(
                config.with_schema(Arc::new(schema)),
            )?)),
        }
    }
}

/// Says which file or pattern failed while the column types were being inferred.
fn inference_error(function: &str, path: &str, error: DataFusionError) -> DataFusionError {
    let error = super::name_csv_file_in_inference_error(error);
    if error.to_string().contains("No files found") {
        return DataFusionError::Plan(format!("{function}: no files match '{path}'"));
    }
    error
}

/// The strings read as NULL (`nullstr => 'NA'` or a list), if any were given.
fn null_strings(function: &str, args: &TableFunctionArgs) -> Result<Option<Vec<String>>> {
    match args.get("nullstr").or_else(|| args.get("null")) {
        Some(value) => Ok(Some(string_list(function, value)?)),
        None => Ok(None),
    }
}

/// Arrow's CSV reader has no NULL strings: read every column as text, then turn the NULL
/// strings into NULL and cast each column to the type inferred without them.
fn with_null_strings(
    config: ListingTableConfig,
    schema: &Schema,
    nulls: &[String],
) -> Result<Arc<dyn TableProvider>> {
    let text_fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    let text_table = ListingTable::try_new(config.with_schema(Arc::new(Schema::new(text_fields))))?;
    let null_literals: Vec<Expr> = nulls.iter().map(|n| lit(n.as_str())).collect();
    let columns = schema.fields().iter().map(|f| {
        let column = col(Column::new_unqualified(f.name()));
        when(
            column.clone().in_list(null_literals.clone(), false),
            lit(ScalarValue::try_from(f.data_type())?),
        )
        .otherwise(cast(column, f.data_type().clone()))
        .map(|e| e.alias(f.name()))
    });
    let plan =
        LogicalPlanBuilder::scan("read_csv", provider_as_source(Arc::new(text_table)), None)?
            .project(columns.collect::<Result<Vec<_>>>()?)?
            .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

impl ReadFilesFunc {
    fn format(&self, args: &TableFunctionArgs, paths: &[String]) -> Result<Arc<dyn FileFormat>> {
        let name = self.name();
        let compression = match args.get("compression") {
            Some(value) => compression_from_name(name, &string(name, "compression", value)?)?,
            None => compression_from_paths(paths),
        };
        let sample_size = args
            .get("sample_size")
            .map(|v| positive_integer(name, "sample_size", v))
            .transpose()?;
        Ok(match self.kind {
            FileKind::Parquet => Arc::new(ParquetFormat::default()),
            FileKind::Json => {
                let mut format = JsonFormat::default().with_file_compression_type(compression);
                if let Some(n) = sample_size {
                    format = format.with_schema_infer_max_rec(n);
                }
                Arc::new(format)
            }
            FileKind::Csv => {
                let mut format = CsvFormat::default()
                    .with_file_compression_type(compression)
                    .with_has_header(match args.get("header") {
                        Some(v) => boolean(name, "header", v)?,
                        None => true,
                    });
                if let Some(n) = sample_size {
                    format = format.with_schema_infer_max_rec(n);
                }
                for key in ["delim", "delimiter", "sep"] {
                    if let Some(v) = args.get(key) {
                        format = format.with_delimiter(single_byte(name, key, v)?);
                    }
                }
                if let Some(v) = args.get("quote") {
                    format = format.with_quote(single_byte(name, "quote", v)?);
                }
                if let Some(v) = args.get("escape") {
                    format = format.with_escape(Some(single_byte(name, "escape", v)?));
                }
                if let Some(v) = args.get("comment") {
                    format = format.with_comment(Some(single_byte(name, "comment", v)?));
                }
                if let Some(nulls) = null_strings(name, args)? {
                    format = format.with_null_regex(Some(null_regex(&nulls)));
                }
                Arc::new(format)
            }
        })
    }
}

/// A regular expression matching exactly one of `values`.
fn null_regex(values: &[String]) -> String {
    let escaped: Vec<String> = values.iter().map(|v| escape_regex(v)).collect();
    format!("^(?:{})$", escaped.join("|"))
}

fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A missing file named plainly (not a glob, not a directory of a store that lists) is
/// an error naming it, before DataFusion tries to list it.
fn check_path_exists(path: &str) -> Result<()> {
    let is_glob = path.contains(['*', '?', '[']);
    if remote::is_remote(path) && !is_glob && !path.ends_with('/') {
        return remote::size(path).map(|_| ());
    }
    if path.contains("://") || is_glob || Path::new(path).exists() {
        return Ok(());
    }
    plan_err!("no such file or directory: '{path}'")
}

fn compression_from_name(function: &str, name: &str) -> Result<FileCompressionType> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "none" | "uncompressed" => FileCompressionType::UNCOMPRESSED,
        "gzip" | "gz" => FileCompressionType::GZIP,
        "bzip2" | "bz2" => FileCompressionType::BZIP2,
        "xz" => FileCompressionType::XZ,
        "zstd" | "zst" => FileCompressionType::ZSTD,
        _ => {
            return plan_err!(
                "{function}: unknown compression '{name}' (valid: none, gzip, bzip2, xz, zstd)"
            );
        }
    })
}

/// Compression named by the files' suffix (`.csv.gz`), as DuckDB's `compression = 'auto'`.
fn compression_from_paths(paths: &[String]) -> FileCompressionType {
    let suffixes = [
        (".gz", FileCompressionType::GZIP),
        (".bz2", FileCompressionType::BZIP2),
        (".xz", FileCompressionType::XZ),
        (".zst", FileCompressionType::ZSTD),
    ];
    suffixes
        .into_iter()
        .find(|(suffix, _)| paths.iter().all(|p| p.ends_with(suffix)))
        .map(|(_, c)| c)
        .unwrap_or(FileCompressionType::UNCOMPRESSED)
}

pub(crate) fn string(function: &str, option: &str, value: &ScalarValue) -> Result<String> {
    match value.try_as_str() {
        Some(Some(s)) => Ok(s.to_string()),
        _ => plan_err!("{function}: {option} must be a string, got {value}"),
    }
}

/// A string or a list of strings.
pub(crate) fn string_list(function: &str, value: &ScalarValue) -> Result<Vec<String>> {
    match value {
        ScalarValue::List(list) if list.len() == 1 => {
            let values = list.value(0);
            (0..values.len())
                .map(|i| string(function, "path", &ScalarValue::try_from_array(&values, i)?))
                .collect()
        }
        other => Ok(vec![string(function, "path", other)?]),
    }
}

fn single_byte(function: &str, option: &str, value: &ScalarValue) -> Result<u8> {
    let text = string(function, option, value)?;
    let text = if text == "\\t" {
        "\t".to_string()
    } else {
        text
    };
    match text.as_bytes() {
        [byte] => Ok(*byte),
        _ => plan_err!("{function}: {option} must be a single ASCII character, got '{text}'"),
    }
}

pub(crate) fn boolean(function: &str, option: &str, value: &ScalarValue) -> Result<bool> {
    match value {
        ScalarValue::Boolean(Some(b)) => Ok(*b),
        _ => plan_err!("{function}: {option} must be true or false, got {value}"),
    }
}

fn positive_integer(function: &str, option: &str, value: &ScalarValue) -> Result<usize> {
    match value.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
        Ok(ScalarValue::Int64(Some(n))) if n > 0 => Ok(n as usize),
        _ => plan_err!("{function}: {option} must be a positive integer, got {value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_regex_escapes_and_anchors() {
        let re = null_regex(&["NA".into(), "n/a".into(), "-".into()]);
        assert_eq!(re, "^(?:NA|n/a|\\-)$");
    }

    #[test]
    fn compression_follows_suffix() {
        let gz = compression_from_paths(&["a.csv.gz".into()]);
        assert_eq!(gz, FileCompressionType::GZIP);
        let plain = compression_from_paths(&["a.csv".into()]);
        assert_eq!(plain, FileCompressionType::UNCOMPRESSED);
    }
}
