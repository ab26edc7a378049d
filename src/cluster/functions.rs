//! quiver's functions whose instances carry planning-time state, as bytes and back.
//!
//! Functions travel by name and every process registers them, which is enough for all but
//! `curve_fit`: its planner (`quiver_udfs::FitPlanner`) gives the call its constant model,
//! and the result type (a struct naming the model's parameters) depends on it. A
//! `curve_fit` decoded by name alone would have another type than the plan around it, so
//! its constants travel with it (each a DataFusion protobuf `ScalarValue`).

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::AggregateUDF;
use prost::Message;
use quiver_udfs::curve_fit::CurveFitKind;
use quiver_udfs::fit_udf::FitAgg;

/// What starts quiver's bytes for a function (as for scans: no protobuf starts with 0).
const MARKER: &[u8] = b"\0quiver-fn1";

/// Appends `function`'s planning-time constants to `buf` if it has any; `false` if not.
pub(crate) fn encode_udaf(function: &AggregateUDF, buf: &mut Vec<u8>) -> Result<bool> {
    let Some(fit) = function.inner().downcast_ref::<FitAgg<CurveFitKind>>() else {
        return Ok(false);
    };
    let Some(constants) = fit.planned_constants() else {
        return Ok(false);
    };
    let encoded = constants
        .iter()
        .map(|value| {
            value
                .as_ref()
                .map(|v| {
                    datafusion_proto::protobuf::ScalarValue::try_from(v)
                        .map(|p| p.encode_to_vec())
                        .map_err(|e| {
                            DataFusionError::Plan(format!(
                                "{}: the constant {v} cannot be sent to the cluster: {e}",
                                function.name()
                            ))
                        })
                })
                .transpose()
        })
        .collect::<Result<Vec<Option<Vec<u8>>>>>()?;
    buf.extend_from_slice(MARKER);
    serde_json::to_writer(buf, &encoded)
        .map(|()| true)
        .map_err(|e| {
            DataFusionError::Internal(format!("encoding {}'s constants: {e}", function.name()))
        })
}

/// The function `name` in `buf` if quiver wrote it; `None` if not.
pub(crate) fn decode_udaf(name: &str, buf: &[u8]) -> Option<Result<Arc<AggregateUDF>>> {
    let json = buf.strip_prefix(MARKER)?;
    Some((|| {
        let unreadable = |e: String| {
            DataFusionError::Plan(format!(
                "{name}: its constants sent by the cluster could not be read ({e}): \
                 are all processes the same quiver version?"
            ))
        };
        let encoded: Vec<Option<Vec<u8>>> =
            serde_json::from_slice(json).map_err(|e| unreadable(e.to_string()))?;
        let constants = encoded
            .iter()
            .map(|bytes| {
                bytes
                    .as_deref()
                    .map(|b| {
                        let proto = datafusion_proto::protobuf::ScalarValue::decode(b)
                            .map_err(|e| unreadable(e.to_string()))?;
                        ScalarValue::try_from(&proto).map_err(|e| unreadable(e.to_string()))
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(FitAgg::with_constants(CurveFitKind, constants)))
    })())
}
