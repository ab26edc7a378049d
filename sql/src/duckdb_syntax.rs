//! DuckDB's reshaping statements, rewritten into standard SQL before parsing.
//!
//! DataFusion's parser knows `FROM t PIVOT (...)` and `FROM t UNPIVOT (...)`, but not
//! DuckDB's statement forms. [`rewrite_duckdb_statements`] finds them in SQL text — at the
//! start of a statement, after `(` (subqueries, CTEs) and after `AS` (views, prepared
//! statements) — parses them with sqlparser's own parser and replaces each by the
//! equivalent standard query:
//!
//! | DuckDB form | becomes |
//! |---|---|
//! | `PIVOT t ON c [IN (...)] [USING agg [AS a], ...] [GROUP BY k] [ORDER BY] [LIMIT]` | `SELECT * FROM t PIVOT (agg FOR c IN (... \| ANY)) ...` (with GROUP BY: over `(SELECT k, <used columns> FROM t)`) |
//! | `UNPIVOT [INCLUDE NULLS] t ON cols INTO NAME n VALUE v, ...` | `SELECT * FROM t UNPIVOT [INCLUDE NULLS] (v FOR n IN (cols))` |
//! | `SUMMARIZE t` / `SUMMARIZE SELECT ...` | `SELECT * FROM summarize((SELECT * FROM t))` |
//!
//! `PIVOT_WIDER` and `PIVOT_LONGER` are aliases. Text without these words is returned
//! unchanged, without tokenizing.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::sql::sqlparser::ast::{Expr, ExprWithAlias, TableFactor, visit_expressions};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

const STATEMENT_WORDS: [&str; 5] = [
    "PIVOT",
    "PIVOT_WIDER",
    "UNPIVOT",
    "PIVOT_LONGER",
    "SUMMARIZE",
];

/// Rewrites DuckDB's `PIVOT`, `UNPIVOT` and `SUMMARIZE` statements in `sql` into standard
/// SQL that quiver's planners handle; see the module docs.
pub fn rewrite_duckdb_statements<'a>(sql: &'a str, dialect: &dyn Dialect) -> Result<Cow<'a, str>> {
    let upper = sql.to_ascii_uppercase();
    if !["PIVOT", "SUMMARIZE"].iter().any(|w| upper.contains(w)) {
        return Ok(Cow::Borrowed(sql));
    }
    // A text that does not tokenize is left to the real parser, which reports it.
    let Ok(mut tokens) = Tokenizer::new(dialect, sql).tokenize_with_location() else {
        return Ok(Cow::Borrowed(sql));
    };
    let mut candidates = Vec::new();
    let mut previous: Option<&Token> = None;
    for (index, token) in tokens.iter().enumerate() {
        if matches!(token.token, Token::Whitespace(_)) {
            continue;
        }
        if let Token::Word(word) = &token.token {
            let upper = word.value.to_ascii_uppercase();
            if word.quote_style.is_none() && STATEMENT_WORDS.contains(&upper.as_str()) {
                let at_start = matches!(previous, None | Some(Token::SemiColon));
                let after_open = match previous {
                    Some(Token::LParen) => true,
                    Some(Token::Word(w)) => w.keyword == Keyword::AS,
                    _ => false,
                };
                if at_start || after_open {
                    candidates.push((index, upper, at_start));
                }
            }
        }
        previous = Some(&token.token);
    }
    let mut changed = false;
    // Last first: a nested statement is rewritten before the one around it, and earlier
    // token positions stay valid.
    for (index, word, at_start) in candidates.into_iter().rev() {
        match rewrite_at(&tokens, index, &word, dialect) {
            Ok((end, text)) => {
                let replacement = Tokenizer::new(dialect, &text)
                    .tokenize_with_location()
                    .map_err(|e| DataFusionError::SQL(Box::new(e.into()), None))?;
                tokens.splice(index..end, replacement);
                changed = true;
            }
            Err(e) if at_start => return Err(e),
            Err(_) => {}
        }
    }
    if !changed {
        return Ok(Cow::Borrowed(sql));
    }
    Ok(Cow::Owned(
        tokens.iter().map(|t| t.token.to_string()).collect(),
    ))
}

fn parser_error(e: ParserError) -> DataFusionError {
    DataFusionError::SQL(Box::new(e), None)
}

/// Parses the statement starting with `word` at `tokens[index]`; returns the index just
/// past it and the standard SQL that replaces it.
fn rewrite_at(
    tokens: &[TokenWithSpan],
    index: usize,
    word: &str,
    dialect: &dyn Dialect,
) -> Result<(usize, String)> {
    let rest = tokens.get(index + 1..).unwrap_or_default().to_vec();
    let mut parser = Parser::new(dialect).with_tokens_with_locations(rest);
    let text = match word {
        "PIVOT" | "PIVOT_WIDER" => pivot(&mut parser, word)?,
        "UNPIVOT" | "PIVOT_LONGER" => unpivot(&mut parser, word)?,
        _ => summarize(&mut parser)?,
    };
    match parser.peek_token().token {
        Token::EOF | Token::SemiColon | Token::RParen => {}
        other => {
            return plan_err!(
                "{word}: unexpected {other} after the statement (expected ;, ) or the end)"
            );
        }
    }
    Ok((index + 1 + parser.index(), text))
}

fn order_and_limit(parser: &mut Parser<'_>) -> Result<String> {
    let mut text = String::new();
    if parser.parse_keywords(&[Keyword::ORDER, Keyword::BY]) {
        let items = parser
            .parse_comma_separated(Parser::parse_order_by_expr)
            .map_err(parser_error)?;
        text.push_str(&format!(" ORDER BY {}", join(&items)));
    }
    if parser.parse_keyword(Keyword::LIMIT) {
        let limit = parser.parse_expr().map_err(parser_error)?;
        text.push_str(&format!(" LIMIT {limit}"));
    }
    Ok(text)
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn with_alias(item: &ExprWithAlias) -> String {
    match &item.alias {
        Some(alias) => format!("{} AS {alias}", item.expr),
        None => item.expr.to_string(),
    }
}

fn dataset(parser: &mut Parser<'_>, word: &str) -> Result<TableFactor> {
    if matches!(parser.peek_token().token, Token::EOF | Token::SemiColon) {
        return plan_err!("{word}: expected a table name or a (query) after {word}");
    }
    parser.parse_table_factor().map_err(parser_error)
}

/// `PIVOT t ON c [IN (...)], ... [USING agg [AS a], ...] [GROUP BY k, ...] [ORDER BY] [LIMIT]`.
fn pivot(parser: &mut Parser<'_>, word: &str) -> Result<String> {
    let table = dataset(parser, word)?;
    if !parser.parse_keyword(Keyword::ON) {
        return plan_err!("{word}: expected ON <columns>, as in PIVOT t ON col USING sum(x)");
    }
    let mut on = Vec::new();
    let mut lists = Vec::new();
    for expr in parser
        .parse_comma_separated(Parser::parse_expr)
        .map_err(parser_error)?
    {
        match expr {
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                on.push(*expr);
                lists.push(Some(list));
            }
            expr => {
                on.push(expr);
                lists.push(None);
            }
        }
    }
    let using = if parser.parse_keyword(Keyword::USING) {
        parser
            .parse_comma_separated(Parser::parse_expr_with_alias)
            .map_err(parser_error)?
    } else {
        Vec::new()
    };
    let group_by = if parser.parse_keywords(&[Keyword::GROUP, Keyword::BY]) {
        parser
            .parse_comma_separated(Parser::parse_expr)
            .map_err(parser_error)?
    } else {
        Vec::new()
    };
    let tail = order_and_limit(parser)?;

    let values = if lists.iter().all(Option::is_some) {
        let mut rows: Vec<Vec<String>> = vec![Vec::new()];
        for list in lists.iter().flatten() {
            rows = rows
                .iter()
                .flat_map(|row| {
                    list.iter().map(move |value| {
                        let mut row = row.clone();
                        row.push(value.to_string());
                        row
                    })
                })
                .collect();
        }
        rows.iter()
            .map(|row| match row.as_slice() {
                [one] => one.clone(),
                many => format!("({})", many.join(", ")),
            })
            .collect::<Vec<_>>()
            .join(", ")
    } else if lists.iter().all(Option::is_none) {
        "ANY".to_string()
    } else {
        return plan_err!("{word}: give an IN (...) list for every ON column or for none");
    };
    // Parenthesised: the standard form parses a bare FOR expression only up to comparisons.
    let on_sql = format!("({})", join(&on));
    for item in &using {
        if !matches!(item.expr, Expr::Function(_)) {
            return plan_err!(
                "pivot: {} is not an aggregate function call; use one such as sum(x), avg(x), first(x) or count(*)",
                item.expr
            );
        }
    }
    let aggregates = if using.is_empty() {
        "count(*)".to_string()
    } else {
        using.iter().map(with_alias).collect::<Vec<_>>().join(", ")
    };
    let source = if group_by.is_empty() {
        table.to_string()
    } else {
        let mut items: Vec<String> = group_by.iter().map(ToString::to_string).collect();
        let mut seen: BTreeSet<String> = items.iter().cloned().collect();
        for expr in on.iter().chain(using.iter().map(|u| &u.expr)) {
            let _ = visit_expressions(expr, |e| {
                if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                    let text = e.to_string();
                    if seen.insert(text.clone()) {
                        items.push(text);
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
        format!(
            "(SELECT {} FROM {table}) AS __quiver_pivot_source",
            items.join(", ")
        )
    };
    Ok(format!(
        "SELECT * FROM {source} PIVOT ({aggregates} FOR {on_sql} IN ({values})){tail}"
    ))
}

/// `UNPIVOT [INCLUDE NULLS] t ON cols INTO NAME n VALUE v, ... [ORDER BY] [LIMIT]`.
fn unpivot(parser: &mut Parser<'_>, word: &str) -> Result<String> {
    let include_nulls = parser.parse_keywords(&[Keyword::INCLUDE, Keyword::NULLS]);
    let table = dataset(parser, word)?;
    let expect = |parser: &mut Parser<'_>, keywords: &[Keyword]| -> Result<()> {
        if parser.parse_keywords(keywords) {
            Ok(())
        } else {
            plan_err!(
                "{word}: expected {}, as in UNPIVOT t ON a, b INTO NAME name VALUE value",
                keywords
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    };
    expect(parser, &[Keyword::ON])?;
    let columns = parser
        .parse_comma_separated(Parser::parse_expr_with_alias)
        .map_err(parser_error)?;
    expect(parser, &[Keyword::INTO, Keyword::NAME])?;
    let name = parser.parse_identifier().map_err(parser_error)?;
    expect(parser, &[Keyword::VALUE])?;
    let values = parser
        .parse_comma_separated(|p| p.parse_identifier())
        .map_err(parser_error)?;
    let tail = order_and_limit(parser)?;
    let value = match values.as_slice() {
        [one] => one.to_string(),
        many => format!("({})", join(many)),
    };
    let nulls = if include_nulls { " INCLUDE NULLS" } else { "" };
    Ok(format!(
        "SELECT * FROM {table} UNPIVOT{nulls} ({value} FOR {name} IN ({})){tail}",
        columns
            .iter()
            .map(with_alias)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `SUMMARIZE t`, `SUMMARIZE 'file.csv'`, `SUMMARIZE SELECT ...`, `SUMMARIZE (SELECT ...)`.
fn summarize(parser: &mut Parser<'_>) -> Result<String> {
    let is_query = match parser.peek_token().token {
        Token::Word(w) => matches!(w.keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES),
        _ => false,
    };
    let input = if is_query {
        format!("({})", parser.parse_query().map_err(parser_error)?)
    } else {
        match dataset(parser, "SUMMARIZE")? {
            TableFactor::Table {
                name,
                args: None,
                alias: None,
                ..
            } => format!("(SELECT * FROM {name})"),
            TableFactor::Derived {
                subquery,
                alias: None,
                ..
            } => format!("({subquery})"),
            other => {
                return plan_err!(
                    "SUMMARIZE: expected a table name, a quoted file name or a query, not {other}"
                );
            }
        }
    };
    Ok(format!("SELECT * FROM summarize({input})"))
}
