//! quiver-udfs
