//! Ways to reach an HDF5 dataset from SQL: `read_hdf5(paths, dataset, enum_labels => true,
//! allow_external => false)` (a file, glob or list of files), `CREATE EXTERNAL TABLE ...
//! STORED AS HDF5 LOCATION 'f*.h5' OPTIONS ('dataset' '/grid/elev')`, and `hdf5_info(path)`.

use std::sync::Arc;

use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::CreateExternalTable;
use quiver_sql::{NamedArgsTableFunction, TableFunctionArgs};

use super::info::hdf5_info_table;
use super::schema::Hdf5Options;
use super::table::Hdf5Table;
use crate::datasource::expand_paths;
use crate::datasource::files::{boolean, string, string_list};
use crate::datasource::netcdf::factory::option_bool;

/// `read_hdf5('file*.h5', '/group/dataset', enum_labels => true, allow_external => false)`.
#[derive(Debug, Default)]
pub struct ReadHdf5Func;

impl NamedArgsTableFunction for ReadHdf5Func {
    fn name(&self) -> &str {
        "read_hdf5"
    }

    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        args.check_names(name, &["dataset", "enum_labels", "allow_external"])?;
        let (paths, mut dataset) = match args.positional.as_slice() {
            [paths] => (string_list(name, paths)?, None),
            [paths, dataset] => (
                string_list(name, paths)?,
                Some(string(name, "dataset", dataset)?),
            ),
            _ => {
                return plan_err!(
                    "{name} takes a file path, glob or list of paths and optionally a dataset path"
                );
            }
        };
        let mut options = Hdf5Options::default();
        if let Some(v) = args.get("dataset") {
            dataset = Some(string(name, "dataset", v)?);
        }
        if let Some(v) = args.get("enum_labels") {
            options.enum_labels = boolean(name, "enum_labels", v)?;
        }
        if let Some(v) = args.get("allow_external") {
            options.allow_external = boolean(name, "allow_external", v)?;
        }
        Ok(Arc::new(Hdf5Table::try_new(
            &expand_paths(name, &paths)?,
            dataset.as_deref(),
            &options,
        )?))
    }
}

/// `hdf5_info('file.h5')`: groups, datasets and attributes, one row each.
#[derive(Debug, Default)]
pub struct Hdf5InfoFunc;

impl NamedArgsTableFunction for Hdf5InfoFunc {
    fn name(&self) -> &str {
        "hdf5_info"
    }

    fn create(&self, args: &TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        args.check_names(name, &[])?;
        let path = match args.positional.as_slice() {
            [path] => string(name, "path", path)?,
            _ => return plan_err!("{name} takes one file path"),
        };
        hdf5_info_table(path.strip_prefix("file://").unwrap_or(&path))
    }
}

/// `CREATE EXTERNAL TABLE t STORED AS HDF5 LOCATION 'f.h5' OPTIONS ('dataset' '/grid/elev')`.
#[derive(Debug, Default)]
pub struct Hdf5TableFactory;

#[async_trait::async_trait]
impl TableProviderFactory for Hdf5TableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let mut options = Hdf5Options::default();
        let mut dataset = None;
        for (key, value) in &cmd.options {
            match key.trim_start_matches("format.") {
                "dataset" => dataset = Some(value.clone()),
                "enum_labels" => options.enum_labels = option_bool("enum_labels", value)?,
                "allow_external" => options.allow_external = option_bool("allow_external", value)?,
                other => {
                    return plan_err!(
                        "unknown hdf5 option \"{other}\" (valid options: dataset, enum_labels, allow_external)"
                    );
                }
            }
        }
        Ok(Arc::new(Hdf5Table::try_new(
            &expand_paths("hdf5 table", &cmd.locations)?,
            dataset.as_deref(),
            &options,
        )?))
    }
}
