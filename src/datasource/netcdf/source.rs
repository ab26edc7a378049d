//! One open NetCDF file behind the reader that could open it. The pure-Rust
//! `netcdf-reader` opens every file first. When it reports an HDF5 encoding it does not
//! support (committed, i.e. shared, datatypes in attributes: common in files with compound
//! types), a build with the cargo feature `libnetcdf` opens the file with the NetCDF C
//! library instead (`libnetcdf.rs`); a build without it fails with an error saying so.
//! Both readers present netcdf-reader's metadata model (`NcGroup`, `NcVariable`), so the
//! table logic (`schema.rs`, `info.rs`) never asks which one read a file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::datasource::array::flat_indices;
use crate::datasource::remote::{RemoteStorage, is_remote};
use datafusion::arrow::array::{
    ArrayRef, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    StringArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use netcdf_reader::{
    NcFile, NcFormat, NcGroup, NcMetadataMode, NcOpenOptions, NcSliceInfo, NcSliceInfoElem, NcType,
    NcVariable,
};

/// An open NetCDF file and the reader that reads it.
pub(crate) enum NcSource {
    /// Read by the pure-Rust netcdf-reader.
    Pure(NcFile),
    /// Read by the NetCDF C library (feature `libnetcdf`).
    #[cfg(feature = "libnetcdf")]
    Lib(Arc<super::libnetcdf::LibFile>),
}

impl std::fmt::Debug for NcSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reader())
    }
}

/// Why netcdf-reader could not do something: its error, or a panic inside it.
enum Failure {
    Error(netcdf_reader::Error),
    Panic,
}

impl Failure {
    fn into_error(self, path: &str) -> DataFusionError {
        match self {
            Failure::Error(netcdf_reader::Error::Io(e))
                if e.kind() == std::io::ErrorKind::NotFound =>
            {
                DataFusionError::Plan(format!("no such file: '{path}'"))
            }
            Failure::Error(e) => DataFusionError::Execution(format!(
                "cannot read netcdf file '{path}': {}",
                lower_first(&e.to_string())
            )),
            Failure::Panic => DataFusionError::Execution(format!(
                "cannot read netcdf file '{path}': the reader panicked"
            )),
        }
    }

    /// A valid file in an encoding netcdf-reader does not support (as opposed to a corrupt
    /// one): the case the C library may read.
    fn is_unsupported_encoding(&self) -> bool {
        fn hdf5(e: &hdf5_reader::error::Error) -> bool {
            match e {
                hdf5_reader::error::Error::UnsupportedEncoding(_) => true,
                hdf5_reader::error::Error::Context { source, .. } => hdf5(source),
                _ => false,
            }
        }
        matches!(self, Failure::Error(netcdf_reader::Error::Hdf5(e)) if hdf5(e))
    }
}

fn attempt<T>(f: impl FnOnce() -> netcdf_reader::Result<T>) -> std::result::Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Error(e)),
        Err(_) => Err(Failure::Panic),
    }
}

/// Runs a netcdf-reader call, turning its error or panic into an error that names the file.
fn guarded<T>(path: &str, f: impl FnOnce() -> netcdf_reader::Result<T>) -> Result<T> {
    attempt(f).map_err(|e| e.into_error(path))
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if !s.starts_with("HDF5") && !s.starts_with("I/O") => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => s.to_string(),
    }
}

impl NcSource {
    /// Opens `path`: with netcdf-reader, strictly first, then in lossy metadata mode when an
    /// attribute cannot be decoded (a warning names it); with the C library when
    /// netcdf-reader reports an unsupported encoding and the build has `libnetcdf`.
    pub(crate) fn open(path: &str) -> Result<Self> {
        let remote = match is_remote(path) {
            true => Some(RemoteStorage::open(path)?),
            false => None,
        };
        let open = |mode: NcMetadataMode| -> std::result::Result<NcFile, Failure> {
            let options = NcOpenOptions {
                chunk_cache_bytes: 0,
                metadata_mode: mode,
                ..Default::default()
            };
            let file = match &remote {
                Some(storage) => {
                    attempt(|| NcFile::from_storage_with_options(Arc::clone(storage), options))?
                }
                None => attempt(|| NcFile::open_with_options(path, options))?,
            };
            attempt(|| file.variables().map(|_| ()))?;
            Ok(file)
        };
        let strict = match open(NcMetadataMode::Strict) {
            Ok(file) => return Ok(NcSource::Pure(file)),
            Err(strict) => strict,
        };
        if strict.is_unsupported_encoding() {
            return Self::fallback(path, strict.into_error(path));
        }
        let strict = strict.into_error(path);
        if !strict.to_string().contains("could not be decoded") {
            return Err(strict);
        }
        match open(NcMetadataMode::Lossy) {
            Ok(file) => {
                let reason = strict.strip_backtrace();
                let reason = reason.trim_start_matches("Execution error: cannot read ");
                log::warn!("{reason}; attributes that cannot be decoded are left out");
                Ok(NcSource::Pure(file))
            }
            Err(_) => Err(strict),
        }
    }

    /// The C library's turn at a file netcdf-reader cannot decode.
    #[cfg(feature = "libnetcdf")]
    fn fallback(path: &str, pure: DataFusionError) -> Result<Self> {
        if is_remote(path) {
            return exec_err!(
                "{} (the NetCDF C library, which reads such files, reads local files only)",
                pure.strip_backtrace()
                    .trim_start_matches("Execution error: ")
            );
        }
        match super::libnetcdf::LibFile::open(path) {
            Ok(file) => {
                log::debug!("netcdf file '{path}' is read with the NetCDF C library: {pure}");
                Ok(NcSource::Lib(file))
            }
            Err(lib) => exec_err!(
                "{}; the NetCDF C library cannot read it either: {}",
                pure.strip_backtrace()
                    .trim_start_matches("Execution error: "),
                lib.strip_backtrace()
                    .trim_start_matches("Execution error: ")
            ),
        }
    }

    #[cfg(not(feature = "libnetcdf"))]
    fn fallback(_path: &str, pure: DataFusionError) -> Result<Self> {
        exec_err!(
            "{} (netcdf-reader does not support this encoding; a quiver built with `--features libnetcdf` reads such files with the NetCDF C library)",
            pure.strip_backtrace()
                .trim_start_matches("Execution error: ")
        )
    }

    /// Which reader reads the file: `netcdf-reader` or `libnetcdf`.
    pub(crate) fn reader(&self) -> &'static str {
        match self {
            NcSource::Pure(_) => "netcdf-reader",
            #[cfg(feature = "libnetcdf")]
            NcSource::Lib(_) => "libnetcdf",
        }
    }

    /// The file's format (NetCDF-4 for every file the C library reads: the fallback is
    /// only taken for HDF5 encodings).
    pub(crate) fn format(&self) -> NcFormat {
        match self {
            NcSource::Pure(file) => file.format(),
            #[cfg(feature = "libnetcdf")]
            NcSource::Lib(_) => NcFormat::Nc4,
        }
    }

    /// The root group with everything below it.
    pub(crate) fn root(&self, path: &str) -> Result<&NcGroup> {
        match self {
            NcSource::Pure(file) => guarded(path, || file.root_group()),
            #[cfg(feature = "libnetcdf")]
            NcSource::Lib(file) => Ok(file.root()),
        }
    }

    /// The variable at `name` (its path from the root group).
    pub(crate) fn variable(&self, path: &str, name: &str) -> Result<&NcVariable> {
        match self.root(path)?.variable(name) {
            Some(v) => Ok(v),
            None => plan_err!("no variable \"{name}\" in '{path}'"),
        }
    }

    /// Reads a hyperslab of `var` (at `name`, its path from the root group) as an Arrow
    /// array of the variable's own type.
    pub(crate) fn read_slab(
        &self,
        path: &str,
        name: &str,
        var: &NcVariable,
        sel: &NcSliceInfo,
    ) -> Result<ArrayRef> {
        match self {
            NcSource::Pure(file) => read_pure(file, path, name, var, sel),
            #[cfg(feature = "libnetcdf")]
            NcSource::Lib(file) => file.read_slab(path, name, var, sel),
        }
    }
}

fn read_pure(
    file: &NcFile,
    path: &str,
    name: &str,
    var: &NcVariable,
    sel: &NcSliceInfo,
) -> Result<ArrayRef> {
    macro_rules! read {
        ($t:ty, $arr:ty) => {{
            let values = guarded(path, || file.read_variable_slice::<$t>(name, sel))?
                .into_raw_vec_and_offset()
                .0;
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
            let all = guarded(path, || file.read_variable_as_strings(name))?;
            let picked = slab_indices(&var.shape(), sel)
                .into_iter()
                .map(|i| all.get(i).cloned())
                .collect::<Vec<_>>();
            Arc::new(StringArray::from(picked)) as ArrayRef
        }
        ref other => {
            return plan_err!("variable \"{name}\" in '{path}' has unsupported type {other:?}");
        }
    })
}

/// The `(start, end, step)` a hyperslab selects along each dimension of an array of
/// `shape`, clamped to it.
pub(crate) fn slab_ranges(shape: &[u64], sel: &NcSliceInfo) -> Vec<(u64, u64, u64)> {
    shape
        .iter()
        .enumerate()
        .map(|(k, size)| match sel.selections.get(k) {
            Some(NcSliceInfoElem::Slice { start, end, step }) => {
                (*start, (*end).min(*size), (*step).max(1))
            }
            Some(NcSliceInfoElem::Index(i)) => (*i, (*i + 1).min(*size), 1),
            None => (0, *size, 1),
        })
        .collect()
}

/// Flat (C order) indices of the elements a hyperslab selects from an array of `shape`.
pub(crate) fn slab_indices(shape: &[u64], sel: &NcSliceInfo) -> Vec<usize> {
    flat_indices(shape, &slab_ranges(shape, sel))
}
