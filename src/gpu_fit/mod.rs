//! `curve_fit` on the GPU (kernel 3, feature `gpu`): with `quiver.gpu` on (or auto on a
//! hardware adapter), [`GpuFitRule`] gives the aggregates computing `curve_fit` of a named
//! model a batch solver on the GPU ([`solver::GpuFitSolver`]), so that all groups are fitted
//! in one dispatch per attempt when the aggregate emits, and puts a [`exec::GpuCurveFitExec`]
//! above them that shows the placement in `EXPLAIN` and counts GPU fits and fallbacks. The
//! grouping, the results and everything around the iterations stay the CPU `curve_fit`'s.
//! `list_curve_fit` (one fit per row) is placed the same way: a projection's batch of rows is
//! fitted in one dispatch per attempt.

mod exec;
mod kind;
mod list;
mod rule;
mod solver;

pub use rule::GpuFitRule;
