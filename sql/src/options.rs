//! quiver's SQL options, set like DataFusion's own: `SET quiver.pivot_max_columns = 500`.
//!
//! They live in this crate because the planners here read them; the engine registers the
//! extension on every session.

use std::fmt;
use std::str::FromStr;

use datafusion::common::config::ConfigExtension;
use datafusion::common::{DataFusionError, config_field, extensions_options};

extensions_options! {
    /// Options under the `quiver.` prefix.
    pub struct QuiverSqlOptions {
        /// The most columns one PIVOT may create (values times aggregates); a PIVOT that
        /// would create more fails with an error instead of building a huge plan.
        pub pivot_max_columns: usize, default = 1000
        /// Plan aggregates over NetCDF scans whose GROUP BY keys are dimension columns (or
        /// functions of one dimension) as a dense aggregation: group indices follow from the
        /// array indices, with no hash table. `false` plans them like any other aggregate.
        pub dense_aggregate: bool, default = true
        /// Where dense aggregations reduce: 'off' (CPU), 'on' (GPU, an error without an
        /// adapter) or 'auto' (a hardware GPU when there is one and the input has at least
        /// `quiver.gpu_min_values` values, else CPU).
        pub gpu: GpuMode, default = GpuMode::Off
        /// In `quiver.gpu = 'auto'`, the fewest values (elements times value inputs) a dense
        /// aggregation must read to run on the GPU.
        pub gpu_min_values: usize, default = 16_777_216
        /// Bytes of GPU memory that value columns a GPU dense aggregation read may keep
        /// occupying for later queries over the same files (least recently used dropped
        /// first; 0 keeps none).
        pub gpu_cache_bytes: usize, default = 1 << 30
    }
}

impl ConfigExtension for QuiverSqlOptions {
    const PREFIX: &'static str = "quiver";
}

/// `quiver.gpu`: where array kernels run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GpuMode {
    /// Always on the CPU.
    #[default]
    Off,
    /// On the GPU wherever a kernel exists; no adapter is an error.
    On,
    /// On a hardware GPU when one exists and the input is large enough.
    Auto,
}

impl FromStr for GpuMode {
    type Err = DataFusionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "false" => Ok(GpuMode::Off),
            "on" | "true" => Ok(GpuMode::On),
            "auto" => Ok(GpuMode::Auto),
            _ => Err(DataFusionError::Configuration(format!(
                "quiver.gpu must be 'off', 'on' or 'auto', not '{s}'"
            ))),
        }
    }
}

impl fmt::Display for GpuMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GpuMode::Off => "off",
            GpuMode::On => "on",
            GpuMode::Auto => "auto",
        })
    }
}

config_field!(GpuMode);

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::config::ConfigField;

    #[test]
    fn gpu_mode_parses_and_refuses_other_values() {
        let mut options = QuiverSqlOptions::default();
        assert_eq!(options.gpu, GpuMode::Off);
        options.set("gpu", "AUTO").unwrap();
        assert_eq!(options.gpu, GpuMode::Auto);
        options.set("gpu", "on").unwrap();
        assert_eq!(options.gpu.to_string(), "on");
        let err = options.set("gpu", "sometimes").unwrap_err().to_string();
        assert!(
            err.contains("'off', 'on' or 'auto', not 'sometimes'"),
            "{err}"
        );
        assert_eq!(options.gpu, GpuMode::On);
    }
}
