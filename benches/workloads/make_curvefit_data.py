"""Writes the peers' synthetic curve-fit table (../shared/bench/peers/curvefit.py,
`synthetic`: rows y = A * x**s * exp(N(0, 0.05)), x = 1..10, seed 7) as CSV, with the true
exponent, so that quiver's `curvefit.synthetic_1e5` workload fits exactly the same rows.

    python3 benches/workloads/make_curvefit_data.py [--rows 100000] [--out $PEER_DATA]
"""
import argparse
import os
from pathlib import Path

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--out", default=os.environ.get("PEER_DATA", "/tmp/peer-data"))
    args = p.parse_args()
    rng = np.random.default_rng(7)
    rows = args.rows
    A = 10.0 ** rng.uniform(2.0, 4.85, rows)
    s = rng.uniform(-1.3, -0.3, rows)
    x = np.arange(1, 11, dtype=np.float64)
    y = A[:, None] * x[None, :] ** s[:, None] * np.exp(rng.normal(0.0, 0.05, (rows, 10)))
    out = Path(args.out) / f"curvefit_synthetic_{rows:.0e}.csv".replace("+0", "")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        f.write(",".join([f"word{i}" for i in range(1, 11)] + ["s_true"]) + "\n")
        for i in range(rows):
            f.write(",".join(repr(float(v)) for v in y[i]) + f",{float(s[i])!r}\n")
    print(out)


if __name__ == "__main__":
    main()
