#!/usr/bin/env bash
# The cost of distribution, measured on one machine: the same queries on the local engine
# and on a Ballista cluster of 1 and 2 executors (processes on loopback), over a synthetic
# multi-file cube (several GB, generated) and the 61 course books. Prints one JSON line per
# (workload, setup) in the peers' format, with the setup in the "tool" field, and a table.
#
#   benches/cluster.sh [RESULTS.jsonl]
#   RUNS=3 CUBE_STEPS=2880 SLOTS=2 benches/cluster.sh
#
# Setups: `local` (the embedded engine, dense aggregation on), `local-hash` (the embedded
# engine with the dense aggregation off: the hash aggregation a cluster runs), `cNxS` (a
# scheduler and N executors of S slots each). Environment: RUNS (timed runs after one
# warm-up, default 3), CUBE_STEPS (monthly 360 x 720 float32 steps, default 2880 = 3.0 GB
# in 240 files), CUBE (its folder, default $PEER_DATA/cube-cluster), SLOTS (tasks per
# executor, default: the cores), SETUPS (default "local local-hash c1 c2"), BOOKS (default
# ../shared/data/course/books), PYTHON (needs numpy and netCDF4 to generate the cube),
# CARGO_TARGET_DIR (as for any cargo command).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PY=${PYTHON:-python3}
RUNS=${RUNS:-3}
SLOTS=${SLOTS:-$(nproc)}
SETUPS=${SETUPS:-local local-hash c1 c2}
export PEER_DATA=${PEER_DATA:-/tmp/peer-data}
CUBE=${CUBE:-$PEER_DATA/cube-cluster}
CUBE_STEPS=${CUBE_STEPS:-2880}
BOOKS=$(cd "${BOOKS:-$ROOT/../shared/data/course/books}" && pwd)
mkdir -p "${PEER_RESULTS:=/tmp/peer-results}"
OUT=${1:-$PEER_RESULTS/cluster-$(date +%Y%m%d-%H%M%S).jsonl}

# Build first, so that compiling does not overlap any measurement.
(cd "$ROOT" && cargo build --release --features cluster --bin quiver -q)
QUIVER="${CARGO_TARGET_DIR:-$ROOT/target}/release/quiver"

if [ "$(find "$CUBE" -name 'cube_*.nc' 2>/dev/null | wc -l)" -ne $(((CUBE_STEPS + 11) / 12)) ]; then
    echo "generating the cube: $CUBE_STEPS steps in $CUBE"
    rm -rf "$CUBE"
    "$PY" "$HERE/workloads/make_cube.py" --steps "$CUBE_STEPS" --out "$CUBE"
fi

declare -A SQL=(
    [cube.grid_mean]="SELECT lat, lon, avg(tas) AS m FROM '$CUBE/cube_*.nc' GROUP BY lat, lon ORDER BY lat, lon"
    [cube.month_clim]="SELECT date_part('month', time) AS mo, avg(tas) AS m FROM '$CUBE/cube_*.nc' GROUP BY 1 ORDER BY 1"
    [books.wordcount]="SELECT w, count(*) AS n FROM (SELECT unnest(tokenize(content)) AS w FROM read_text('$BOOKS/*.txt')) GROUP BY w ORDER BY n DESC, w LIMIT 20"
)

PIDS=()
stop_cluster() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap stop_cluster EXIT

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts a scheduler and $1 executors of $SLOTS slots; sets ADDR once all have registered
# (the scheduler logs each registration request).
start_cluster() {
    local executors=$1 log
    log=$(mktemp)
    ADDR=127.0.0.1:$(free_port)
    QUIVER_LOG=info "$QUIVER" cluster scheduler --bind "$ADDR" 2>"$log" &
    PIDS+=($!)
    until "$PY" -c "import socket; socket.create_connection(('127.0.0.1', ${ADDR#*:}), 1)" 2>/dev/null; do sleep 0.1; done
    for _ in $(seq "$executors"); do
        "$QUIVER" cluster executor --scheduler "$ADDR" --bind "127.0.0.1:$(free_port)" \
            --grpc-port "$(free_port)" --slots "$SLOTS" 2>/dev/null &
        PIDS+=($!)
    done
    local waited=0
    until [ "$(grep -c 'Received register executor request' "$log")" -ge "$executors" ]; do
        sleep 0.2
        waited=$((waited + 1))
        [ $waited -lt 300 ] || { echo "executors did not register:"; cat "$log"; exit 1; }
    done
}

# Times `quiver ARGS -c SQL` RUNS times after a warm-up; appends a JSON line to $OUT.
measure() {
    local setup=$1 workload=$2
    shift 2
    "$PY" - "$OUT" "$setup" "$workload" "$RUNS" "$QUIVER" "$@" -c "${SQL[$workload]}" <<'EOF'
import json, math, os, statistics, subprocess, sys, time
out, setup, workload, runs, *command = sys.argv[1:]
def run():
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{setup} {workload}: {done.stderr.strip()}")
    return elapsed, done.stdout
run()
times, text = [], ""
for _ in range(int(runs)):
    elapsed, text = run()
    times.append(elapsed)
lines = text.strip().splitlines()[1:]
values = []
for line in lines:
    for field in line.split(","):
        try:
            values.append(float(field))
        except ValueError:
            pass
checksum = f"rows={len(lines)};sum={math.fsum(values):.6g}"
record = {"tool": setup, "workload": workload, "median_s": statistics.median(times),
          "n": len(times), "times_s": times, "checksum": checksum,
          "loadavg1": os.getloadavg()[0]}
print(json.dumps(record))
with open(out, "a") as f:
    f.write(json.dumps(record) + "\n")
EOF
}

for setup in $SETUPS; do
    case $setup in
        local) args=() ;;
        local-hash) args=(-c "SET quiver.dense_aggregate = false") ;;
        c[0-9]*)
            start_cluster "${setup#c}"
            setup="c${setup#c}x$SLOTS"
            args=(--cluster "$ADDR") ;;
        *) echo "unknown setup $setup"; exit 2 ;;
    esac
    for workload in cube.grid_mean cube.month_clim books.wordcount; do
        measure "$setup" "$workload" "${args[@]}"
    done
    stop_cluster
done

echo
echo "results: $OUT ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$PY" - "$OUT" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
local = {r["workload"]: r["median_s"] for r in recs if r["tool"] == "local"}
print(f"| {'setup':<10} | {'workload':<16} | {'median':>9} | {'x local':>8} | checksum |")
print(f"|{'-'*12}|{'-'*18}|{'-'*10}:|{'-'*9}:|----------|")
for r in sorted(recs, key=lambda r: (r["workload"], r["median_s"])):
    ratio = f"{r['median_s'] / local[r['workload']]:.2f}x" if r["workload"] in local else "-"
    print(f"| {r['tool']:<10} | {r['workload']:<16} | {r['median_s']:>7.3f} s | {ratio:>8} | {r['checksum']} |")
EOF
