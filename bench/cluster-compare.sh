#!/usr/bin/env bash
# bench/cluster-compare.sh -- a 3-node Runnel cluster vs a 3-node Apache Kafka 4.4.0 cluster on
# this machine: replication factor 3, min.insync.replicas=2, acks=all produce with Kafka's own
# ProducerPerformance and the same client flags.
#
# What this script owns: the procedure and its knobs. Each cluster is three combined
# broker+controller processes on 127.0.0.1 (distinct ports, fresh temp dirs). Both clusters are
# up for the whole run and the repetitions alternate between them (so load drift on a shared
# machine hits both alike); one tool runs at a time. Each repetition produces BENCH_RECORDS
# records of BENCH_RECORD_SIZE bytes to a fresh topic with BENCH_PARTITIONS partitions. The
# report is the median records/s, MB/s, average and p99 latency per cluster and the ratio
# Runnel / Kafka, written to $BENCH_OUT/table.md.
#
# Usage (by hand, not by ./test.sh):  bench/cluster-compare.sh
# Knobs: BENCH_REPS (3) BENCH_RECORDS (500000) BENCH_RECORD_SIZE (1024) BENCH_PARTITIONS (6)
#        BENCH_PRODUCER_PROPS ("linger.ms=5 batch.size=131072") BENCH_KAFKA_HEAP (768m)
#        BENCH_OUT (new /tmp dir) RUNNEL_BIN (target/release/runnel) BENCH_BUILD (1)
# Loopback only; everything started here is stopped at exit.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=../compat/kafka-tools.sh
source "$REPO/compat/kafka-tools.sh"
REPS=${BENCH_REPS:-3}
RECORDS=${BENCH_RECORDS:-500000}
SIZE=${BENCH_RECORD_SIZE:-1024}
PARTITIONS=${BENCH_PARTITIONS:-6}
PROPS=${BENCH_PRODUCER_PROPS:-"linger.ms=5 batch.size=131072"}
RUNNEL_BIN=${RUNNEL_BIN:-$REPO/target/release/runnel}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/runnel-cluster-bench.XXXXXX)}
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

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_cluster NAME: three nodes; sets BOOT_<NAME>
start_cluster() {
  local name=$1 i voters="" boot="" cps=() kps=()
  for i in 1 2 3; do cps[$i]=$(port); kps[$i]=$(port); voters+="${voters:+,}$i@127.0.0.1:${kps[$i]}"; boot+="${boot:+,}127.0.0.1:${cps[$i]}"; done
  local cid=""
  [[ $name == kafka ]] && cid=$(kt_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  for i in 1 2 3; do
    local dir="$OUT/$name-$i"; mkdir -p "$dir"
    if [[ $name == runnel ]]; then
      "$RUNNEL_BIN" serve --override node.id=$i --override controller.quorum.voters="$voters" \
        --override listeners="PLAINTEXT://127.0.0.1:${cps[$i]},CONTROLLER://127.0.0.1:${kps[$i]}" \
        --override log.dirs="$dir/data" --override offsets.topic.replication.factor=3 \
        >"$dir/log" 2>&1 &
      PIDS+=($!)
    else
      cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${cps[$i]},CONTROLLER://127.0.0.1:${kps[$i]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
EOF
      kt_run kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" >"$dir/format.log" 2>&1 || return 1
      java -Xmx"${BENCH_KAFKA_HEAP:-768m}" -Xms"${BENCH_KAFKA_HEAP:-768m}" -XX:+UseG1GC \
        -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" -cp "$KT_LIB/*" kafka.Kafka "$dir/server.properties" >"$dir/log" 2>&1 &
      PIDS+=($!)
    fi
  done
  printf -v "BOOT_$name" '%s' "$boot"
  for i in 1 2 3; do kt_wait_port 127.0.0.1 "${cps[$i]}" 90 || return 1; done
}

start_cluster runnel || { echo "runnel cluster did not start"; exit 1; }
start_cluster kafka || { echo "kafka cluster did not start"; exit 1; }
sleep 10
echo -e "cluster\trep\trecords_per_s\tmb_per_s\tavg_ms\tp99_ms" > "$OUT/results.tsv"
read -r -a props <<< "$PROPS"
for rep in $(seq 1 "$REPS"); do
  order=(runnel kafka); (( rep % 2 == 0 )) && order=(kafka runnel)
  for name in "${order[@]}"; do
    boot_var="BOOT_$name"; boot=${!boot_var}
    topic="bench-$name-$rep"
    kt_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$boot" --create --topic "$topic" \
      --partitions "$PARTITIONS" --replication-factor 3 --config min.insync.replicas=2 >>"$OUT/tools.log" 2>&1
    sleep 3
    line=$(timeout 600 "$REPO/compat/kafka-tools.sh" run org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
      --num-records "$RECORDS" --record-size "$SIZE" --throughput -1 \
      --producer-props bootstrap.servers="$boot" acks=all enable.idempotence=true "${props[@]}" 2>>"$OUT/tools.log" | tail -1)
    echo "$name rep $rep: $line" | tee -a "$OUT/tools.log" >&2
    python3 - "$name" "$rep" "$line" >> "$OUT/results.tsv" <<'EOF'
import re, sys
name, rep, line = sys.argv[1:4]
m = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency.*?(\d+) ms 99th", line)
print("\t".join([name, rep] + (list(m.groups()) if m else ["n/a"] * 4)))
EOF
  done
done
python3 - "$OUT/results.tsv" > "$OUT/table.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for name in ("runnel", "kafka"):
    for key in ("records_per_s", "mb_per_s", "avg_ms", "p99_ms"):
        vals = [float(r[key]) for r in rows if r["cluster"] == name and r[key] != "n/a"]
        med[(name, key)] = statistics.median(vals) if vals else float("nan")
print("| 3 nodes, RF 3, acks=all | Runnel | Kafka 4.4.0 | Runnel / Kafka |")
print("|---|---|---|---|")
for key, label in (("records_per_s", "records/s"), ("mb_per_s", "MB/s"), ("avg_ms", "avg latency ms"), ("p99_ms", "p99 latency ms")):
    r, k = med[("runnel", key)], med[("kafka", key)]
    print(f"| {label} | {r:.1f} | {k:.1f} | {r / k:.2f} |")
EOF
cat "$OUT/table.md"
echo "results: $OUT" >&2
