//! quiver's SQL options, set like DataFusion's own: `SET quiver.pivot_max_columns = 500`.
//!
//! They live in this crate because the planners here read them; the engine registers the
//! extension on every session.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;

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
    }
}

impl ConfigExtension for QuiverSqlOptions {
    const PREFIX: &'static str = "quiver";
}
