"""The accuracy floor of `curvefit.synthetic_1e5`: the error of `s` that the exact
least-squares optimum of every row has, beside scipy's default `curve_fit` (the peer).

An estimator cannot be more accurate on this data than the least-squares optimum it solves
for; a solver that stops early lands near it and its median error moves by chance, either
way. This script computes, per row of the peers' synthetic table (same seed):

  scipy      curve_fit(p0=[100, -1]) with default tolerances, as ../shared/bench/peers/curvefit.py
  optimum    the better (smaller residual sum of squares) of two refinements with
             ftol = xtol = gtol = 1e-15, one started from scipy's fit and one from the
             closed-form log-log fit

and prints the median (numpy's) and maximum |s - s_true| of each, and how far scipy's fits
are from the optimum. Compare quiver's `median_abs_err_s` (cargo bench ... curvefit) with
the optimum's. About 45 s on one core.

    PEER_DATA=/tmp/peer-data python benches/peers/curvefit_optimum.py [--rows 100000]
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

PEERS = Path(os.environ.get("PEERS", Path(__file__).resolve().parents[3] / "shared/bench/peers"))
sys.path.insert(0, str(PEERS))
from curvefit import numpy_loglog, powerlaw, synthetic  # noqa: E402

TIGHT = dict(ftol=1e-15, xtol=1e-15, gtol=1e-15, maxfev=5000)
X = np.arange(1, 11, dtype=np.float64)


def ssr(y, p):
    r = y - powerlaw(X, *p)
    return float(r @ r)


def fit(y, p0, **kw):
    try:
        p, _ = curve_fit(powerlaw, X, y, p0=p0, **kw)
        return p
    except RuntimeError:
        return np.array([np.nan, np.nan])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    df, truth = synthetic(args.rows)
    y = df.to_numpy()
    loglog_s = numpy_loglog(df)
    scipy_s = np.empty(len(y))
    best_s = np.empty(len(y))
    for i, row in enumerate(y):
        p = fit(row, [100, -1])
        scipy_s[i] = p[1]
        f = X ** loglog_s[i]
        start = [(row @ f) / (f @ f), loglog_s[i]]
        candidates = [fit(row, start, **TIGHT)]
        if np.all(np.isfinite(p)):
            candidates.append(fit(row, p, **TIGHT))
        candidates = [c for c in candidates if np.all(np.isfinite(c))]
        best_s[i] = min(candidates, key=lambda c: ssr(row, c))[1] if candidates else np.nan
    for name, s in (("scipy", scipy_s), ("optimum", best_s)):
        err = np.abs(s - truth)
        print(f"{name:8} median_abs_err_s={np.nanmedian(err):.10f} max_abs_err_s={np.nanmax(err):.6g}"
              f" off_by_more_than_0.5={int((err > 0.5).sum())}")
    ok = np.abs(scipy_s - truth) <= 0.5
    rel = np.abs(scipy_s - best_s)[ok] / np.abs(best_s[ok])
    print(f"scipy vs optimum (rows scipy fit): relative |s - s_opt| median={np.median(rel):.3g}"
          f" p99={np.quantile(rel, 0.99):.3g} max={rel.max():.3g}")


if __name__ == "__main__":
    main()
