"""Reference values for quiver's curve_fit tests, computed with scipy.

    python3 -m venv /tmp/fitvenv && /tmp/fitvenv/bin/pip install numpy scipy
    /tmp/fitvenv/bin/python tests/data/curvefit_reference.py ../shared/data/course/results.csv

Writes, next to this script:
  curvefit_results_csv.csv   per book of results.csv: power-law a, b as the course fits them
                             (scipy.optimize.curve_fit(powerlaw, x=1..10, row, p0=[100, -1]),
                             method 'lm'), and the same fit with tolerances 1e-15 (a_tight,
                             b_tight): the least-squares minimum to working precision
  curvefit_synthetic.csv     40 seeded synthetic rows (the peers' generator, seed 7, 40 rows)
                             y1..y10 and scipy's a, b (tight tolerances, p0 = [100, -1])
"""
import csv
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

warnings.simplefilter("ignore")
HERE = Path(__file__).parent
X = np.arange(1, 11, dtype=np.float64)


def powerlaw(x, a, b):
    return a * np.power(x, b)


def fit(row, tight):
    kw = dict(xtol=1e-15, ftol=1e-15, gtol=1e-15, maxfev=100000) if tight else {}
    p, _ = curve_fit(powerlaw, X, row, p0=[100, -1], bounds=(-np.inf, np.inf), **kw)
    return p


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/course/results.csv"
    with open(results) as f, open(HERE / "curvefit_results_csv.csv", "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["book", "a", "b", "a_tight", "b_tight"])
        total = []
        for row in csv.DictReader(f):
            y = np.array([float(row[f"word{i}"]) for i in range(1, 11)])
            a, b = fit(y, False)
            at, bt = fit(y, True)
            total.append(b)
            w.writerow([row["Book"], repr(float(a)), repr(float(b)), repr(float(at)), repr(float(bt))])
    print(f"results.csv: {len(total)} rows, sum_s={sum(total):.6g}")
    rng = np.random.default_rng(7)
    rows = 40
    amp = 10.0 ** rng.uniform(2.0, 4.85, rows)
    s = rng.uniform(-1.3, -0.3, rows)
    y = amp[:, None] * X[None, :] ** s[:, None] * np.exp(rng.normal(0.0, 0.05, (rows, 10)))
    with open(HERE / "curvefit_synthetic.csv", "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["id"] + [f"y{i}" for i in range(1, 11)] + ["a", "b"])
        for i in range(rows):
            a, b = fit(y[i], True)
            w.writerow([i + 1] + [repr(float(v)) for v in y[i]] + [repr(float(a)), repr(float(b))])


if __name__ == "__main__":
    main()
