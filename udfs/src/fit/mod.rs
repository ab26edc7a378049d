//! Least-squares fitting shared by `curve_fit`, `polyfit` and `linregress`: models,
//! a Levenberg–Marquardt solver (and its batched form for other devices), small linear algebra and Student's t distribution.

pub mod batch;
pub mod bounds;
pub mod expr;
pub mod linalg;
pub mod lm;
pub mod models;
pub mod stats;
