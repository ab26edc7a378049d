//! [`GpuCurveFitKind`]: `curve_fit` whose fits carry a [`GpuFitSolver`]. Everything else —
//! name, arguments, result type, documentation, accumulators — is `CurveFitKind`'s, so the
//! aggregate [`GpuFitRule`](super::GpuFitRule) swaps in is the same function placed elsewhere.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Documentation;
use quiver_udfs::curve_fit::{CurveFitKind, CurveFitter};
use quiver_udfs::points::FitKind;

use super::solver::GpuFitSolver;

/// `curve_fit` with a GPU batch solver (one per planned aggregate).
#[derive(Debug, Clone)]
pub(crate) struct GpuCurveFitKind {
    pub(crate) solver: Arc<GpuFitSolver>,
}

impl PartialEq for GpuCurveFitKind {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.solver, &other.solver)
    }
}

impl Eq for GpuCurveFitKind {}

impl Hash for GpuCurveFitKind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.solver).hash(state);
    }
}

impl FitKind for GpuCurveFitKind {
    type Fitter = CurveFitter;
    const NAME: &'static str = CurveFitKind::NAME;
    const LIST_NAME: &'static str = CurveFitKind::LIST_NAME;
    const XY: (usize, usize) = CurveFitKind::XY;
    const ARITY: &'static [usize] = CurveFitKind::ARITY;
    const PARAMS: &'static [&'static str] = CurveFitKind::PARAMS;

    fn configure(&self, consts: &[Option<ScalarValue>]) -> Result<CurveFitter> {
        let solver: Arc<dyn quiver_udfs::fit::batch::BatchSolver> = self.solver.clone();
        Ok(CurveFitKind.configure(consts)?.with_solver(solver))
    }

    fn aggregate_doc(&self) -> &'static Documentation {
        CurveFitKind.aggregate_doc()
    }

    fn list_doc(&self) -> &'static Documentation {
        CurveFitKind.list_doc()
    }
}
