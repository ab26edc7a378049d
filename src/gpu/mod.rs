//! GPU compute (feature `gpu`, DESIGN.md §4): wgpu compute shaders for array kernels, each
//! a `kernels/<k>.rs` + `<k>.wgsl` pair with a CPU twin it is tested against. `device.rs`
//! finds and opens the adapter once per process; `buffer.rs` moves data and turns device
//! errors into query errors. Where work runs is decided by `quiver.gpu` (see
//! `placement.rs`); without an adapter the CPU path runs.

mod buffer;
pub mod device;
pub(crate) mod kernels;

pub use device::{GpuInfo, info};
