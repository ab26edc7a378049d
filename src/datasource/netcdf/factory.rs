//! Ways to reach a NetCDF table from SQL: the `read_netcdf(paths, variables => [...],
//! decode_cf => true, nearest => 'lat=59.3')` table function, `CREATE EXTERNAL TABLE ... STORED AS NETCDF`, and
//! file names ending in `.nc` in `FROM` (wrapping DataFusion's dynamic file catalog).

use std::sync::Arc;

use datafusion::catalog::{Session, TableProvider, TableProviderFactory, UrlTableFactory};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::CreateExternalTable;
use quiver_sql::{NamedArgsTableFunction, TableFunctionArgs};

use super::info::netcdf_info_table;
use super::schema::NetCdfOptions;
use super::table::NetCdfTable;
use crate::datasource::expand_paths;
use crate::datasource::files::{boolean, string, string_list};
use crate::datasource::hdf5::{Hdf5Options, Hdf5Table};

/// File name suffixes read as NetCDF in `FROM '...'`.
const SUFFIXES: [&str; 3] = [".nc", ".nc4", ".netcdf"];

/// File name suffixes read as HDF5 in `FROM '...'` (a file with a single dataset).
const HDF5_SUFFIXES: [&str; 3] = [".h5", ".hdf5", ".he5"];

/// `read_netcdf(paths, variables => [...], decode_cf => true)`.
#[derive(Debug, Default)]
pub struct ReadNetCdfFunc;

impl NamedArgsTableFunction for ReadNetCdfFunc {
    fn name(&self) -> &str {
        "read_netcdf"
    }

    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        args.check_names(
            name,
            &[
                "variables",
                "decode_cf",
                "decode_times",
                "group",
                "filename",
                "nearest",
            ],
        )?;
        let paths = match args.positional.as_slice() {
            [paths] => string_list(name, paths)?,
            _ => return plan_err!("{name} takes one path, glob or list of paths, then options"),
        };
        let mut options = NetCdfOptions::default();
        if let Some(v) = args.get("variables") {
            options.variables = string_list(name, v)?;
        }
        if let Some(v) = args.get("decode_cf") {
            options.decode_cf = boolean(name, "decode_cf", v)?;
        }
        if let Some(v) = args.get("decode_times") {
            options.decode_times = Some(boolean(name, "decode_times", v)?);
        }
        if let Some(v) = args.get("group") {
            options.group = string(name, "group", v)?;
        }
        if let Some(v) = args.get("filename") {
            options.filename = boolean(name, "filename", v)?;
        }
        if let Some(v) = args.get("nearest") {
            options.nearest = super::nearest::parse(&string(name, "nearest", v)?)?;
        }
        Ok(Arc::new(NetCdfTable::try_new(
            &expand_paths("read_netcdf", &paths)?,
            &options,
        )?))
    }
}

/// `netcdf_info('file.nc')`: groups, dimensions, variables and attributes, one row each.
#[derive(Debug, Default)]
pub struct NetCdfInfoFunc;

impl NamedArgsTableFunction for NetCdfInfoFunc {
    fn name(&self) -> &str {
        "netcdf_info"
    }

    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        args.check_names(name, &[])?;
        let path = match args.positional.as_slice() {
            [path] => string(name, "path", path)?,
            _ => return plan_err!("{name} takes one file path"),
        };
        let paths = expand_paths(name, &[path])?;
        let [path] = paths.as_slice() else {
            return plan_err!("{name} takes one file, not a glob of {}", paths.len());
        };
        netcdf_info_table(path)
    }
}

/// `CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION 'tas*.nc' OPTIONS ('variables' 'tas')`.
#[derive(Debug, Default)]
pub struct NetCdfTableFactory;

#[async_trait::async_trait]
impl TableProviderFactory for NetCdfTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let mut options = NetCdfOptions::default();
        for (key, value) in &cmd.options {
            match key.trim_start_matches("format.") {
                "variables" => {
                    options.variables = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
                "decode_cf" => options.decode_cf = option_bool("decode_cf", value)?,
                "decode_times" => options.decode_times = Some(option_bool("decode_times", value)?),
                "filename" => options.filename = option_bool("filename", value)?,
                "group" => options.group = value.clone(),
                "nearest" => options.nearest = super::nearest::parse(value)?,
                other => {
                    return plan_err!(
                        "unknown netcdf option \"{other}\" (valid options: variables, decode_cf, decode_times, group, filename, nearest)"
                    );
                }
            }
        }
        let paths = expand_paths("netcdf table", &cmd.locations)?;
        Ok(Arc::new(NetCdfTable::try_new(&paths, &options)?))
    }
}

/// A `true`/`false` option of `CREATE EXTERNAL TABLE`.
pub(crate) fn option_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => plan_err!("option {key} must be true or false, got '{value}'"),
    }
}

/// Resolves `FROM 'path.nc'` (and globs of them) to a [`NetCdfTable`]; every other name goes
/// to the wrapped factory (DataFusion's `DynamicListTableFactory`).
#[derive(Debug)]
pub struct NetCdfUrlTableFactory {
    inner: Arc<dyn UrlTableFactory>,
}

impl NetCdfUrlTableFactory {
    /// Wraps `inner`, which handles every non-NetCDF name.
    pub fn new(inner: Arc<dyn UrlTableFactory>) -> Self {
        Self { inner }
    }
}

#[async_trait::async_trait]
impl UrlTableFactory for NetCdfUrlTableFactory {
    async fn try_new(&self, url: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let lower = url.to_ascii_lowercase();
        if HDF5_SUFFIXES.iter().any(|s| lower.ends_with(s)) {
            let url = url.to_string();
            let table = tokio::task::spawn_blocking(move || {
                let paths = expand_paths("hdf5", &[url])?;
                Hdf5Table::try_new(&paths, None, &Hdf5Options::default())
            })
            .await
            .map_err(|e| {
                datafusion::error::DataFusionError::Execution(format!("hdf5 open task failed: {e}"))
            })??;
            return Ok(Some(Arc::new(table)));
        }
        if !SUFFIXES.iter().any(|s| lower.ends_with(s)) {
            return self.inner.try_new(url).await;
        }
        let url = url.to_string();
        let table = tokio::task::spawn_blocking(move || {
            let paths = expand_paths("netcdf", &[url])?;
            NetCdfTable::try_new(&paths, &NetCdfOptions::default())
        })
        .await
        .map_err(|e| {
            datafusion::error::DataFusionError::Execution(format!("netcdf open task failed: {e}"))
        })??;
        Ok(Some(Arc::new(table)))
    }
}
