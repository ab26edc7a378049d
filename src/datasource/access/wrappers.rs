//! The entry points of file paths, wrapped: table functions (`read_csv('x.csv')`), table
//! factories (`CREATE EXTERNAL TABLE ... LOCATION`) and URL tables (`FROM 'x.csv'`) check
//! their paths with [`FileAccess`] and hand the wrapped reader absolute paths (relative ones
//! resolve against the data root, not the current directory).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory, UrlTableFactory};
use datafusion::error::Result;
use datafusion::logical_expr::CreateExternalTable;
use datafusion::scalar::ScalarValue;
use quiver_sql::{NamedArgsTableFunction, TableFunctionArgs};

use super::{FileAccess, denied};
use crate::datasource::files::string_list;

/// HDF5's option to follow external links and external storage into other files, which
/// could name any file; refused under a data root.
const ALLOW_EXTERNAL: &str = "allow_external";

/// A table function whose first argument (a path, glob or list of them) is checked first
/// and handed on as absolute paths. Every table function the engine registers is a file
/// function of that shape; one that is not must be registered without this wrapper.
#[derive(Debug)]
pub(crate) struct ConfinedTableFunction {
    inner: Arc<dyn NamedArgsTableFunction>,
    access: Arc<FileAccess>,
}

impl ConfinedTableFunction {
    pub(crate) fn new(inner: Arc<dyn NamedArgsTableFunction>, access: Arc<FileAccess>) -> Self {
        ConfinedTableFunction { inner, access }
    }
}

impl NamedArgsTableFunction for ConfinedTableFunction {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        if let Some(ScalarValue::Boolean(Some(true))) = args.get(ALLOW_EXTERNAL) {
            return Err(external_refused());
        }
        let Some(first) = args.positional.first() else {
            return self.inner.create(args);
        };
        let paths = string_list(name, first)?
            .iter()
            .map(|path| self.access.resolve_read(path))
            .collect::<Result<Vec<String>>>()?;
        let mut resolved = args.clone();
        resolved.positional[0] = match first {
            ScalarValue::List(_) => {
                let values: Vec<ScalarValue> = paths
                    .into_iter()
                    .map(|p| ScalarValue::Utf8(Some(p)))
                    .collect();
                ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Utf8))
            }
            _ => ScalarValue::Utf8(paths.into_iter().next()),
        };
        self.inner.create(&resolved)
    }
}

/// A `CREATE EXTERNAL TABLE` factory whose locations are checked first.
#[derive(Debug)]
pub(crate) struct ConfinedTableFactory {
    inner: Arc<dyn TableProviderFactory>,
    access: Arc<FileAccess>,
}

impl ConfinedTableFactory {
    pub(crate) fn new(inner: Arc<dyn TableProviderFactory>, access: Arc<FileAccess>) -> Self {
        ConfinedTableFactory { inner, access }
    }
}

#[async_trait::async_trait]
impl TableProviderFactory for ConfinedTableFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let mut resolved = cmd.clone();
        resolved.locations = cmd
            .locations
            .iter()
            .map(|location| self.access.resolve_read(location))
            .collect::<Result<_>>()?;
        let external = cmd.options.iter().any(|(key, value)| {
            key.trim_start_matches("format.") == ALLOW_EXTERNAL
                && value.eq_ignore_ascii_case("true")
        });
        if external {
            return Err(external_refused());
        }
        self.inner.create(state, &resolved).await
    }
}

/// `FROM 'path'` tables whose path is checked first.
#[derive(Debug)]
pub(crate) struct ConfinedUrlTables {
    inner: Arc<dyn UrlTableFactory>,
    access: Arc<FileAccess>,
}

impl ConfinedUrlTables {
    pub(crate) fn new(inner: Arc<dyn UrlTableFactory>, access: Arc<FileAccess>) -> Self {
        ConfinedUrlTables { inner, access }
    }
}

#[async_trait::async_trait]
impl UrlTableFactory for ConfinedUrlTables {
    async fn try_new(&self, url: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let url = self.access.resolve_read(url)?;
        self.inner.try_new(&url).await
    }
}

fn external_refused() -> datafusion::error::DataFusionError {
    denied(format!(
        "{ALLOW_EXTERNAL} is not allowed under a data root (external files could lie outside it)"
    ))
}
