//! The WGSL kernels, one `<k>.rs` (host side, tolerance, CPU twin) + `<k>.wgsl` per kernel.

pub(crate) mod grouped_reduce;
