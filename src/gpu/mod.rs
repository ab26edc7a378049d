//! GPU compute (feature `gpu`, DESIGN.md §4): wgpu compute shaders for array kernels, each
//! a `kernels/<k>.rs` + `<k>.wgsl` pair with a CPU twin it is tested against. `device.rs`
//! finds and opens the adapter once per process; `buffer.rs` moves data and turns device
//! errors into query errors; `resident.rs` keeps read columns on the device for later
//! queries; `calibrate.rs` measures the size from which the GPU is faster
//! (`quiver --gpu-calibrate`). Where work runs is decided by `quiver.gpu` (see
//! `placement.rs`); without an adapter the CPU path runs.

pub(crate) mod buffer;
pub mod calibrate;
pub mod device;
pub(crate) mod kernels;
pub(crate) mod resident;

pub use calibrate::calibrate;
pub use device::{GpuInfo, info};
