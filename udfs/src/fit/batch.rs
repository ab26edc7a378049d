//! Many fits at once on a solver that runs Levenberg–Marquardt elsewhere, in one call per
//! attempt (quiver's GPU kernel, which this crate does not know). Everything around the
//! iterations is [`super::lm`]'s, shared rather than copied: which inputs cannot be fitted,
//! the starting points and their order, and the conclusion (plateau check, standard
//! errors, r², convergence flags, recomputed in f64 at the solver's parameters). A fit
//! that an attempt leaves unconverged goes to the next attempt, as on the CPU.

use std::fmt::Debug;

use super::bounds::Bounds;
use super::lm::{
    FitResult, Options, Problem, Run, attempts, conclude, is_degenerate, run_from, start_point,
};
use super::models::Model;

/// One Levenberg–Marquardt run to make: the points, the start and the initial damping.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The points' x, all finite.
    pub x: &'a [f64],
    /// The points' y, as many as x, all finite.
    pub y: &'a [f64],
    /// The starting parameters, finite and within the bounds.
    pub start: Vec<f64>,
    /// The initial damping.
    pub mu: f64,
}

impl Job<'_> {
    /// This run made on the CPU, as [`super::lm::fit`] makes it.
    pub fn run_on_cpu(&self, model: &Model, bounds: Option<&Bounds>, opts: &Options) -> Run {
        run_from(
            model,
            self.x,
            self.y,
            self.start.clone(),
            self.mu,
            bounds,
            opts,
        )
    }
}

/// A device that runs many Levenberg–Marquardt runs at once.
pub trait BatchSolver: Debug + Send + Sync {
    /// Whether this solver should take `fits` fits of `points` points in all (else the CPU
    /// fits them).
    fn accepts(&self, model: &Model, fits: usize, points: usize) -> bool;

    /// One run per job, in the jobs' order, each as [`super::lm::fit`]'s run from
    /// `job.start` with damping `job.mu`; `Err` when the device failed.
    fn solve(
        &self,
        model: &Model,
        bounds: Option<&Bounds>,
        opts: &Options,
        jobs: &[Job],
    ) -> Result<Vec<Run>, String>;
}

/// [`super::lm::fit`] of every point set in `sets` through `solver`.
pub fn fit_batch(
    solver: &dyn BatchSolver,
    model: &Model,
    sets: &[(&[f64], &[f64])],
    p0: Option<&[f64]>,
    bounds: Option<&Bounds>,
    opts: &Options,
) -> Result<Vec<FitResult>, String> {
    let problems: Vec<Option<Problem>> = sets
        .iter()
        .map(|(x, y)| (!is_degenerate(model, x, y, p0, bounds)).then(|| Problem::new(model, x, y)))
        .collect();
    let mut done: Vec<Option<FitResult>> = problems
        .iter()
        .map(|p| p.is_none().then(FitResult::degenerate))
        .collect();
    let mut autos: Vec<Option<Vec<f64>>> = vec![None; sets.len()];
    let mut iterations = vec![0; sets.len()];
    for &(from_p0, mu) in attempts(p0) {
        let mut pending = Vec::new();
        let mut jobs = Vec::new();
        for (i, problem) in problems.iter().enumerate() {
            let Some(problem) = problem.as_ref().filter(|_| done[i].is_none()) else {
                continue;
            };
            let start = start_point(problem, p0.filter(|_| from_p0), bounds, &mut autos[i]);
            // A start the CPU would not run from (lm's fit_from) is a failed attempt.
            if start.iter().all(|v| v.is_finite()) {
                pending.push(i);
                let (x, y) = sets[i];
                jobs.push(Job { x, y, start, mu });
            }
        }
        if jobs.is_empty() {
            break;
        }
        let runs = solver.solve(model, bounds, opts, &jobs)?;
        if runs.len() != jobs.len() {
            return Err(format!("{} runs for {} fits", runs.len(), jobs.len()));
        }
        for (i, run) in pending.into_iter().zip(runs) {
            let Some(problem) = &problems[i] else {
                continue;
            };
            let result = conclude(problem, None, run);
            iterations[i] += result.iterations;
            if result.converged {
                done[i] = Some(FitResult {
                    iterations: iterations[i],
                    ..result
                });
            }
        }
    }
    Ok(done
        .into_iter()
        .zip(iterations)
        .map(|(r, iterations)| {
            r.unwrap_or(FitResult {
                iterations,
                ..FitResult::degenerate()
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::lm::fit;

    /// The CPU's own runs through the batch path: the results must be the CPU's.
    #[derive(Debug)]
    struct CpuRuns;

    impl BatchSolver for CpuRuns {
        fn accepts(&self, _: &Model, _: usize, _: usize) -> bool {
            true
        }

        fn solve(
            &self,
            model: &Model,
            bounds: Option<&Bounds>,
            opts: &Options,
            jobs: &[Job],
        ) -> Result<Vec<Run>, String> {
            Ok(jobs
                .iter()
                .map(|j| j.run_on_cpu(model, bounds, opts))
                .collect())
        }
    }

    #[test]
    fn batch_of_cpu_runs_is_the_cpu_fit() {
        let x: Vec<f64> = (1..=12).map(f64::from).collect();
        let power: Vec<f64> = x
            .iter()
            .map(|x| 50.0 * x.powf(-0.7) + (x * 3.1).sin())
            .collect();
        let flat = vec![0.0; 12];
        let bad = vec![f64::NAN; 12];
        let sets: Vec<(&[f64], &[f64])> = vec![
            (&x, &power),
            (&x[..1], &power[..1]),
            (&x, &flat),
            (&x, &bad),
        ];
        let o = Options::default();
        for p0 in [None, Some(&[100.0, -1.0][..])] {
            let got = fit_batch(&CpuRuns, &Model::Power, &sets, p0, None, &o)
                .unwrap_or_else(|e| panic!("{e}"));
            for ((x, y), got) in sets.iter().zip(got) {
                assert_eq!(got, fit(&Model::Power, x, y, p0, None, &o));
            }
        }
    }
}
