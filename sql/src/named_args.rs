//! Named arguments may skip optional parameters: `curve_fit('power', x, y, bounds => b)`.
//!
//! DataFusion resolves `f(a, c => 1)` only when every parameter before `c` is given, and
//! otherwise fails with "Missing required parameter 'b'". Before planning, such calls get
//! each skipped parameter as `name => NULL`; quiver's functions read a NULL optional
//! argument as "not given". Calls with only positional arguments, calls of functions
//! without parameter names and calls naming an unknown parameter are left alone (the
//! last fail in DataFusion with a message listing the valid names).

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgOperator, FunctionArguments, Ident,
    Value, visit_expressions_mut,
};

/// Adds `name => NULL` for the optional parameters that named arguments skip, in every
/// function call of `statement`. `params` gives a function's parameter names (by its
/// lower-case name), or `None` for functions without them.
pub fn fill_skipped_arguments(
    statement: &mut DFStatement,
    params: &dyn Fn(&str) -> Option<Vec<String>>,
) {
    let mut visit = |expr: &mut Expr| {
        if let Expr::Function(function) = expr {
            fill_call(function, params);
        }
        ControlFlow::<()>::Continue(())
    };
    let _ = match statement {
        DFStatement::Statement(s) => visit_expressions_mut(s.as_mut(), &mut visit),
        DFStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(q) => visit_expressions_mut(q.as_mut(), &mut visit),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        DFStatement::Explain(explain) => {
            fill_skipped_arguments(explain.statement.as_mut(), params);
            ControlFlow::Continue(())
        }
        DFStatement::CreateExternalTable(_) | DFStatement::Reset(_) => ControlFlow::Continue(()),
    };
}

fn fill_call(function: &mut Function, params: &dyn Fn(&str) -> Option<Vec<String>>) {
    let FunctionArguments::List(list) = &mut function.args else {
        return;
    };
    let named: Vec<&Ident> = list
        .args
        .iter()
        .filter_map(|a| match a {
            FunctionArg::Named { name, .. } => Some(name),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        return;
    }
    let Some(ident) = function.name.0.last().and_then(|p| p.as_ident()) else {
        return;
    };
    let name = match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    };
    let Some(names) = params(&name) else {
        return;
    };
    let position = |arg: &Ident| {
        names.iter().position(|p| match arg.quote_style {
            Some(_) => *p == arg.value,
            None => p.eq_ignore_ascii_case(&arg.value),
        })
    };
    let positions: Option<Vec<usize>> = named.iter().map(|n| position(n)).collect();
    let Some(positions) = positions else {
        return;
    };
    let positional = list.args.len() - named.len();
    let last = positions.iter().copied().max().unwrap_or(0);
    let missing: Vec<usize> = (positional..last)
        .filter(|i| !positions.contains(i))
        .collect();
    for i in missing {
        list.args.push(FunctionArg::Named {
            name: Ident::new(names[i].clone()),
            arg: FunctionArgExpr::Expr(Expr::Value(Value::Null.into())),
            operator: FunctionArgOperator::RightArrow,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn filled(sql: &str) -> String {
        let mut statements = DFParser::parse_sql(sql).unwrap_or_else(|e| panic!("{e}"));
        let params = |name: &str| {
            (name == "f").then(|| vec!["a".to_string(), "b".into(), "c".into(), "d".into()])
        };
        let mut out = Vec::new();
        for s in statements.iter_mut() {
            fill_skipped_arguments(s, &params);
            out.push(s.to_string());
        }
        out.join("; ")
    }

    #[test]
    fn fills_skipped_optional_parameters() {
        assert_eq!(
            filled("SELECT f(1, d => 4)"),
            "SELECT f(1, d => 4, b => NULL, c => NULL)"
        );
        assert_eq!(filled("SELECT F(1, 2, C => 3)"), "SELECT F(1, 2, C => 3)");
        assert_eq!(filled("SELECT f(1, 2)"), "SELECT f(1, 2)");
        assert_eq!(filled("SELECT g(1, d => 4)"), "SELECT g(1, d => 4)");
        assert_eq!(filled("SELECT f(1, zz => 4)"), "SELECT f(1, zz => 4)");
        assert_eq!(
            filled("SELECT x FROM t WHERE f(1, c => f(2, d => 1)) > 0"),
            "SELECT x FROM t WHERE f(1, c => f(2, d => 1, b => NULL, c => NULL), b => NULL) > 0"
        );
    }
}
