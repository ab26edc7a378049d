//! `hdf5_info(path)`: one row per group, dataset and attribute of an HDF5 file.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use hdf5_reader::group::Group;
use hdf5_reader::messages::HdfMessage;
use hdf5_reader::{Attribute, Hdf5File};

use super::schema::{attribute_text, guarded, open_file, type_name};

/// The columns of `netcdf_info` and `hdf5_info`.
pub(crate) fn info_schema() -> SchemaRef {
    Arc::new(Schema::new(
        ["kind", "group", "name", "type", "shape", "details"]
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// Rows of an info table.
#[derive(Default)]
pub(crate) struct InfoRows {
    rows: Vec<[Option<String>; 6]>,
}

impl InfoRows {
    pub(crate) fn push(
        &mut self,
        kind: &str,
        group: &str,
        name: &str,
        ty: Option<String>,
        shape: Option<String>,
        details: Option<String>,
    ) {
        let group = if group.is_empty() { "/" } else { group };
        self.rows.push([
            Some(kind.to_string()),
            Some(group.to_string()),
            Some(name.to_string()),
            ty,
            shape,
            details,
        ]);
    }

    pub(crate) fn into_table(self) -> Result<Arc<dyn TableProvider>> {
        let schema = info_schema();
        let columns = (0..6)
            .map(|k| {
                Arc::new(StringArray::from(
                    self.rows.iter().map(|r| r[k].clone()).collect::<Vec<_>>(),
                )) as _
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

/// `[2, 3, 4]` as `2x3x4` (`scalar` for none).
pub(crate) fn shape_text(shape: &[u64]) -> String {
    if shape.is_empty() {
        return "scalar".into();
    }
    shape
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn attribute_rows(rows: &mut InfoRows, group: &str, owner: &str, attrs: &[Attribute]) {
    for a in attrs {
        if matches!(a.name.as_str(), "DIMENSION_LIST" | "REFERENCE_LIST") {
            continue;
        }
        let name = if owner.is_empty() {
            a.name.clone()
        } else {
            format!("{owner}@{}", a.name)
        };
        rows.push(
            "attribute",
            group,
            &name,
            Some(type_name(&a.datatype)),
            Some(shape_text(&a.shape)),
            attribute_text(a),
        );
    }
}

fn walk(
    file: &Hdf5File,
    g: &Group,
    prefix: &str,
    rows: &mut InfoRows,
) -> hdf5_reader::error::Result<()> {
    attribute_rows(rows, prefix, "", &g.attributes()?);
    let (groups, datasets) = g.member_names()?;
    for name in datasets {
        let ds = g.dataset(&name)?;
        let mut details = Vec::new();
        if let Some(chunks) = ds.chunks() {
            details.push(format!(
                "chunks={}",
                chunks
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join("x")
            ));
        } else {
            details.push("contiguous".into());
        }
        if let Ok(header) = file.get_or_parse_header(ds.address()) {
            for m in &header.messages {
                match m {
                    HdfMessage::FilterPipeline(p) => {
                        let names: Vec<String> = p
                            .filters
                            .iter()
                            .map(|f| filter_name(f.id, f.name.as_deref()))
                            .collect();
                        details.push(format!("filters={}", names.join("+")));
                    }
                    HdfMessage::ExternalFiles(_) => details.push("external storage".into()),
                    _ => {}
                }
            }
        }
        rows.push(
            "dataset",
            prefix,
            &name,
            Some(type_name(ds.dtype())),
            Some(shape_text(ds.shape())),
            Some(details.join(", ")),
        );
        attribute_rows(rows, prefix, &name, &ds.attributes());
    }
    for name in groups {
        let path = format!("{prefix}/{name}");
        rows.push("group", prefix, &name, None, None, Some(path.clone()));
        walk(file, &g.group(&name)?, &path, rows)?;
    }
    Ok(())
}

/// The usual name of an HDF5 filter.
pub(crate) fn filter_name(id: u16, name: Option<&str>) -> String {
    match id {
        1 => "deflate".into(),
        2 => "shuffle".into(),
        3 => "fletcher32".into(),
        4 => "szip".into(),
        5 => "nbit".into(),
        6 => "scaleoffset".into(),
        _ => name
            .map(str::to_string)
            .unwrap_or_else(|| format!("filter{id}")),
    }
}

/// The `hdf5_info` table of `path`.
pub(crate) fn hdf5_info_table(path: &str) -> Result<Arc<dyn TableProvider>> {
    let file = open_file(path, false)?;
    let root = guarded(path, || file.root_group())?;
    let mut rows = InfoRows::default();
    rows.push("group", "", "/", None, None, Some("/".into()));
    guarded(path, || walk(&file, &root, "", &mut rows))?;
    rows.into_table()
}
