//! From NetCDF metadata to a table: which variables become columns, the dimensions that
//! span the rows, coordinate values of every dimension, and the Arrow schema with the
//! variables' attributes (units, long names, ...) as field metadata. Several files are
//! concatenated here along their record (unlimited or `time`) dimension.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{Result, plan_err};
use netcdf_reader::{
    NcAttrValue, NcAttribute, NcFormat, NcSliceInfo, NcSliceInfoElem, NcType, NcVariable,
};

use super::cf::{CfDecode, decodable_time_ref, decode_times};
use super::source::NcSource;
use crate::datasource::array::{Cuts, Grid, check_dimensions, first_coordinate};
use crate::datasource::remote::{RemoteStorage, is_remote};

/// Options of a NetCDF table.
#[derive(Debug, Clone)]
pub struct NetCdfOptions {
    /// Variables to read; empty = the default choice (DESIGN.md §4).
    pub variables: Vec<String>,
    /// Apply CF conventions (fill values, packing, time decoding).
    pub decode_cf: bool,
    /// Decode CF time coordinates into timestamps (default: `decode_cf`).
    pub decode_times: Option<bool>,
    /// The group whose variables are read (`"obs/deep"`; empty = the root group).
    pub group: String,
    /// Add a `filename` column telling which file each row came from.
    pub filename: bool,
    /// Nearest-coordinate selections, `(dimension, value)`: only the closest index is read.
    pub nearest: Vec<(String, String)>,
}

impl NetCdfOptions {
    /// The group path without leading or trailing `/`.
    pub(crate) fn group_path(&self) -> &str {
        self.group.trim_matches('/')
    }

    fn times(&self) -> bool {
        self.decode_times.unwrap_or(self.decode_cf)
    }
}

impl Default for NetCdfOptions {
    fn default() -> Self {
        Self {
            variables: Vec::new(),
            decode_cf: true,
            decode_times: None,
            group: String::new(),
            filename: false,
            nearest: Vec::new(),
        }
    }
}

/// One open file and its slice of the concatenation dimension.
pub(crate) struct SourceFile {
    pub path: String,
    pub file: Arc<NcSource>,
    /// Global index of this file's first element along dimension 0.
    pub offset: u64,
    /// Its length along dimension 0.
    pub len: u64,
}

impl std::fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceFile")
            .field("path", &self.path)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish()
    }
}

/// A dimension of the rows.
#[derive(Debug)]
pub(crate) struct DimColumn {
    pub name: String,
    pub size: u64,
    /// Coordinate values (or indices), `size` long, in the column's type.
    pub values: ArrayRef,
}

/// A data variable read as a column.
#[derive(Debug)]
pub(crate) struct VarColumn {
    /// Its path from the root group (`obs/temp`).
    pub path: String,
    pub decode: Option<CfDecode>,
    /// Extent along dimension 0 of one storage chunk in the first file (None when the
    /// variable is contiguous or the file is classic): reads aligned to it decode each chunk
    /// once, which matters because files are opened without a chunk cache.
    pub outer_chunk: Option<u64>,
}

/// Everything a scan needs: files, dimensions, variables and the full schema
/// (dimension columns first, then variables).
#[derive(Debug)]
pub(crate) struct ArrayLayout {
    pub files: Vec<SourceFile>,
    pub dims: Vec<DimColumn>,
    pub vars: Vec<VarColumn>,
    pub schema: SchemaRef,
    /// The options it was opened with: a cluster executor reopens the files with them.
    #[cfg(feature = "cluster")]
    pub options: NetCdfOptions,
}

/// The HDF5 view of a NetCDF-4 file, for storage details (chunking, filters) that
/// netcdf-reader does not expose; None for classic files or when it cannot be opened.
pub(crate) fn nc4_storage(path: &str, file: &NcSource) -> Option<hdf5_reader::Hdf5File> {
    match file.format() {
        NcFormat::Nc4 | NcFormat::Nc4Classic if is_remote(path) => {
            hdf5_reader::Hdf5File::from_storage(RemoteStorage::open(path).ok()?).ok()
        }
        NcFormat::Nc4 | NcFormat::Nc4Classic => hdf5_reader::Hdf5File::open(path).ok(),
        _ => None,
    }
}

/// The Arrow type of a numeric NetCDF type.
fn arrow_type(t: &NcType) -> Option<DataType> {
    Some(match t {
        NcType::Byte => DataType::Int8,
        NcType::UByte => DataType::UInt8,
        NcType::Short => DataType::Int16,
        NcType::UShort => DataType::UInt16,
        NcType::Int => DataType::Int32,
        NcType::UInt => DataType::UInt32,
        NcType::Int64 => DataType::Int64,
        NcType::UInt64 => DataType::UInt64,
        NcType::Float => DataType::Float32,
        NcType::Double => DataType::Float64,
        _ => return None,
    })
}

/// The Arrow type of a variable read as a column: numbers and strings.
fn column_type(t: &NcType) -> Option<DataType> {
    match t {
        NcType::String => Some(DataType::Utf8),
        other => arrow_type(other),
    }
}

/// An attribute value as text, for Arrow metadata.
pub(crate) fn attr_text(value: &NcAttrValue) -> String {
    fn join<T: std::fmt::Display>(v: &[T]) -> String {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
    match value {
        NcAttrValue::Chars(s) => s.clone(),
        NcAttrValue::Strings(v) => v.join(", "),
        NcAttrValue::Bytes(v) => join(v),
        NcAttrValue::UBytes(v) => join(v),
        NcAttrValue::Shorts(v) => join(v),
        NcAttrValue::UShorts(v) => join(v),
        NcAttrValue::Ints(v) => join(v),
        NcAttrValue::UInts(v) => join(v),
        NcAttrValue::Int64s(v) => join(v),
        NcAttrValue::UInt64s(v) => join(v),
        NcAttrValue::Floats(v) => join(v),
        NcAttrValue::Doubles(v) => join(v),
        other => format!("{other:?}"),
    }
}

fn metadata(attrs: &[NcAttribute]) -> HashMap<String, String> {
    attrs
        .iter()
        .map(|a| (a.name.clone(), attr_text(&a.value)))
        .collect()
}

/// Bounds variables (`*_bnds`, `*_bounds`, or named by a `bounds` attribute).
fn bounds_names(vars: &[NcVariable]) -> Vec<String> {
    vars.iter()
        .filter_map(|v| v.attribute("bounds").and_then(|a| a.value.as_string()))
        .collect()
}

fn is_candidate(v: &NcVariable, bounds: &[String]) -> bool {
    !v.dimensions.is_empty()
        && !v.is_coordinate_variable()
        && !v.name.ends_with("_bnds")
        && !v.name.ends_with("_bounds")
        && !bounds.contains(&v.name)
        && arrow_type(&v.dtype).is_some()
}

fn dim_names(v: &NcVariable) -> Vec<String> {
    v.dimensions.iter().map(|d| d.name.clone()).collect()
}

/// The variables of `group` (empty = the root group).
pub(crate) fn scope_vars<'a>(
    file: &'a NcSource,
    path: &str,
    group: &str,
) -> Result<&'a [NcVariable]> {
    match file.root(path)?.group(group) {
        Some(g) => Ok(g.variables.as_slice()),
        None => plan_err!("no group \"/{group}\" in '{path}'"),
    }
}

/// `group` and its ancestors, innermost first, ending with the root (`""`).
fn scopes(group: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut g = group.to_string();
    while !g.is_empty() {
        out.push(g.clone());
        g = g
            .rsplit_once('/')
            .map(|(a, _)| a.to_string())
            .unwrap_or_default();
    }
    out.push(String::new());
    out
}

/// The path of `name` in `group` from the root group.
pub(crate) fn var_path(group: &str, name: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{group}/{name}")
    }
}

/// The variables to read from `file`: those named, or the default choice.
fn choose_variables(
    file: &NcSource,
    path: &str,
    group: &str,
    wanted: &[String],
) -> Result<Vec<String>> {
    let vars = scope_vars(file, path, group)?;
    if !wanted.is_empty() {
        for name in wanted {
            if !vars.iter().any(|v| &v.name == name) {
                let available: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
                return plan_err!(
                    "unknown variable \"{name}\" in '{path}' (available: {})",
                    available.join(", ")
                );
            }
        }
        return Ok(wanted.to_vec());
    }
    let bounds = bounds_names(vars);
    let candidates: Vec<&NcVariable> = vars.iter().filter(|v| is_candidate(v, &bounds)).collect();
    let Some(most) = candidates.iter().map(|v| v.dimensions.len()).max() else {
        return plan_err!("'{path}' has no data variable with dimensions to read as a table");
    };
    // Among the variables with the most dimensions, the largest group sharing one dim list.
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for v in candidates.iter().filter(|v| v.dimensions.len() == most) {
        let dims = dim_names(v);
        match groups.iter_mut().find(|(d, _)| *d == dims) {
            Some((_, names)) => names.push(v.name.clone()),
            None => groups.push((dims, vec![v.name.clone()])),
        }
    }
    let mut best = 0;
    for (i, group) in groups.iter().enumerate() {
        if group.1.len() > groups[best].1.len() {
            best = i;
        }
    }
    Ok(groups.swap_remove(best).1)
}

/// The coordinate values of `dim` in one file (or its indices), decoded when asked. The
/// coordinate variable is looked up in `group`, then in its ancestors.
fn coordinate(
    file: &NcSource,
    path: &str,
    group: &str,
    dim: &str,
    size: u64,
    times: bool,
) -> Result<(ArrayRef, HashMap<String, String>)> {
    let mut coord = None;
    for scope in scopes(group) {
        let vars = scope_vars(file, path, &scope)?;
        if let Some(v) = vars.iter().find(|v| {
            v.name == dim
                && v.dimensions.len() == 1
                && v.dimensions[0].size == size
                && arrow_type(&v.dtype).is_some()
        }) {
            coord = Some((var_path(&scope, dim), v));
            break;
        }
    }
    let Some((full_name, var)) = coord else {
        let indices: Vec<i64> = (0..size as i64).collect();
        return Ok((Arc::new(Int64Array::from(indices)), HashMap::new()));
    };
    let raw = file.read_slab(path, &full_name, var, &NcSliceInfo::all(1))?;
    let values = match decodable_time_ref(var).filter(|_| times) {
        Some(time_ref) => decode_times(&raw, &time_ref, path, dim)?,
        None => raw,
    };
    Ok((values, metadata(&var.attributes)))
}

impl ArrayLayout {
    /// Opens `paths` (already expanded, at least one) and builds the table layout.
    pub(crate) fn try_new(paths: &[String], options: &NetCdfOptions) -> Result<Self> {
        let Some(first_path) = paths.first() else {
            return plan_err!("read_netcdf: no files given");
        };
        let first = NcSource::open(first_path)?;
        let group = options.group_path();
        let names = choose_variables(&first, first_path, group, &options.variables)?;
        let all_vars = scope_vars(&first, first_path, group)?.to_vec();
        let selected: Vec<&NcVariable> = names
            .iter()
            .filter_map(|n| all_vars.iter().find(|v| &v.name == n))
            .collect();
        let dims = selected.first().map(|v| dim_names(v)).unwrap_or_default();
        for v in &selected {
            if v.dtype == NcType::String && v.dimensions.is_empty() {
                return plan_err!(
                    "variable \"{}\" in '{first_path}' is a scalar string",
                    v.name
                );
            }
            if dim_names(v) != dims {
                return plan_err!(
                    "variables \"{}\" ({}) and \"{}\" ({}) in '{first_path}' have different dimensions; select variables that share them",
                    selected[0].name,
                    dims.join(", "),
                    v.name,
                    dim_names(v).join(", ")
                );
            }
            if column_type(&v.dtype).is_none() {
                return plan_err!(
                    "variable \"{}\" in '{first_path}' has unsupported type {:?}",
                    v.name,
                    v.dtype
                );
            }
        }
        // A coordinate variable named explicitly is already its dimension's column.
        let data_vars: Vec<&NcVariable> = selected
            .iter()
            .copied()
            .filter(|v| !(v.dimensions.len() == 1 && v.name == dims[0]))
            .collect();
        let mut fields: Vec<Field> = Vec::new();
        let mut dim_columns = Vec::new();
        let mut files = Vec::new();
        // Per file: its handle, coordinates of every dimension, length along dim 0.
        let mut per_file: Vec<(String, NcSource, Vec<ArrayRef>)> = Vec::new();
        let mut dim_meta = Vec::new();
        let opened = std::iter::once(Ok(first)).chain(paths[1..].iter().map(|p| NcSource::open(p)));
        for (path, file) in paths.iter().zip(opened) {
            let file = file?;
            let file_vars = scope_vars(&file, path, group)?;
            let mut coords = Vec::new();
            for v in &selected {
                match file_vars.iter().find(|fv| fv.name == v.name) {
                    Some(fv) if dim_names(fv) == dims => {}
                    Some(fv) => {
                        return plan_err!(
                            "variable \"{}\" has dimensions ({}) in '{first_path}' but ({}) in '{path}'",
                            v.name,
                            dims.join(", "),
                            dim_names(fv).join(", ")
                        );
                    }
                    None => {
                        return plan_err!(
                            "variable \"{}\" of '{first_path}' is missing in '{path}'",
                            v.name
                        );
                    }
                }
            }
            let shape = selected.first().map(|v| v.shape()).unwrap_or_default();
            let shape = file_vars
                .iter()
                .find(|fv| fv.name == names[0])
                .map(|v| v.shape())
                .unwrap_or(shape);
            check_dimensions(
                path,
                &format!("variable \"{}\"", names[0]),
                dims.iter().map(String::as_str).zip(shape.iter().copied()),
            )?;
            dim_meta.clear();
            for (dim, size) in dims.iter().zip(&shape) {
                let (values, meta) = coordinate(&file, path, group, dim, *size, options.times())?;
                coords.push(values);
                dim_meta.push(meta);
            }
            per_file.push((path.clone(), file, coords));
        }
        if per_file.len() > 1 {
            if dims.is_empty() {
                return plan_err!("cannot concatenate scalar variables of several files");
            }
            // Order by the first coordinate value along dimension 0, not by file name.
            per_file
                .sort_by(|a, b| first_coordinate(&a.2[0]).total_cmp(&first_coordinate(&b.2[0])));
            let (first_path, _, first_coords) = &per_file[0];
            for (path, _, coords) in &per_file[1..] {
                for (k, dim) in dims.iter().enumerate().skip(1) {
                    if coords[k].to_data() != first_coords[k].to_data() {
                        return plan_err!(
                            "cannot concatenate '{first_path}' and '{path}': coordinates of dimension \"{dim}\" differ"
                        );
                    }
                }
                if coords[0].data_type() != first_coords[0].data_type() {
                    return plan_err!(
                        "cannot concatenate '{first_path}' and '{path}': dimension \"{}\" has different types or units",
                        dims[0]
                    );
                }
            }
        }
        let mut offset = 0;
        for (k, dim) in dims.iter().enumerate() {
            let values = if k == 0 {
                let parts: Vec<&dyn Array> = per_file.iter().map(|p| p.2[0].as_ref()).collect();
                concat(&parts)?
            } else {
                Arc::clone(&per_file[0].2[k])
            };
            let meta = dim_meta.get(k).cloned().unwrap_or_default();
            fields.push(Field::new(dim, values.data_type().clone(), true).with_metadata(meta));
            dim_columns.push(DimColumn {
                name: dim.clone(),
                size: values.len() as u64,
                values,
            });
        }
        for (path, file, coords) in per_file {
            let len = coords.first().map(|c| c.len() as u64).unwrap_or(1);
            files.push(SourceFile {
                path,
                file: Arc::new(file),
                offset,
                len,
            });
            offset += len;
        }
        let mut var_columns = Vec::new();
        let first_h5 = nc4_storage(&files[0].path, &files[0].file);
        for v in data_vars {
            let decode = if options.decode_cf && v.dtype != NcType::String {
                CfDecode::from_variable(v)
            } else {
                None
            };
            let raw = column_type(&v.dtype).unwrap_or(DataType::Float64);
            let data_type = decode.as_ref().map(|d| d.output_type(&raw)).unwrap_or(raw);
            if fields.iter().any(|f| f.name() == &v.name) {
                return plan_err!("variable \"{}\" has the name of a dimension column", v.name);
            }
            fields
                .push(Field::new(&v.name, data_type, true).with_metadata(metadata(&v.attributes)));
            var_columns.push(VarColumn {
                path: var_path(group, &v.name),
                decode,
                outer_chunk: first_h5
                    .as_ref()
                    .and_then(|h5| h5.dataset(&var_path(group, &v.name)).ok())
                    .and_then(|ds| ds.chunks().and_then(|c| c.first().map(|&n| u64::from(n)))),
            });
        }
        if options.filename {
            if fields.iter().any(|f| f.name() == "filename") {
                return plan_err!("a column is already named \"filename\"; it cannot be added");
            }
            fields.push(Field::new("filename", DataType::Utf8, false));
        }
        let globals = files
            .first()
            .map(|f| f.file.root(&f.path).map(|root| metadata(&root.attributes)))
            .transpose()?
            .unwrap_or_default();
        let schema = Arc::new(Schema::new(fields).with_metadata(globals));
        Ok(Self {
            files,
            dims: dim_columns,
            vars: var_columns,
            schema,
            #[cfg(feature = "cluster")]
            options: options.clone(),
        })
    }

    /// The variable at `path` (from the root group) in file `index`.
    pub(crate) fn variable(&self, index: usize, path: &str) -> Result<&NcVariable> {
        let f = &self.files[index];
        f.file.variable(&f.path, path)
    }

    /// Each file's `(offset, len)` along dimension 0.
    pub(crate) fn extents(&self) -> Vec<(u64, u64)> {
        self.files.iter().map(|f| (f.offset, f.len)).collect()
    }

    /// How a read of variables `vars` (indices into `vars`) with `inner` values per
    /// dimension-0 index cuts dimension 0: at the largest storage chunk among them.
    pub(crate) fn cuts(&self, vars: &[usize], inner: u64) -> Cuts {
        let chunk = vars
            .iter()
            .filter_map(|&v| self.vars.get(v).and_then(|c| c.outer_chunk))
            .max();
        Cuts::new(inner, chunk)
    }

    /// Reads data variable `var` (an index into `vars`) of file `file` over `ranges` (one
    /// `[start, end)` per dimension, local to that file), CF-decoded when the table decodes.
    pub(crate) fn read_var(
        &self,
        file: usize,
        var: usize,
        ranges: &[(u64, u64)],
    ) -> Result<ArrayRef> {
        let (source, column) = (&self.files[file], &self.vars[var]);
        let variable = self.variable(file, &column.path)?;
        let selections = ranges
            .iter()
            .map(|&(start, end)| NcSliceInfoElem::Slice {
                start,
                end,
                step: 1,
            })
            .collect();
        let selection = NcSliceInfo { selections };
        let array = source
            .file
            .read_slab(&source.path, &column.path, variable, &selection)?;
        match &column.decode {
            Some(decode) => decode.apply(array),
            None => Ok(array),
        }
    }
}

impl Grid for ArrayLayout {
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
        self.vars.len()
    }

    fn file_count(&self) -> usize {
        self.files.len()
    }

    fn file(&self, file: usize) -> (&str, u64) {
        let f = &self.files[file];
        (&f.path, f.offset)
    }

    fn extents(&self) -> Vec<(u64, u64)> {
        ArrayLayout::extents(self)
    }

    fn cuts(&self, columns: &[usize], inner: u64) -> Cuts {
        ArrayLayout::cuts(self, columns, inner)
    }

    fn read_values(&self, file: usize, column: usize, ranges: &[(u64, u64)]) -> Result<ArrayRef> {
        self.read_var(file, column, ranges)
    }

    #[cfg(feature = "gpu")]
    fn read_identity(&self, column: usize) -> String {
        let var = &self.vars[column];
        format!("netcdf {} {:?}", var.path, var.decode)
    }
}
