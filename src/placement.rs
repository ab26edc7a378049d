//! Where array work runs, from `quiver.gpu`: `off` is the CPU; `on` is the GPU for every
//! operator a GPU kernel can compute, and an error at planning without an adapter; `auto` is
//! the GPU only on a hardware adapter (not a software one such as lavapipe) and when the work
//! has at least `quiver.gpu_min_values` values. Dense aggregations are placed at planning
//! ([`place`]); the array table functions (`crate::arrays`) check `on` at planning and decide
//! `auto` at run time, when their input size is known ([`device_for`]).

use std::fmt;

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::{Result, plan_err};
use datafusion::physical_expr::PhysicalExpr;
use quiver_sql::{GpuMode, QuiverSqlOptions};

use crate::dense::spec::{AggKind, DenseSpec};

/// The device a dense aggregation reduces on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Device {
    Cpu,
    Gpu,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
        })
    }
}

/// `quiver.gpu` and `quiver.gpu_min_values` (off when the extension is absent).
pub(crate) fn gpu_setting(options: Option<&QuiverSqlOptions>) -> (GpuMode, usize) {
    options.map_or((GpuMode::Off, 0), |o| (o.gpu, o.gpu_min_values))
}

/// The device for the dense aggregation `spec` under `options`.
pub(crate) fn place(spec: &DenseSpec, options: Option<&QuiverSqlOptions>) -> Result<Device> {
    let (mode, min_values) = gpu_setting(options);
    if !gpu_computes(spec) {
        return Ok(Device::Cpu);
    }
    device_for(mode, min_values, values_read(spec))
}

/// The device for work of `values` values that a GPU kernel can compute: see the module docs.
pub(crate) fn device_for(mode: GpuMode, min_values: usize, values: u128) -> Result<Device> {
    if mode == GpuMode::Off {
        return Ok(Device::Cpu);
    }
    let adapter = hardware_adapter();
    match (mode, adapter) {
        (GpuMode::On, Ok(_)) => Ok(Device::Gpu),
        (GpuMode::On, Err(reason)) => {
            plan_err!("quiver.gpu = 'on' but no GPU adapter: {reason}")
        }
        (_, Ok(true)) if values >= min_values as u128 => Ok(Device::Gpu),
        _ => Ok(Device::Cpu),
    }
}

/// Whether the GPU kernels compute every aggregate of `spec`: inputs that are f32 variables
/// or expressions of them that kernel 2 translates, and no first/last value (which need
/// scan positions).
fn gpu_computes(spec: &DenseSpec) -> bool {
    let f32_inputs = spec
        .inputs
        .iter()
        .all(|e| gpu_translates(e, &spec.value_schema));
    let positional = spec
        .aggs
        .iter()
        .any(|a| matches!(a.kind, AggKind::First | AggKind::Last));
    !spec.inputs.is_empty() && f32_inputs && !positional
}

#[cfg(feature = "gpu")]
fn gpu_translates(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> bool {
    crate::gpu::kernels::expression::translate(e, schema).is_some()
}

/// Without the `gpu` feature nothing is placed on the GPU.
#[cfg(not(feature = "gpu"))]
fn gpu_translates(_: &Arc<dyn PhysicalExpr>, _: &Schema) -> bool {
    false
}

/// Elements in the selected ranges times the value inputs.
fn values_read(spec: &DenseSpec) -> u128 {
    let elements: u128 = spec.ranges.iter().map(|(a, b)| (b - a) as u128).product();
    elements * spec.inputs.len() as u128
}

/// Whether the adapter is hardware, or why there is none.
#[cfg(feature = "gpu")]
fn hardware_adapter() -> Result<bool, String> {
    crate::gpu::device::gpu().map(|g| g.info.hardware)
}

#[cfg(not(feature = "gpu"))]
fn hardware_adapter() -> Result<bool, String> {
    Err("quiver was built without the `gpu` feature".to_string())
}
