//! The NetCDF C library as the fallback reader (cargo feature `libnetcdf`, system
//! libnetcdf + libhdf5 through the `netcdf` crate): files netcdf-reader cannot decode are
//! opened here. The metadata is read once, at open, into netcdf-reader's model (`NcGroup`),
//! so `schema.rs` builds the table as for any file; only hyperslab reads come back here.
//! Attributes whose type the bindings cannot decode (compound, enum, opaque, vlen) are left
//! out with a warning. libnetcdf is not thread-safe: the `netcdf` crate serialises every
//! call on one lock, so partitions over such files read one at a time. And HDF5 crashes
//! when a file opened twice is closed under the other handle's feet (seen as a SIGSEGV in
//! `H5T__conv_vlen` with concurrent queries), so each file is open at most once in the
//! process: tables share one `LibFile` per path while any of them holds it.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use datafusion::arrow::array::{
    ArrayRef, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    StringArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use datafusion::common::{Result, exec_err, plan_err};
use netcdf::AttributeValue;
use netcdf::types::{EnumTypeValues, FloatType, IntType, NcVariableType};
use netcdf_reader::{
    NcAttrValue, NcAttribute, NcCompoundField, NcDimension, NcEnumMember, NcGroup, NcIntegerValue,
    NcSliceInfo, NcType, NcVariable,
};

use super::source::{slab_indices, slab_ranges};

/// A file open in the C library with its metadata in netcdf-reader's model.
pub(crate) struct LibFile {
    /// Always `Some` until dropped (closed under the `OPEN` lock).
    file: Option<netcdf::File>,
    root: NcGroup,
}

impl Drop for LibFile {
    fn drop(&mut self) {
        // Closed while no other thread can open the same file again.
        let _open = OPEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        quiet();
        drop(self.file.take());
    }
}

/// Turns off HDF5's automatic error printing on this thread. It is per thread and libnetcdf
/// turns it off only on the thread that initialised it, so every other thread would print
/// the errors of libnetcdf's own probing (`HDF5-DIAG: ... can't locate attribute
/// '_QuantizeBitRoundNumberOfSignificantBits'`) to stderr.
fn quiet() {
    hdf5_metno::silence_errors(true);
}

/// Runs a call into the bindings (which panic on some C errors), naming the file on failure.
fn guarded<T>(path: &str, f: impl FnOnce() -> netcdf::Result<T>) -> Result<T> {
    quiet();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => exec_err!("cannot read netcdf file '{path}' with libnetcdf: {e}"),
        Err(_) => {
            exec_err!("cannot read netcdf file '{path}' with libnetcdf: the bindings panicked")
        }
    }
}

/// The files open in the C library, by canonical path.
static OPEN: LazyLock<Mutex<HashMap<PathBuf, Weak<LibFile>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl LibFile {
    /// The open file at `path`, shared with every table that holds it, or opened now.
    pub(crate) fn open(path: &str) -> Result<Arc<Self>> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
        let mut open = OPEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.retain(|_, file| file.strong_count() > 0);
        if let Some(file) = open.get(&key).and_then(Weak::upgrade) {
            return Ok(file);
        }
        let file = Arc::new(Self::open_new(path)?);
        open.insert(key, Arc::downgrade(&file));
        Ok(file)
    }

    /// Opens `path` read-only and reads its groups, dimensions, variables and attributes.
    fn open_new(path: &str) -> Result<Self> {
        let file = guarded(path, || netcdf::open(path))?;
        let mut skipped = Vec::new();
        let root = guarded(path, || match file.root() {
            Some(root) => Ok(group(&root, &mut skipped)),
            None => Err(netcdf::Error::Str("not a NetCDF-4 file".into())),
        })?;
        if let Some(first) = skipped.first() {
            log::warn!(
                "netcdf file '{path}': {} attribute(s) of a user-defined type cannot be decoded by the NetCDF C bindings and are left out (first: '{first}')",
                skipped.len()
            );
        }
        Ok(Self {
            file: Some(file),
            root,
        })
    }

    /// The root group.
    pub(crate) fn root(&self) -> &NcGroup {
        &self.root
    }

    /// Reads a hyperslab of `var` (at `name`, its path from the root group).
    pub(crate) fn read_slab(
        &self,
        path: &str,
        name: &str,
        var: &NcVariable,
        sel: &NcSliceInfo,
    ) -> Result<ArrayRef> {
        quiet();
        let Some(handle) = self
            .file
            .as_ref()
            .and_then(|file| catch_unwind(AssertUnwindSafe(|| file.variable(name))).ok())
            .flatten()
        else {
            return plan_err!("no variable \"{name}\" in '{path}'");
        };
        let ranges = slab_ranges(&var.shape(), sel);
        let mut extents = Vec::with_capacity(ranges.len());
        for (start, end, step) in &ranges {
            let (Ok(start), Ok(end), Ok(stride)) = (
                usize::try_from(*start),
                usize::try_from((*end).max(*start)),
                isize::try_from(*step),
            ) else {
                return exec_err!("hyperslab of \"{name}\" in '{path}' is out of range");
            };
            extents.push(netcdf::Extent::SliceEnd { start, end, stride });
        }
        let empty = ranges.iter().any(|(start, end, _)| end <= start);
        macro_rules! read {
            ($t:ty, $arr:ty) => {{
                let values: Vec<$t> = if empty {
                    Vec::new()
                } else {
                    guarded(path, || handle.get_values::<$t, _>(extents.as_slice()))?
                };
                Arc::new(<$arr>::from(values)) as ArrayRef
            }};
        }
        Ok(match var.dtype {
            NcType::Byte => read!(i8, Int8Array),
            NcType::UByte => read!(u8, UInt8Array),
            NcType::Short => read!(i16, Int16Array),
            NcType::UShort => read!(u16, UInt16Array),
            NcType::Int => read!(i32, Int32Array),
            NcType::UInt => read!(u32, UInt32Array),
            NcType::Int64 => read!(i64, Int64Array),
            NcType::UInt64 => read!(u64, UInt64Array),
            NcType::Float => read!(f32, Float32Array),
            NcType::Double => read!(f64, Float64Array),
            NcType::String => {
                let shape = var.shape();
                let mut values = Vec::new();
                for flat in slab_indices(&shape, sel) {
                    let index = unflatten(flat, &shape);
                    values.push(guarded(path, || handle.get_string(index.as_slice()))?);
                }
                Arc::new(StringArray::from(values)) as ArrayRef
            }
            ref other => {
                return plan_err!("variable \"{name}\" in '{path}' has unsupported type {other:?}");
            }
        })
    }
}

/// The multi-index of flat (C order) index `flat` in an array of `shape`.
fn unflatten(mut flat: usize, shape: &[u64]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (k, size) in shape.iter().enumerate().rev() {
        let size = usize::try_from(*size).unwrap_or(usize::MAX).max(1);
        index[k] = flat % size;
        flat /= size;
    }
    index
}

fn group(g: &netcdf::Group<'_>, skipped: &mut Vec<String>) -> NcGroup {
    let variables = g
        .variables()
        .map(|v| {
            let name = v.name();
            let dimensions: Vec<NcDimension> = v.dimensions().iter().map(dimension).collect();
            NcVariable {
                is_record_var: dimensions.first().is_some_and(|d| d.is_unlimited),
                dimensions,
                dtype: nc_type(&v.vartype()),
                attributes: attributes(v.attributes(), &name, skipped),
                name,
                data_offset: 0,
                _data_size: 0,
                record_size: 0,
            }
        })
        .collect();
    NcGroup {
        name: g.name(),
        dimensions: g.dimensions().map(|d| dimension(&d)).collect(),
        variables,
        attributes: attributes(g.attributes(), "", skipped),
        groups: g.groups().map(|sub| group(&sub, skipped)).collect(),
    }
}

fn dimension(d: &netcdf::Dimension<'_>) -> NcDimension {
    NcDimension {
        name: d.name(),
        size: d.len() as u64,
        is_unlimited: d.is_unlimited(),
    }
}

/// The attributes the bindings can decode; the names of the others go to `skipped`
/// (`var@attr`, or `attr` for group attributes).
fn attributes<'a>(
    attrs: impl Iterator<Item = netcdf::Attribute<'a>>,
    owner: &str,
    skipped: &mut Vec<String>,
) -> Vec<NcAttribute> {
    let mut out = Vec::new();
    for a in attrs {
        match a.value() {
            Ok(value) => out.push(NcAttribute {
                name: a.name().to_string(),
                value: attr_value(value),
            }),
            Err(_) if owner.is_empty() => skipped.push(a.name().to_string()),
            Err(_) => skipped.push(format!("{owner}@{}", a.name())),
        }
    }
    out
}

fn attr_value(v: AttributeValue) -> NcAttrValue {
    use AttributeValue as A;
    match v {
        A::Uchar(x) => NcAttrValue::UBytes(vec![x]),
        A::Uchars(x) => NcAttrValue::UBytes(x),
        A::Schar(x) => NcAttrValue::Bytes(vec![x]),
        A::Schars(x) => NcAttrValue::Bytes(x),
        A::Ushort(x) => NcAttrValue::UShorts(vec![x]),
        A::Ushorts(x) => NcAttrValue::UShorts(x),
        A::Short(x) => NcAttrValue::Shorts(vec![x]),
        A::Shorts(x) => NcAttrValue::Shorts(x),
        A::Uint(x) => NcAttrValue::UInts(vec![x]),
        A::Uints(x) => NcAttrValue::UInts(x),
        A::Int(x) => NcAttrValue::Ints(vec![x]),
        A::Ints(x) => NcAttrValue::Ints(x),
        A::Ulonglong(x) => NcAttrValue::UInt64s(vec![x]),
        A::Ulonglongs(x) => NcAttrValue::UInt64s(x),
        A::Longlong(x) => NcAttrValue::Int64s(vec![x]),
        A::Longlongs(x) => NcAttrValue::Int64s(x),
        A::Float(x) => NcAttrValue::Floats(vec![x]),
        A::Floats(x) => NcAttrValue::Floats(x),
        A::Double(x) => NcAttrValue::Doubles(vec![x]),
        A::Doubles(x) => NcAttrValue::Doubles(x),
        A::Str(x) => NcAttrValue::Chars(x),
        A::Strs(x) => NcAttrValue::Strings(x),
    }
}

/// The netcdf-reader type of a C library type.
fn nc_type(t: &NcVariableType) -> NcType {
    match t {
        NcVariableType::Int(i) => match i {
            IntType::I8 => NcType::Byte,
            IntType::U8 => NcType::UByte,
            IntType::I16 => NcType::Short,
            IntType::U16 => NcType::UShort,
            IntType::I32 => NcType::Int,
            IntType::U32 => NcType::UInt,
            IntType::I64 => NcType::Int64,
            IntType::U64 => NcType::UInt64,
        },
        NcVariableType::Float(FloatType::F32) => NcType::Float,
        NcVariableType::Float(FloatType::F64) => NcType::Double,
        NcVariableType::String => NcType::String,
        NcVariableType::Char => NcType::Char,
        NcVariableType::Compound(c) => NcType::Compound {
            size: u32::try_from(c.size).unwrap_or(u32::MAX),
            fields: c
                .fields
                .iter()
                .map(|f| NcCompoundField {
                    name: f.name.clone(),
                    offset: f.offset as u64,
                    dtype: match &f.arraydims {
                        Some(dims) => NcType::Array {
                            base: Box::new(nc_type(&f.basetype)),
                            dims: dims.iter().map(|d| *d as u64).collect(),
                        },
                        None => nc_type(&f.basetype),
                    },
                })
                .collect(),
        },
        NcVariableType::Enum(e) => {
            let (base, values): (NcType, Vec<NcIntegerValue>) = match &e.fieldvalues {
                EnumTypeValues::I8(v) => (
                    NcType::Byte,
                    v.iter().map(|x| NcIntegerValue::I8(*x)).collect(),
                ),
                EnumTypeValues::U8(v) => (
                    NcType::UByte,
                    v.iter().map(|x| NcIntegerValue::U8(*x)).collect(),
                ),
                EnumTypeValues::I16(v) => (
                    NcType::Short,
                    v.iter().map(|x| NcIntegerValue::I16(*x)).collect(),
                ),
                EnumTypeValues::U16(v) => (
                    NcType::UShort,
                    v.iter().map(|x| NcIntegerValue::U16(*x)).collect(),
                ),
                EnumTypeValues::I32(v) => (
                    NcType::Int,
                    v.iter().map(|x| NcIntegerValue::I32(*x)).collect(),
                ),
                EnumTypeValues::U32(v) => (
                    NcType::UInt,
                    v.iter().map(|x| NcIntegerValue::U32(*x)).collect(),
                ),
                EnumTypeValues::I64(v) => (
                    NcType::Int64,
                    v.iter().map(|x| NcIntegerValue::I64(*x)).collect(),
                ),
                EnumTypeValues::U64(v) => (
                    NcType::UInt64,
                    v.iter().map(|x| NcIntegerValue::U64(*x)).collect(),
                ),
            };
            NcType::Enum {
                base: Box::new(base),
                members: e
                    .fieldnames
                    .iter()
                    .zip(values)
                    .map(|(name, value)| NcEnumMember {
                        name: name.clone(),
                        value,
                    })
                    .collect(),
            }
        }
        NcVariableType::Opaque(o) => NcType::Opaque {
            size: u32::try_from(o.size).unwrap_or(u32::MAX),
            tag: o.name.clone(),
        },
        NcVariableType::Vlen(v) => NcType::VLen {
            base: Box::new(nc_type(&v.basetype)),
        },
    }
}
