//! `netcdf_info(path)`: one row per group, dimension, variable (type, shape, chunking,
//! filters) and attribute of a NetCDF file.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::Result;
use hdf5_reader::messages::HdfMessage;
use netcdf_reader::{NcGroup, NcType};

use super::schema::{attr_text, nc4_storage};
use super::source::NcSource;
use crate::datasource::hdf5::info::{InfoRows, filter_name};

/// A NetCDF type's CDL name.
fn type_name(t: &NcType) -> String {
    match t {
        NcType::Byte => "byte".into(),
        NcType::Char => "char".into(),
        NcType::Short => "short".into(),
        NcType::Int => "int".into(),
        NcType::Float => "float".into(),
        NcType::Double => "double".into(),
        NcType::UByte => "ubyte".into(),
        NcType::UShort => "ushort".into(),
        NcType::UInt => "uint".into(),
        NcType::Int64 => "int64".into(),
        NcType::UInt64 => "uint64".into(),
        NcType::String => "string".into(),
        other => format!("{other:?}"),
    }
}

fn attr_type(v: &netcdf_reader::NcAttrValue) -> String {
    use netcdf_reader::NcAttrValue as A;
    match v {
        A::Bytes(_) => "byte",
        A::Chars(_) => "char",
        A::Shorts(_) => "short",
        A::Ints(_) => "int",
        A::Floats(_) => "float",
        A::Doubles(_) => "double",
        A::UBytes(_) => "ubyte",
        A::UShorts(_) => "ushort",
        A::UInts(_) => "uint",
        A::Int64s(_) => "int64",
        A::UInt64s(_) => "uint64",
        A::Strings(_) => "string",
        A::UserDefined { .. } => "user-defined",
    }
    .into()
}

/// Chunking and filters of an NC4 variable, read through hdf5-reader.
fn storage_details(h5: Option<&hdf5_reader::Hdf5File>, var_path: &str) -> Option<String> {
    let h5 = h5?;
    let ds = h5.dataset(var_path).ok()?;
    let mut details = vec![match ds.chunks() {
        Some(c) => format!(
            "chunks={}",
            c.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("x")
        ),
        None => "contiguous".into(),
    }];
    if let Ok(header) = h5.get_or_parse_header(ds.address()) {
        for m in &header.messages {
            if let HdfMessage::FilterPipeline(p) = m {
                let names: Vec<String> = p
                    .filters
                    .iter()
                    .map(|f| filter_name(f.id, f.name.as_deref()))
                    .collect();
                details.push(format!("filters={}", names.join("+")));
            }
        }
    }
    Some(details.join(", "))
}

fn walk(g: &NcGroup, path: &str, h5: Option<&hdf5_reader::Hdf5File>, rows: &mut InfoRows) {
    for a in &g.attributes {
        rows.push(
            "attribute",
            path,
            &a.name,
            Some(attr_type(&a.value)),
            None,
            Some(attr_text(&a.value)),
        );
    }
    for d in &g.dimensions {
        rows.push(
            "dimension",
            path,
            &d.name,
            None,
            Some(d.size.to_string()),
            d.is_unlimited.then(|| "unlimited".to_string()),
        );
    }
    for v in &g.variables {
        let dims: Vec<String> = v
            .dimensions
            .iter()
            .map(|d| format!("{}={}", d.name, d.size))
            .collect();
        let full = format!("{}/{}", path.trim_end_matches('/'), v.name);
        let mut details = vec![format!("dims=({})", dims.join(", "))];
        details.extend(storage_details(h5, &full));
        let shape = if v.dimensions.is_empty() {
            "scalar".to_string()
        } else {
            v.shape()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("x")
        };
        rows.push(
            "variable",
            path,
            &v.name,
            Some(type_name(&v.dtype)),
            Some(shape),
            Some(details.join(", ")),
        );
        for a in &v.attributes {
            rows.push(
                "attribute",
                path,
                &format!("{}@{}", v.name, a.name),
                Some(attr_type(&a.value)),
                None,
                Some(attr_text(&a.value)),
            );
        }
    }
    for sub in &g.groups {
        let sub_path = format!("{}/{}", path.trim_end_matches('/'), sub.name);
        rows.push("group", path, &sub.name, None, None, Some(sub_path.clone()));
        walk(sub, &sub_path, h5, rows);
    }
}

/// The `netcdf_info` table of `path`.
pub(crate) fn netcdf_info_table(path: &str) -> Result<Arc<dyn TableProvider>> {
    let file = NcSource::open(path)?;
    let root = file.root(path)?;
    let details = format!("format={:?}, reader={}", file.format(), file.reader());
    let h5 = nc4_storage(path, &file);
    let mut rows = InfoRows::default();
    rows.push("group", "/", "/", None, None, Some(details));
    walk(root, "/", h5.as_ref(), &mut rows);
    rows.into_table()
}
