//! Output modes of the shell: how query results are written (table, csv, json, jsonl,
//! markdown, line), with a row limit for the table view and a configurable NULL text.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::{DataFusionError, Result};

use crate::error::Error;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// A boxed table (the interactive default).
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// A Markdown table.
    Markdown,
    /// One `column = value` line per column, rows separated by blank lines.
    Line,
}

impl OutputMode {
    /// Every mode's name, for help texts and error messages.
    pub const NAMES: &'static str = "table, csv, json, jsonl, markdown, line";

    /// Parses a mode name.
    pub fn parse(option: &str, name: &str) -> crate::Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "table" | "box" | "duckbox" => Self::Table,
            "csv" => Self::Csv,
            "json" => Self::Json,
            "jsonl" | "ndjson" => Self::Jsonl,
            "markdown" | "md" => Self::Markdown,
            "line" => Self::Line,
            _ => {
                return Err(Error::InvalidOption {
                    option: option.to_string(),
                    value: name.to_string(),
                    reason: format!("valid modes: {}", Self::NAMES),
                });
            }
        })
    }
}

/// Writes query results in one [`OutputMode`].
#[derive(Debug, Clone)]
pub struct Printer {
    /// The output mode.
    pub mode: OutputMode,
    /// The most rows the table mode shows (first and last half); 0 shows all.
    pub max_rows: usize,
    /// Text shown for NULL; `None` means `NULL` in table views and empty in CSV.
    pub null_text: Option<String>,
}

impl Printer {
    /// Writes `batches` (with `schema`) to `out`.
    pub fn print(
        &self,
        out: &mut dyn Write,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<()> {
        let result = match self.mode {
            OutputMode::Table => self.table(out, schema, batches),
            OutputMode::Csv => self.csv(out, batches, schema),
            OutputMode::Json => json(out, batches, false),
            OutputMode::Jsonl => json(out, batches, true),
            OutputMode::Markdown => self.markdown(out, schema, batches),
            OutputMode::Line => self.line(out, schema, batches),
        };
        result?;
        out.flush().map_err(DataFusionError::from)
    }

    fn null(&self, default: &str) -> String {
        self.null_text
            .clone()
            .unwrap_or_else(|| default.to_string())
    }

    /// Every row as display strings, or only the first and last rows of the table view.
    fn cells(&self, batches: &[RecordBatch], limit: usize) -> Result<(Vec<Vec<String>>, usize)> {
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        let null = self.null("NULL");
        let options = FormatOptions::default().with_null(&null);
        let keep = |row: usize| {
            limit == 0 || total <= limit || row < limit.div_ceil(2) || row >= total - limit / 2
        };
        let mut rows = Vec::new();
        let mut offset = 0;
        for batch in batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            for row in 0..batch.num_rows() {
                if keep(offset + row) {
                    rows.push(
                        formatters
                            .iter()
                            .map(|f| f.value(row).to_string())
                            .collect(),
                    );
                }
            }
            offset += batch.num_rows();
        }
        Ok((rows, total))
    }

    fn table(
        &self,
        out: &mut dyn Write,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<()> {
        let (rows, total) = self.cells(batches, self.max_rows)?;
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(schema.fields().iter().map(|f| f.name().clone()));
        let shown = rows.len();
        let head = if shown < total {
            self.max_rows.div_ceil(2)
        } else {
            shown
        };
        for (i, row) in rows.into_iter().enumerate() {
            if i == head {
                table.add_row(schema.fields().iter().map(|_| "…".to_string()));
            }
            table.add_row(row);
        }
        writeln!(out, "{table}")?;
        if shown < total {
            writeln!(out, "{total} rows ({shown} shown; .maxrows N to change)")?;
        }
        Ok(())
    }

    fn markdown(
        &self,
        out: &mut dyn Write,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<()> {
        let (rows, _) = self.cells(batches, 0)?;
        let escape = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let names: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
        writeln!(out, "| {} |", names.join(" | "))?;
        writeln!(out, "|{}", "---|".repeat(names.len()))?;
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
        Ok(())
    }

    fn line(&self, out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
        let (rows, _) = self.cells(batches, 0)?;
        let width = schema
            .fields()
            .iter()
            .map(|f| f.name().chars().count())
            .max()
            .unwrap_or(0);
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            for (field, value) in schema.fields().iter().zip(row) {
                writeln!(out, "{:>width$} = {value}", field.name())?;
            }
        }
        Ok(())
    }

    fn csv(&self, out: &mut dyn Write, batches: &[RecordBatch], schema: &SchemaRef) -> Result<()> {
        let mut writer = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .with_null(self.null(""))
            .build(&mut *out);
        if batches.iter().all(|b| b.num_rows() == 0) {
            writer.write(&RecordBatch::new_empty(schema.clone()))?;
        }
        for batch in batches {
            writer.write(batch)?;
        }
        Ok(())
    }
}

fn json(out: &mut dyn Write, batches: &[RecordBatch], lines: bool) -> Result<()> {
    use datafusion::arrow::json::writer::{JsonArray, JsonFormat, LineDelimited, WriterBuilder};
    fn write_all<F: JsonFormat>(out: &mut dyn Write, batches: &[RecordBatch]) -> Result<()> {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, F>(&mut *out);
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish()?;
        Ok(())
    }
    if lines {
        write_all::<LineDelimited>(out, batches)
    } else {
        write_all::<JsonArray>(out, batches)?;
        writeln!(out)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn sample() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![Some("a|b"), Some("x"), None])),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    fn render(mode: OutputMode, max_rows: usize, null_text: Option<&str>) -> String {
        let (schema, batches) = sample();
        let printer = Printer {
            mode,
            max_rows,
            null_text: null_text.map(str::to_string),
        };
        let mut out = Vec::new();
        printer.print(&mut out, &schema, &batches).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_has_header_and_empty_nulls() {
        assert_eq!(render(OutputMode::Csv, 0, None), "n,s\n1,a|b\n,x\n3,\n");
        assert_eq!(
            render(OutputMode::Csv, 0, Some("NA")),
            "n,s\n1,a|b\nNA,x\n3,NA\n"
        );
    }

    #[test]
    fn markdown_escapes_pipes() {
        let md = render(OutputMode::Markdown, 0, None);
        assert_eq!(
            md,
            "| n | s |\n|---|---|\n| 1 | a\\|b |\n| NULL | x |\n| 3 | NULL |\n"
        );
    }

    #[test]
    fn line_mode_aligns_names() {
        let text = render(OutputMode::Line, 0, None);
        assert!(text.starts_with("n = 1\ns = a|b\n\nn = NULL\n"), "{text}");
    }

    #[test]
    fn jsonl_and_json() {
        let jsonl = render(OutputMode::Jsonl, 0, None);
        assert_eq!(jsonl.lines().next().unwrap(), r#"{"n":1,"s":"a|b"}"#);
        assert_eq!(jsonl.lines().nth(1).unwrap(), r#"{"n":null,"s":"x"}"#);
        let json = render(OutputMode::Json, 0, None);
        assert!(json.starts_with("[{\"n\":1"), "{json}");
    }

    #[test]
    fn table_truncates_middle_rows() {
        let text = render(OutputMode::Table, 2, None);
        assert!(text.contains('…'), "{text}");
        assert!(text.contains("3 rows (2 shown"), "{text}");
        assert!(!text.contains(" x "), "{text}");
        let full = render(OutputMode::Table, 0, None);
        assert!(full.contains(" x "), "{full}");
    }

    #[test]
    fn unknown_mode_lists_valid_ones() {
        let err = OutputMode::parse(".mode", "xml").unwrap_err().to_string();
        assert!(err.contains("table, csv, json"), "{err}");
    }
}
