#!/usr/bin/env bash
# bench/reassign-compare.sh -- partition reassignment on a 3-node Runnel cluster vs a 3-node
# Apache Kafka 4.4.0 cluster on this machine: how long moving a partition of BENCH_MB megabytes
# from brokers {1,2} to {2,3} takes without a throttle, and back with BENCH_THROTTLE bytes/s,
# and the p99 latency of a steady acks=all producer (2,000 records/s) on that partition meanwhile
# (bench/reassign_measure.py does one cluster's moves).
#
# What this script owns: the procedure and its knobs. Both clusters are three combined
# broker+controller processes on 127.0.0.1 (bench/lib/clusters.sh); one measures at a time, the
# order alternating by repetition; the report is the median per cluster and move, in
# $BENCH_OUT/table.md.
#
# Usage (by hand, not by ./test.sh):  bench/reassign-compare.sh
# Knobs: BENCH_REPS (1) BENCH_MB (512) BENCH_THROTTLE (52428800) BENCH_KAFKA_HEAP (768m)
#        BENCH_OUT (new /tmp dir) RUNNEL_BIN (target/release/runnel) BENCH_BUILD (1)
# Needs the compat Python venv (confluent-kafka, kafka-python: compat/common.sh installs it).
# Loopback only; everything started here is stopped at exit.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=../compat/common.sh
source "$REPO/compat/common.sh"   # also sources compat/kafka-tools.sh
REPS=${BENCH_REPS:-1}
MB=${BENCH_MB:-512}
THROTTLE=${BENCH_THROTTLE:-52428800}
RUNNEL_BIN=${RUNNEL_BIN:-$REPO/target/release/runnel}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/runnel-reassign-bench.XXXXXX)}
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 3
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ${BENCH_BUILD:-1} == 1 ]]; then (cd "$REPO" && cargo build --release -p cli >&2) || exit 1; fi
kt_install >&2 || exit 1
rn_install_python >&2 && rn_install_kafka_python >&2 || exit 1
# shellcheck source=lib/clusters.sh
source "$HERE/lib/clusters.sh"

start_cluster runnel || { echo "runnel cluster did not start"; exit 1; }
start_cluster kafka || { echo "kafka cluster did not start"; exit 1; }
sleep 10
echo -e "cluster\tthrottle\tseconds\tp99_ms\tmax_ms\tsent\terrors" > "$OUT/results.tsv"
for rep in $(seq 1 "$REPS"); do
  order=(runnel kafka); (( rep % 2 == 0 )) && order=(kafka runnel)
  for name in "${order[@]}"; do
    boot_var="BOOT_$name"
    "$RN_PY" "$HERE/reassign_measure.py" --bootstrap "${!boot_var}" --tools "$REPO/compat/kafka-tools.sh" \
      --name "$name-$rep" --mb "$MB" --throttle "$THROTTLE" --out "$OUT" | tee -a "$OUT/results.tsv" >&2
  done
done
python3 - "$OUT/results.tsv" "$MB" > "$OUT/table.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(name, throttled, key):
    vals = [float(r[key]) for r in rows if r["cluster"].startswith(name)
            and (r["throttle"] != "none") == throttled and r[key] not in ("nan", "n/a")]
    return statistics.median(vals) if vals else float("nan")
print(f"| move of a {sys.argv[2]} MB partition, 3 nodes | Runnel | Kafka 4.4.0 | Runnel / Kafka |")
print("|---|---|---|---|")
for throttled, label in ((False, "no throttle"), (True, "throttled")):
    for key, unit in (("seconds", "s to complete"), ("p99_ms", "producer p99 ms"), ("max_ms", "producer max ms")):
        r, k = med("runnel", throttled, key), med("kafka", throttled, key)
        print(f"| {label}: {unit} | {r:.1f} | {k:.1f} | {r / k:.2f} |")
PY
cat "$OUT/table.md"
echo "results: $OUT" >&2
