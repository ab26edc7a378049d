#!/usr/bin/env bash
# Runs the peers' benchmark scripts and quiver's `workloads` bench back to back on this
# machine, appending all JSON lines to one file, and prints a table with the ratio of each
# tool to the fastest peer (tool other than quiver) of the same run.
#
#   benches/compare.sh [RESULTS.jsonl]
#   FAMILIES=titanic RUNS=5 benches/compare.sh
#
# Environment: PYTHON (default python3; needs the peers' packages, see
# ../shared/bench/peers/README.md), PEER_DATA (default /tmp/peer-data), PEER_RESULTS
# (default /tmp/peer-results), PEERS (default ../shared/bench/peers beside the repository),
# CARGO_TARGET_DIR (as for any cargo command), QUIVER_ARGS (extra arguments for the bench).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PEERS=${PEERS:-$ROOT/../shared/bench/peers}
PY=${PYTHON:-python3}
export PEER_DATA=${PEER_DATA:-/tmp/peer-data}
export PEER_RESULTS=${PEER_RESULTS:-/tmp/peer-results}
FAMILIES=${FAMILIES:-titanic}
RUNS=${RUNS:-5}
mkdir -p "$PEER_RESULTS"
OUT=${1:-$PEER_RESULTS/compare-$(date +%Y%m%d-%H%M%S).jsonl}

# Build first, so that compiling does not overlap any measurement.
(cd "$ROOT" && cargo bench --bench workloads --no-run -q)

rc=0
for family in ${FAMILIES//,/ }; do
    "$PY" "$PEERS/$family.py" -n "$RUNS" --out "$OUT" || rc=1
    # shellcheck disable=SC2086 # QUIVER_ARGS is a list of words
    (cd "$ROOT" && cargo bench --bench workloads -q -- --workloads "$family" -n "$RUNS" \
        --out "$OUT" ${QUIVER_ARGS:-}) || rc=1
done

echo
echo "results: $OUT ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$PY" - "$OUT" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
recs = [r for r in recs if "median_s" in r]
fams = {r["workload"] for r in recs if r["tool"] == "quiver"}
best = {}
for r in recs:
    if r["tool"] != "quiver":
        best[r["workload"]] = min(best.get(r["workload"], float("inf")), r["median_s"])
print(f"| {'tool':<10} | {'workload':<18} | {'median':>10} | {'x fastest peer':>14} | checksum |")
print(f"|{'-'*12}|{'-'*20}|{'-'*11}:|{'-'*15}:|----------|")
for w in sorted({r["workload"] for r in recs if r["workload"] in fams}):
    rows = sorted((r for r in recs if r["workload"] == w), key=lambda r: r["median_s"])
    checks = {r["checksum"] for r in rows}
    for r in rows:
        t = r["median_s"]
        med = f"{t:.3f} s" if t >= 0.01 else f"{t * 1000:.2f} ms"
        ratio = f"{t / best[w]:.2f}x" if w in best else "-"
        print(f"| {r['tool']:<10} | {w:<18} | {med:>10} | {ratio:>14} | {r['checksum']} |")
    print(f"| {'':<10} | {w:<18} | {'':>10} | {'':>14} | checksums {'agree' if len(checks) == 1 else 'DIFFER'} |")
EOF
exit $rc
