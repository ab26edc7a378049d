//! From an HDF5 dataset to a table: rows are the product of its dimensions (last fastest),
//! one index column per dimension (the values of its dimension scale when it has one, else
//! `dim_0`, `dim_1`, ... holding indices), then the values: one column named after the
//! dataset for numbers, strings and enums (labels, or the integers with
//! `enum_labels => false`), one column per field for compounds.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    StringArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use hdf5_reader::messages::HdfMessage;
use hdf5_reader::{
    ByteOrder, Dataset, Datatype, FilesystemExternalFileResolver, FilesystemExternalLinkResolver,
    Hdf5File, OpenOptions, StringSize, VarLenKind,
};

use super::slab::read_numeric;
use crate::datasource::array::{Cuts, Grid, check_dimensions, first_coordinate};
use crate::datasource::remote::{RemoteStorage, is_remote};

/// Options of an HDF5 table.
#[derive(Debug, Clone)]
pub struct Hdf5Options {
    /// Enum values as their labels (default) or as their integers.
    pub enum_labels: bool,
    /// Follow external links and external raw-data files (relative to the file's folder,
    /// never escaping it). Off by default: such files are refused.
    pub allow_external: bool,
}

impl Default for Hdf5Options {
    fn default() -> Self {
        Self {
            enum_labels: true,
            allow_external: false,
        }
    }
}

/// Runs a reader call, turning its error or panic into an error that names the file.
pub(crate) fn guarded<T>(
    path: &str,
    f: impl FnOnce() -> hdf5_reader::error::Result<T>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            let text = e.to_string();
            if text.contains("No such file") {
                return plan_err!("no such file: '{path}'");
            }
            Err(DataFusionError::Execution(format!(
                "cannot read hdf5 file '{path}': {text}"
            )))
        }
        Err(_) => exec_err!("cannot read hdf5 file '{path}': the reader panicked"),
    }
}

/// Opens `path`; external links and files resolve only when `allow_external`.
pub(crate) fn open_file(path: &str, allow_external: bool) -> Result<Hdf5File> {
    if is_remote(path) {
        // Other files named inside a remote file would be local paths: never resolved.
        let storage = RemoteStorage::open(path)?;
        let options = OpenOptions {
            chunk_cache_bytes: 8 << 20,
            ..Default::default()
        };
        return guarded(path, || {
            Hdf5File::from_storage_with_options(storage, options)
        });
    }
    if !Path::new(path).is_file() {
        return plan_err!("no such file: '{path}'");
    }
    let mut options = OpenOptions {
        chunk_cache_bytes: 8 << 20,
        ..Default::default()
    };
    if allow_external {
        let dir = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        options.external_file_resolver =
            Some(Arc::new(FilesystemExternalFileResolver::new(dir.clone())));
        options.external_link_resolver = Some(Arc::new(FilesystemExternalLinkResolver::new(dir)));
    }
    guarded(path, || Hdf5File::open_with_options(path, options))
}

/// Whether a dataset keeps its raw data in other files (external storage).
pub(crate) fn uses_external_storage(file: &Hdf5File, ds: &Dataset) -> bool {
    file.get_or_parse_header(ds.address())
        .map(|h| {
            h.messages
                .iter()
                .any(|m| matches!(m, HdfMessage::ExternalFiles(_)))
        })
        .unwrap_or(false)
}

/// Every dataset path in the file (`/grid/elev`), depth first.
pub(crate) fn dataset_paths(file: &Hdf5File, path: &str) -> Result<Vec<String>> {
    fn walk(
        g: &hdf5_reader::group::Group,
        prefix: &str,
        out: &mut Vec<String>,
    ) -> hdf5_reader::error::Result<()> {
        let (groups, datasets) = g.member_names()?;
        for d in datasets {
            out.push(format!("{prefix}/{d}"));
        }
        for name in groups {
            walk(&g.group(&name)?, &format!("{prefix}/{name}"), out)?;
        }
        Ok(())
    }
    let root = guarded(path, || file.root_group())?;
    let mut out = Vec::new();
    guarded(path, || walk(&root, "", &mut out))?;
    Ok(out)
}

/// How one value column is decoded from the dataset's raw bytes.
#[derive(Debug, Clone)]
pub(crate) enum ColumnKind {
    /// The whole dataset, numeric, read with a typed read.
    Numeric,
    /// The whole dataset, strings.
    Strings,
    /// A field of a compound at `offset` with its own type.
    Field { offset: usize, dtype: Datatype },
    /// The whole dataset, enum: labels or integers.
    Enum,
}

#[derive(Debug, Clone)]
pub(crate) struct ValueColumn {
    pub kind: ColumnKind,
}

/// A dimension: its column name and values.
#[derive(Debug)]
pub(crate) struct Hdf5Dim {
    pub size: u64,
    pub values: ArrayRef,
}

/// One file's copy of the dataset and its slice of dimension 0.
pub(crate) struct Hdf5Source {
    pub path: String,
    pub dataset: Dataset,
    /// Global index of this file's first element along dimension 0.
    pub offset: u64,
    /// Its length along dimension 0 (1 for a scalar dataset).
    pub len: u64,
}

/// Everything a scan needs: the files (concatenated along dimension 0), the dimensions
/// with their values, the value columns and the schema.
pub(crate) struct Hdf5Layout {
    pub files: Vec<Hdf5Source>,
    pub dataset_path: String,
    pub dims: Vec<Hdf5Dim>,
    pub columns: Vec<ValueColumn>,
    pub schema: SchemaRef,
    pub options: Hdf5Options,
    /// Extent along dimension 0 of one storage chunk of the first file's dataset (None when
    /// it is not chunked): partitions and read blocks end at whole chunks.
    pub outer_chunk: Option<u64>,
}

impl std::fmt::Debug for Hdf5Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        f.debug_struct("Hdf5Layout")
            .field("files", &paths)
            .field("dataset", &self.dataset_path)
            .field("schema", &self.schema)
            .finish()
    }
}

/// The Arrow type of a numeric HDF5 type.
pub(crate) fn numeric_type(t: &Datatype) -> Option<DataType> {
    Some(match t {
        Datatype::FixedPoint { size, signed, .. } => match (size, signed) {
            (1, true) => DataType::Int8,
            (2, true) => DataType::Int16,
            (4, true) => DataType::Int32,
            (8, true) => DataType::Int64,
            (1, false) => DataType::UInt8,
            (2, false) => DataType::UInt16,
            (4, false) => DataType::UInt32,
            (8, false) => DataType::UInt64,
            _ => return None,
        },
        Datatype::FloatingPoint { size: 4, .. } => DataType::Float32,
        Datatype::FloatingPoint { size: 8, .. } => DataType::Float64,
        _ => return None,
    })
}

fn is_string(t: &Datatype) -> bool {
    matches!(
        t,
        Datatype::String { .. }
            | Datatype::VarLen {
                kind: VarLenKind::String,
                ..
            }
    )
}

/// A short description of a datatype, for errors and `hdf5_info`.
pub(crate) fn type_name(t: &Datatype) -> String {
    match t {
        Datatype::FixedPoint { size, signed, .. } => {
            format!("{}{}", if *signed { "int" } else { "uint" }, size * 8)
        }
        Datatype::FloatingPoint { size, .. } => format!("float{}", size * 8),
        Datatype::String {
            size: StringSize::Fixed(n),
            ..
        } => format!("string[{n}]"),
        Datatype::String { .. } => "string".into(),
        Datatype::VarLen {
            kind: VarLenKind::String,
            ..
        } => "string".into(),
        Datatype::VarLen { base, .. } => format!("vlen<{}>", type_name(base)),
        Datatype::Compound { fields, .. } => format!(
            "compound{{{}}}",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name, type_name(&f.datatype)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Datatype::Enum { base, members } => format!(
            "enum<{}>{{{}}}",
            type_name(base),
            members
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Datatype::Array { base, dims } => format!("array<{}>{dims:?}", type_name(base)),
        Datatype::Opaque { size, .. } => format!("opaque[{size}]"),
        Datatype::Reference { .. } => "reference".into(),
        Datatype::Bitfield { size, .. } => format!("bitfield{}", size * 8),
    }
}

/// An integer of `bytes` in `order`.
fn int_value(bytes: &[u8], signed: bool, order: ByteOrder) -> i128 {
    let mut buf = [0u8; 16];
    let n = bytes.len().min(16);
    match order {
        ByteOrder::LittleEndian => buf[..n].copy_from_slice(&bytes[..n]),
        ByteOrder::BigEndian => {
            for (i, b) in bytes[..n].iter().rev().enumerate() {
                buf[i] = *b;
            }
        }
    }
    let unsigned = u128::from_le_bytes(buf);
    if signed && n > 0 && n < 16 && buf[n - 1] & 0x80 != 0 {
        (unsigned | (!0u128 << (n * 8))) as i128
    } else {
        unsigned as i128
    }
}

fn float_value(bytes: &[u8], order: ByteOrder) -> Option<f64> {
    let le = |b: &[u8]| -> Vec<u8> {
        match order {
            ByteOrder::LittleEndian => b.to_vec(),
            ByteOrder::BigEndian => b.iter().rev().copied().collect(),
        }
    };
    match bytes.len() {
        4 => Some(f32::from_le_bytes(le(bytes).try_into().ok()?) as f64),
        8 => Some(f64::from_le_bytes(le(bytes).try_into().ok()?)),
        _ => None,
    }
}

/// One element of a scalar type as text (numbers, fixed strings); `None` when unsupported.
pub(crate) fn element_text(bytes: &[u8], t: &Datatype) -> Option<String> {
    match t {
        Datatype::FixedPoint {
            signed, byte_order, ..
        } => Some(int_value(bytes, *signed, *byte_order).to_string()),
        Datatype::FloatingPoint { byte_order, .. } => {
            float_value(bytes, *byte_order).map(|v| v.to_string())
        }
        Datatype::String { .. } => Some(fixed_string(bytes)),
        Datatype::Enum { base, members } => Some(
            enum_label(bytes, members)
                .unwrap_or_else(|| element_text(bytes, base).unwrap_or_default()),
        ),
        _ => None,
    }
}

fn fixed_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
        .trim_end()
        .to_string()
}

fn enum_label(bytes: &[u8], members: &[hdf5_reader::EnumMember]) -> Option<String> {
    members
        .iter()
        .find(|m| m.value.as_slice() == bytes)
        .map(|m| m.name.clone())
}

/// Decodes `count` elements of `t` laid out every `stride` bytes from `offset` in `raw`.
pub(crate) fn decode_elements(
    raw: &[u8],
    count: usize,
    stride: usize,
    offset: usize,
    t: &Datatype,
    enum_labels: bool,
) -> Option<ArrayRef> {
    let size = match t {
        Datatype::FixedPoint { size, .. }
        | Datatype::FloatingPoint { size, .. }
        | Datatype::Bitfield { size, .. } => usize::from(*size),
        Datatype::String {
            size: StringSize::Fixed(n),
            ..
        } => *n as usize,
        Datatype::Enum { base, .. } => match base.as_ref() {
            Datatype::FixedPoint { size, .. } => usize::from(*size),
            _ => return None,
        },
        _ => return None,
    };
    if raw.len() < (count.saturating_sub(1)) * stride + offset + size && count > 0 {
        return None;
    }
    let elems = (0..count).map(|i| &raw[i * stride + offset..i * stride + offset + size]);
    Some(match t {
        Datatype::FixedPoint {
            signed, byte_order, ..
        } => {
            let v: Vec<i128> = elems.map(|b| int_value(b, *signed, *byte_order)).collect();
            int_array(&v, numeric_type(t)?)
        }
        Datatype::FloatingPoint { byte_order, .. } => {
            let v: Vec<f64> = elems
                .map(|b| float_value(b, *byte_order).unwrap_or(f64::NAN))
                .collect();
            if size == 4 {
                Arc::new(Float32Array::from(
                    v.iter().map(|x| *x as f32).collect::<Vec<_>>(),
                ))
            } else {
                Arc::new(Float64Array::from(v))
            }
        }
        Datatype::String { .. } => Arc::new(StringArray::from(
            elems.map(fixed_string).collect::<Vec<_>>(),
        )),
        Datatype::Enum { base, members } => {
            if enum_labels {
                Arc::new(StringArray::from(
                    elems.map(|b| enum_label(b, members)).collect::<Vec<_>>(),
                ))
            } else {
                let (signed, order) = match base.as_ref() {
                    Datatype::FixedPoint {
                        signed, byte_order, ..
                    } => (*signed, *byte_order),
                    _ => return None,
                };
                let v: Vec<i128> = elems.map(|b| int_value(b, signed, order)).collect();
                int_array(&v, numeric_type(base)?)
            }
        }
        _ => return None,
    })
}

fn int_array(v: &[i128], t: DataType) -> ArrayRef {
    macro_rules! arr {
        ($a:ty, $n:ty) => {
            Arc::new(<$a>::from(v.iter().map(|x| *x as $n).collect::<Vec<_>>())) as ArrayRef
        };
    }
    match t {
        DataType::Int8 => arr!(Int8Array, i8),
        DataType::Int16 => arr!(Int16Array, i16),
        DataType::Int32 => arr!(Int32Array, i32),
        DataType::UInt8 => arr!(UInt8Array, u8),
        DataType::UInt16 => arr!(UInt16Array, u16),
        DataType::UInt32 => arr!(UInt32Array, u32),
        DataType::UInt64 => arr!(UInt64Array, u64),
        _ => arr!(Int64Array, i64),
    }
}

/// The Arrow type of a compound field or enum column, when supported.
fn scalar_column_type(t: &Datatype, enum_labels: bool) -> Option<DataType> {
    match t {
        Datatype::String {
            size: StringSize::Fixed(_),
            ..
        } => Some(DataType::Utf8),
        Datatype::Enum { .. } if enum_labels => Some(DataType::Utf8),
        Datatype::Enum { base, .. } => numeric_type(base),
        other => numeric_type(other),
    }
}

/// Attributes of a dataset as text, for Arrow metadata (internal ones left out).
fn metadata(ds: &Dataset) -> HashMap<String, String> {
    ds.attributes()
        .into_iter()
        .filter(|a| {
            !matches!(
                a.name.as_str(),
                "DIMENSION_LIST" | "REFERENCE_LIST" | "CLASS" | "NAME"
            )
        })
        .filter_map(|a| attribute_text(&a).map(|t| (a.name, t)))
        .collect()
}

/// An attribute value as text; `None` for types we cannot show.
pub(crate) fn attribute_text(a: &hdf5_reader::Attribute) -> Option<String> {
    if let Some(strings) = &a.decoded_strings {
        return Some(strings.join(", "));
    }
    if let Ok(strings) = a.read_strings() {
        return Some(strings.join(", "));
    }
    let size = hdf5_reader::dtype_element_size(&a.datatype).ok()?;
    if size == 0 {
        return None;
    }
    let parts: Option<Vec<String>> = a
        .raw_data
        .chunks_exact(size)
        .map(|b| element_text(b, &a.datatype))
        .collect();
    parts.map(|p| p.join(", "))
}

impl Hdf5Layout {
    /// Opens `paths` (globs already expanded, at least one) and lays out `dataset` (or the
    /// first file's only dataset). Several files concatenate along dimension 0, ordered by
    /// its first value; their other dimensions' values and their columns must agree.
    pub(crate) fn try_new(
        paths: &[String],
        dataset: Option<&str>,
        options: &Hdf5Options,
    ) -> Result<Self> {
        let Some(first) = paths.first() else {
            return plan_err!("read_hdf5: no files given");
        };
        let mut parts = vec![Self::open_one(first, dataset, options)?];
        let dataset = Some(parts[0].dataset_path.clone());
        for path in &paths[1..] {
            parts.push(Self::open_one(path, dataset.as_deref(), options)?);
        }
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        if parts[0].dims.is_empty() {
            return plan_err!("cannot concatenate the scalar datasets of several files");
        }
        parts.sort_by(|a, b| {
            first_coordinate(&a.dims[0].values).total_cmp(&first_coordinate(&b.dims[0].values))
        });
        let mut parts = parts.into_iter();
        let Some(mut layout) = parts.next() else {
            return plan_err!("read_hdf5: no files given");
        };
        let mut dim0 = vec![Arc::clone(&layout.dims[0].values)];
        for part in parts {
            let (a, b) = (&layout.files[0].path, &part.files[0].path);
            let fields = |s: &SchemaRef| -> Vec<(String, DataType)> {
                s.fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().clone()))
                    .collect()
            };
            if fields(&layout.schema) != fields(&part.schema) {
                return plan_err!(
                    "cannot concatenate '{a}' and '{b}': dataset '{}' has other dimensions, columns or types",
                    layout.dataset_path
                );
            }
            for (k, (x, y)) in layout.dims.iter().zip(&part.dims).enumerate().skip(1) {
                if x.values.to_data() != y.values.to_data() {
                    return plan_err!(
                        "cannot concatenate '{a}' and '{b}': coordinates of dimension \"{}\" differ",
                        layout.schema.field(k).name()
                    );
                }
            }
            let offset = layout.dims[0].size;
            layout.dims[0].size += part.dims[0].size;
            dim0.push(Arc::clone(&part.dims[0].values));
            for mut file in part.files {
                file.offset += offset;
                layout.files.push(file);
            }
        }
        let parts: Vec<&dyn Array> = dim0.iter().map(|a| a.as_ref()).collect();
        layout.dims[0].values = concat(&parts)?;
        Ok(layout)
    }

    /// Each file's `(offset, len)` along dimension 0.
    pub(crate) fn extents(&self) -> Vec<(u64, u64)> {
        self.files.iter().map(|f| (f.offset, f.len)).collect()
    }

    /// How a read with `inner` values per dimension-0 index cuts dimension 0.
    pub(crate) fn cuts(&self, inner: u64) -> Cuts {
        Cuts::new(inner, self.outer_chunk)
    }

    /// Opens one file and lays out `dataset` (or the file's only dataset).
    fn open_one(path: &str, dataset: Option<&str>, options: &Hdf5Options) -> Result<Self> {
        let file = open_file(path, options.allow_external)?;
        let dataset_path = match dataset {
            Some(d) => format!("/{}", d.trim_start_matches('/')),
            None => {
                let all = dataset_paths(&file, path)?;
                match all.as_slice() {
                    [one] => one.clone(),
                    [] => return plan_err!("'{path}' has no datasets"),
                    many => {
                        return plan_err!(
                            "'{path}' has {} datasets; name one: read_hdf5('{path}', '{}') (datasets: {})",
                            many.len(),
                            many[0],
                            many.join(", ")
                        );
                    }
                }
            }
        };
        let ds = match guarded(path, || file.dataset(&dataset_path)) {
            Ok(ds) => ds,
            Err(e) => {
                let text = e.to_string();
                if text.contains("external link") {
                    return plan_err!(
                        "'{dataset_path}' in '{path}' is an external link to another file; pass allow_external => true to follow it ({text})"
                    );
                }
                if text.contains("unsupported") {
                    return plan_err!(
                        "dataset '{dataset_path}' in '{path}' uses an HDF5 encoding the pure-Rust reader does not support: {text}"
                    );
                }
                let all = dataset_paths(&file, path).unwrap_or_default();
                return plan_err!(
                    "no dataset '{dataset_path}' in '{path}' (datasets: {})",
                    all.join(", ")
                );
            }
        };
        if !options.allow_external && uses_external_storage(&file, &ds) {
            return plan_err!(
                "dataset '{dataset_path}' in '{path}' keeps its data in external files; pass allow_external => true to read them"
            );
        }
        let shape = ds.shape().to_vec();
        let dim_names: Vec<String> = (0..shape.len()).map(|k| format!("dim_{k}")).collect();
        check_dimensions(
            path,
            &format!("dataset '{dataset_path}'"),
            dim_names
                .iter()
                .map(String::as_str)
                .zip(shape.iter().copied()),
        )?;
        let name = dataset_path
            .rsplit('/')
            .next()
            .unwrap_or("value")
            .to_string();
        let (group, _) = dataset_path.rsplit_once('/').unwrap_or(("", ""));
        let has_scales = ds
            .raw_attributes()
            .map(|attrs| attrs.iter().any(|a| a.name() == "DIMENSION_LIST"))
            .unwrap_or(false);
        let scale_names = if has_scales {
            dimension_scale_names(path, &dataset_path, shape.len())
        } else {
            vec![None; shape.len()]
        };
        let mut fields = Vec::new();
        let mut dims = Vec::new();
        for (k, size) in shape.iter().enumerate() {
            let mut column = (format!("dim_{k}"), None);
            if let Some(scale) = scale_names.get(k).and_then(|s| s.as_ref()) {
                let scale_path = format!("{group}/{scale}");
                if let Ok(sds) = file.dataset(&scale_path)
                    && sds.shape() == [*size]
                    && numeric_type(sds.dtype()).is_some()
                    && scale_path != dataset_path
                {
                    column = (
                        scale.clone(),
                        Some((read_numeric(&sds, path)?, metadata(&sds))),
                    );
                }
            }
            let (col_name, values) = column;
            let (values, meta) = values.unwrap_or_else(|| {
                let idx: Vec<i64> = (0..*size as i64).collect();
                (Arc::new(Int64Array::from(idx)) as ArrayRef, HashMap::new())
            });
            fields.push(Field::new(col_name, values.data_type().clone(), true).with_metadata(meta));
            dims.push(Hdf5Dim {
                size: *size,
                values,
            });
        }
        let mut columns = Vec::new();
        let meta = metadata(&ds);
        match ds.dtype() {
            t if numeric_type(t).is_some() => {
                fields.push(
                    Field::new(&name, numeric_type(t).unwrap_or(DataType::Float64), true)
                        .with_metadata(meta),
                );
                columns.push(ValueColumn {
                    kind: ColumnKind::Numeric,
                });
            }
            t if is_string(t) => {
                fields.push(Field::new(&name, DataType::Utf8, true).with_metadata(meta));
                columns.push(ValueColumn {
                    kind: ColumnKind::Strings,
                });
            }
            Datatype::Enum { .. } => {
                let t =
                    scalar_column_type(ds.dtype(), options.enum_labels).unwrap_or(DataType::Utf8);
                fields.push(Field::new(&name, t, true).with_metadata(meta));
                columns.push(ValueColumn {
                    kind: ColumnKind::Enum,
                });
            }
            Datatype::Compound {
                fields: members, ..
            } => {
                for m in members {
                    let Some(t) = scalar_column_type(&m.datatype, options.enum_labels) else {
                        return plan_err!(
                            "field \"{}\" of dataset '{dataset_path}' in '{path}' has unsupported type {}",
                            m.name,
                            type_name(&m.datatype)
                        );
                    };
                    fields.push(Field::new(&m.name, t, true));
                    columns.push(ValueColumn {
                        kind: ColumnKind::Field {
                            offset: m.byte_offset as usize,
                            dtype: m.datatype.clone(),
                        },
                    });
                }
            }
            other => {
                return plan_err!(
                    "dataset '{dataset_path}' in '{path}' has unsupported type {}",
                    type_name(other)
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        for f in &fields {
            if !seen.insert(f.name().clone()) {
                return plan_err!(
                    "dataset '{dataset_path}' in '{path}' gives two columns named \"{}\"",
                    f.name()
                );
            }
        }
        let outer_chunk = ds.chunks().and_then(|c| c.first().map(|&n| u64::from(n)));
        let globals = guarded(path, || file.root_group().and_then(|g| g.attributes()))
            .map(|attrs| {
                attrs
                    .iter()
                    .filter_map(|a| attribute_text(a).map(|t| (a.name.clone(), t)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            files: vec![Hdf5Source {
                path: path.to_string(),
                dataset: ds,
                offset: 0,
                len: dims.first().map(|d| d.size).unwrap_or(1),
            }],
            dataset_path,
            dims,
            columns,
            schema: Arc::new(Schema::new(fields).with_metadata(globals)),
            options: options.clone(),
            outer_chunk,
        })
    }
}

impl Grid for Hdf5Layout {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn dim_count(&self) -> usize {
        self.dims.len()
    }

    fn dim_values(&self, d: usize) -> &ArrayRef {
        &self.dims[d].values
    }

    fn value_count(&self) -> usize {
        self.columns.len()
    }

    fn file_count(&self) -> usize {
        self.files.len()
    }

    fn file(&self, file: usize) -> (&str, u64) {
        let f = &self.files[file];
        (&f.path, f.offset)
    }

    fn extents(&self) -> Vec<(u64, u64)> {
        Hdf5Layout::extents(self)
    }

    fn cuts(&self, _columns: &[usize], inner: u64) -> Cuts {
        Hdf5Layout::cuts(self, inner)
    }

    fn read_values(&self, file: usize, column: usize, ranges: &[(u64, u64)]) -> Result<ArrayRef> {
        self.read_column(file, column, ranges)
    }

    #[cfg(feature = "gpu")]
    fn read_identity(&self, column: usize) -> String {
        format!(
            "hdf5 {} {:?} {:?}",
            self.dataset_path, self.columns[column].kind, self.options
        )
    }
}

/// The names of the dimension scales attached to each dimension of `dataset`, as
/// netcdf-reader resolves them (`DIMENSION_LIST`); `None` where there is none.
fn dimension_scale_names(path: &str, dataset: &str, ndim: usize) -> Vec<Option<String>> {
    let found = catch_unwind(AssertUnwindSafe(|| {
        let nc = match is_remote(path) {
            true => netcdf_reader::NcFile::from_storage(RemoteStorage::open(path).ok()?),
            false => netcdf_reader::NcFile::open(path),
        }
        .ok()?;
        let var = nc.variable(dataset.trim_start_matches('/')).ok()?;
        Some(
            var.dimensions
                .iter()
                .map(|d| (!d.name.starts_with("phony_dim")).then(|| d.name.clone()))
                .collect::<Vec<_>>(),
        )
    }));
    match found {
        Ok(Some(names)) if names.len() == ndim => names,
        _ => vec![None; ndim],
    }
}
