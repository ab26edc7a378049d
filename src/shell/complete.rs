//! Tab completion and multi-line input for the interactive shell: SQL keywords, table,
//! column and function names, dot commands; a statement continues until it ends with `;`.

use std::borrow::Cow;

use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::command::{COMMANDS, is_command};
use super::statement_complete;
use crate::Engine;

/// The rustyline helper: completion candidates are refreshed before each prompt.
#[derive(Default)]
pub(crate) struct ShellHelper {
    words: Vec<String>,
}

impl ShellHelper {
    /// Re-reads table, column and function names from the engine.
    pub(crate) async fn refresh(&mut self, engine: &Engine) {
        let mut words: Vec<String> = ALL_KEYWORDS.iter().map(|k| k.to_string()).collect();
        words.extend(
            COMMANDS
                .iter()
                .filter_map(|(usage, _)| usage.split(' ').next())
                .map(str::to_string),
        );
        let state = engine.context().state();
        words.extend(state.scalar_functions().keys().cloned());
        words.extend(state.aggregate_functions().keys().cloned());
        words.extend(state.window_functions().keys().cloned());
        words.extend(state.table_functions().keys().cloned());
        words.extend(["read_csv", "read_parquet", "read_json"].map(str::to_string));
        let sql = "SELECT table_name, column_name FROM information_schema.columns \
                   WHERE table_schema <> 'information_schema'";
        if let Ok(df) = engine.context().sql(sql).await
            && let Ok(batches) = df.collect().await
        {
            for batch in &batches {
                for column in batch.columns() {
                    let formatter = datafusion::arrow::util::display::ArrayFormatter::try_new(
                        column.as_ref(),
                        &Default::default(),
                    );
                    if let Ok(formatter) = formatter {
                        words.extend((0..batch.num_rows()).map(|i| formatter.value(i).to_string()));
                    }
                }
            }
        }
        words.sort_unstable();
        words.dedup();
        self.words = words;
    }

    fn candidates(&self, prefix: &str) -> Vec<Pair> {
        let lower = prefix.to_lowercase();
        let upper_case = prefix.chars().next().is_some_and(char::is_uppercase);
        self.words
            .iter()
            .filter(|w| w.to_lowercase().starts_with(&lower) && w.len() > prefix.len())
            .map(|w| {
                let is_keyword = w.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                let replacement = if is_keyword && !upper_case {
                    w.to_lowercase()
                } else {
                    w.clone()
                };
                Pair {
                    display: w.clone(),
                    replacement,
                }
            })
            .collect()
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '\\'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let prefix = &before[start..];
        if prefix.is_empty() {
            return Ok((pos, Vec::new()));
        }
        Ok((start, self.candidates(prefix)))
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if input.trim().is_empty() || is_command(input) || statement_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_keywords_in_the_users_case() {
        let helper = ShellHelper {
            words: vec!["SELECT".into(), "sum".into(), "titanic".into()],
        };
        let lower: Vec<String> = helper
            .candidates("sel")
            .into_iter()
            .map(|p| p.replacement)
            .collect();
        assert_eq!(lower, ["select"]);
        let upper: Vec<String> = helper
            .candidates("SEL")
            .into_iter()
            .map(|p| p.replacement)
            .collect();
        assert_eq!(upper, ["SELECT"]);
        let table: Vec<String> = helper
            .candidates("tit")
            .into_iter()
            .map(|p| p.replacement)
            .collect();
        assert_eq!(table, ["titanic"]);
    }
}
