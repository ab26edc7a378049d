"""The db-benchmark pivot workload for pandas and DuckDB, in the peers' JSON-line format
(../shared/bench/peers/_common.py), for comparison with quiver's `dbbench.pivot`:

    pandas  df.pivot_table('v1', index='id2', columns='id1', aggfunc='sum')
    duckdb  PIVOT x ON id1 USING sum(v1) GROUP BY id2 ORDER BY id2

on G1_1e7_1e2_0_0.csv (../shared/bench/peers/dbbench_groupby.py --generate), loaded untimed
(pandas: read_csv; DuckDB: CREATE TABLE x AS SELECT * FROM read_csv(...)). Checksum:
seq_checksum of the cells row by row (id2 sorted), each row's id1 columns in order.

    PEER_DATA=/tmp/peer-data python benches/peers/dbbench_pivot.py -n 5 [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PEERS = Path(os.environ.get("PEERS", Path(__file__).resolve().parents[3] / "shared/bench/peers"))
sys.path.insert(0, str(PEERS))
from _common import emit, seq_checksum, timed  # noqa: E402

SQL_PIVOT = "PIVOT x ON id1 USING sum(v1) GROUP BY id2 ORDER BY id2"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--out")
    parser.add_argument("--tools", default="pandas,duckdb")
    args = parser.parse_args()
    path = Path(os.environ.get("PEER_DATA", "/tmp/peer-data")) / "G1_1e7_1e2_0_0.csv"
    records = []
    if "pandas" in args.tools:
        import pandas as pd

        df = pd.read_csv(path)
        med, times, table = timed(
            lambda: df.pivot_table("v1", index="id2", columns="id1", aggfunc="sum"), args.n)
        records.append(emit("pandas", "dbbench.pivot", med, times,
                            seq_checksum(table.to_numpy().ravel()), version=pd.__version__))
        del df
    if "duckdb" in args.tools:
        import duckdb

        con = duckdb.connect()
        con.execute(f"CREATE TABLE x AS SELECT * FROM read_csv('{path}')")
        med, times, rows = timed(lambda: con.execute(SQL_PIVOT).fetchall(), args.n)
        cells = [float(v) if v is not None else float("nan") for row in rows for v in row[1:]]
        records.append(emit("duckdb", "dbbench.pivot", med, times, seq_checksum(cells),
                            version=duckdb.__version__))
    if args.out:
        import json

        with open(args.out, "a") as out:
            for record in records:
                out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
