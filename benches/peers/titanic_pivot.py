"""The titanic pivot workload for pandas and DuckDB, in the peers' JSON-line format
(../shared/bench/peers/_common.py), for comparison with quiver's `titanic.pivot`:

    pandas  df.pivot_table('Survived', index='Sex', columns='Pclass')   (aggfunc mean)
    duckdb  PIVOT titanic ON "Pclass" USING avg("Survived") GROUP BY "Sex" ORDER BY "Sex"

Data already in memory (loaded untimed, as titanic.py's groupby). Checksum: seq_checksum of
the cells row by row (Sex sorted), each row's Pclass columns in order.

    PEER_DATA=/tmp/peer-data python benches/peers/titanic_pivot.py -n 5 [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PEERS = Path(os.environ.get("PEERS", Path(__file__).resolve().parents[3] / "shared/bench/peers"))
sys.path.insert(0, str(PEERS))
from _common import emit, seq_checksum, timed  # noqa: E402

SQL_PIVOT = 'PIVOT titanic ON "Pclass" USING avg("Survived") GROUP BY "Sex" ORDER BY "Sex"'


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--out")
    parser.add_argument("--tools", default="pandas,duckdb")
    args = parser.parse_args()
    path = Path(os.environ.get("PEER_DATA", "/tmp/peer-data")) / "titanic_1e6.csv"
    records = []
    if "pandas" in args.tools:
        import pandas as pd

        df = pd.read_csv(path)
        med, times, table = timed(
            lambda: df.pivot_table("Survived", index="Sex", columns="Pclass"), args.n)
        records.append(emit("pandas", "titanic.pivot", med, times,
                            seq_checksum(table.to_numpy().ravel()), version=pd.__version__))
    if "duckdb" in args.tools:
        import duckdb

        con = duckdb.connect()
        con.execute(f"CREATE TABLE titanic AS SELECT * FROM read_csv('{path}')")
        med, times, rows = timed(lambda: con.execute(SQL_PIVOT).fetchall(), args.n)
        cells = [v for row in rows for v in row[1:]]
        records.append(emit("duckdb", "titanic.pivot", med, times, seq_checksum(cells),
                            version=duckdb.__version__))
    if args.out:
        import json

        with open(args.out, "a") as out:
            for record in records:
                out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
