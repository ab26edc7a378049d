//! quiver-udfs

pub mod fill;
