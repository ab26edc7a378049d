#!/usr/bin/env bash
# Load on `quiver serve` with the real PostgreSQL client tools: pgbench with 16 clients on 2
# threads for 30 s (`-T`), in the simple and the extended protocol, running the course's
# climate queries (the transaction of tests/integration/pgbench.rs). Prints pgbench's TPS,
# the p50/p99 transaction latency from its per-transaction log, and the server's peak RSS.
#
#   benches/serve_load.sh [SECONDS]
#
# Needs a release build of the binary (`cargo build --release`; CARGO_TARGET_DIR as for any
# cargo command) and pgbench (Debian's `postgresql` package).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
COURSE=$(cd "$ROOT/../shared/data/course" && pwd)
SECONDS_EACH=${1:-30}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/quiver
[ -x "$BIN" ] || { echo "no release binary at $BIN: run cargo build --release" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/climate.sql" <<SQL
SELECT date_part('month', time) AS mo, avg(tas) FROM '$COURSE/tas1845.nc' GROUP BY 1 ORDER BY 1;
SELECT time, tas FROM read_netcdf('$COURSE/tas1846.nc', nearest => 'lat=59.33, lon=18.07');
SQL

export QUIVER_BENCH_PASSWORD=bench-password
"$BIN" serve --pg 127.0.0.1:0 --data-root "$COURSE" --user bench --password-env QUIVER_BENCH_PASSWORD \
    --max-connections 64 2> "$work/server.log" &
server=$!
for _ in $(seq 600); do
    port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$work/server.log" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "${port:-}" ] || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); server pid $server port $port"
for mode in simple extended; do
    (cd "$work" && rm -f pgbench_log.* &&
        PGPASSWORD=bench-password pgbench -n -c 16 -j 2 -T "$SECONDS_EACH" -M "$mode" -l \
            -h 127.0.0.1 -p "$port" -U bench -f climate.sql postgres > "pgbench-$mode.txt")
    tps=$(grep -E '^tps' "$work/pgbench-$mode.txt" | head -1)
    failed=$(grep -E '^number of failed' "$work/pgbench-$mode.txt" || echo "failed: ?")
    # Per-transaction log lines: client id, transaction no, latency in microseconds, ...
    read -r n p50 p99 < <(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n |
        awk '{a[NR]=$1} END {print NR, a[int(NR*0.50)+1]/1000, a[int(NR*0.99)+1]/1000}')
    echo "$mode: $tps; $failed; $n transactions, latency p50 ${p50} ms, p99 ${p99} ms"
done
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' /proc/$server/status)"
