#!/usr/bin/env bash
# bench/cli-bench.sh -- is `runnel bench` the bottleneck? `runnel bench produce|consume` against
# Kafka's own kafka-producer-perf-test / kafka-consumer-perf-test (ProducerPerformance and
# ConsumerPerformance from the Kafka 4.4.0 jars of compat/kafka-tools.sh), both against the same
# Runnel broker (target/release/runnel serve, single node, fresh temp dir, free 127.0.0.1 port,
# default config), with client and broker CPU seconds for every run.
#
# What this script owns: the procedure and its knobs. For each repetition, each record size
# (BENCH_RECORD_SIZES) and each partition count (BENCH_PARTITIONS), in this order:
#   1. produce: a fresh topic per run; `runnel bench produce` and ProducerPerformance, each
#      BENCH_MB MiB of records (BENCH_MB * 2^20 / size records) at acks=all, batch.size
#      BENCH_BATCH_SIZE, everything else at each tool's defaults (both: linger 5 ms, 5 requests
#      in flight); the two tools' order alternates between repetitions
#   2. consume (BENCH_ONLY has consume): the topic `runnel bench produce` just wrote, read from the
#      beginning by `runnel bench consume` and by ConsumerPerformance (a new group; its
#      fetch.MB.sec, which leaves out the group join), order alternating; then both topics are
#      deleted, so the disk holds at most two runs' data
# Each run records the tool's own MB/s (MiB/s: both tools divide by 2^20), the client's wall,
# user and system CPU seconds (/usr/bin/time; a JVM's include its start-up and JIT) and the
# broker's user+system CPU seconds over the run (/proc/PID/stat before and after). The table
# shows medians per configuration and runnel bench / Kafka tool ratios.
#
# Usage (from anywhere; by hand, not by ./test.sh; about 6 minutes with the defaults):
#   bench/cli-bench.sh
# Knobs (environment):
#   BENCH_REPS (3)  BENCH_MB (512)  BENCH_RECORD_SIZES ("100 1024")  BENCH_PARTITIONS ("1 8")
#   BENCH_BATCH_SIZE (16384)  BENCH_ONLY ("produce consume")
#   BENCH_BUILD (1)    run `cargo build --release -p cli` first (CARGO_TARGET_DIR is honoured)
#   BENCH_TOOL_TIMEOUT (300)    seconds before one tool run is killed (recorded as failed)
#   BENCH_CLIENT_JVM_OPTS (-Xmx512m)    the Kafka tools' JVM flags
#   BENCH_OUT (new /tmp dir)    logs, results.tsv and table.md are kept there
#   RUNNEL_BIN (target/release/runnel, or $CARGO_TARGET_DIR/release/runnel)
# Loopback only. Everything started here is stopped at exit (trap); the data dir is removed.

set -uo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH_DIR
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../compat/kafka-tools.sh
source "$REPO/compat/kafka-tools.sh"
RUNNEL_BIN=${RUNNEL_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/runnel}
BENCH_PIDS=()
# shellcheck source=kafka-compare/brokers.sh
source "$BENCH_DIR/kafka-compare/brokers.sh"

BENCH_REPS=${BENCH_REPS:-3}
BENCH_MB=${BENCH_MB:-512}
BENCH_RECORD_SIZES=${BENCH_RECORD_SIZES:-100 1024}
BENCH_PARTITIONS=${BENCH_PARTITIONS:-1 8}
BENCH_BATCH_SIZE=${BENCH_BATCH_SIZE:-16384}
BENCH_ONLY=${BENCH_ONLY:-produce consume}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_TOOL_TIMEOUT=${BENCH_TOOL_TIMEOUT:-300}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/runnel-cli-bench.XXXXXX")}
mkdir -p "$BENCH_OUT/logs"
RESULTS="$BENCH_OUT/results.tsv"
printf 'config\ttool\trep\tmb_per_sec\twall_s\tclient_cpu_s\tbroker_cpu_s\n' > "$RESULTS"
BROKER_DIR="$BENCH_OUT/broker"

log() { printf '[cli-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
wants() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }

cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${BENCH_PIDS[@]}"; do bk_stop "$pid"; done
  rm -rf "$BROKER_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# broker_cpu: the broker's user+system CPU seconds so far.
broker_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$BROKER_PID/stat"
}

# RUNNEL: the runnel binary as a client, without RUNNEL_* variables (which `runnel` reads as
# broker configuration). KAFKA_TOOL: a Kafka tool's JVM with the jars (a class name follows).
RUNNEL=(env)
for v in $(compgen -e | grep '^RUNNEL_'); do RUNNEL+=(-u "$v"); done
RUNNEL+=("$RUNNEL_BIN")
read -r -a KAFKA_TOOL <<< "java ${BENCH_CLIENT_JVM_OPTS:--Xmx512m}"
KAFKA_TOOL+=(-Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" -cp "$KT_LIB/*")
runnel_client() { "${RUNNEL[@]}" "$@" --bootstrap-server "$BOOT"; }

# measured CONFIG TOOL REP LOG MBS_FN CMD...: runs CMD bounded by BENCH_TOOL_TIMEOUT under
# /usr/bin/time, with the broker's CPU read around it; MBS_FN LOG prints the tool's MB/s (empty
# when the run failed). Appends a row to results.tsv.
measured() {
  local config=$1 tool=$2 rep=$3 out=$4 mbs_fn=$5; shift 5
  local before after rc mbs wall user sys
  before=$(broker_cpu)
  /usr/bin/time -f '%e %U %S' -o "$out.time" timeout -k 10 "$BENCH_TOOL_TIMEOUT" "$@" > "$out" 2>&1
  rc=$?
  after=$(broker_cpu)
  read -r wall user sys < <(tail -1 "$out.time")
  mbs=$($mbs_fn "$out")
  if [[ $rc -ne 0 || -z "$mbs" ]]; then
    log "$config $tool r$rep: failed (exit $rc, see $out)"
    printf '%s\t%s\t%s\tNA\t%s\tNA\tNA\n' "$config" "$tool" "$rep" "${wall:-NA}" >> "$RESULTS"
    return 1
  fi
  local client broker
  client=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  broker=$(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.2f", a - b}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$tool" "$rep" "$mbs" "$wall" "$client" "$broker" >> "$RESULTS"
  log "$config $tool r$rep: $mbs MB/s, wall $wall s, client CPU $client s, broker CPU $broker s"
}

# The JSON report (stdout; the log shares the file with the tool's stderr).
runnel_mbs() { grep -m1 '^{' "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["mb_per_sec"])' 2>/dev/null; }
# "N records sent, R records/sec (M MB/sec), ..." -- the final line of ProducerPerformance.
kafka_produce_mbs() { sed -nE 's/^[0-9]+ records sent, .*records\/sec \(([0-9.]+) MB\/sec\).*/\1/p' "$1" | tail -1; }
# CSV: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
# rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
kafka_consume_mbs() {
  grep -E '^[0-9]{4}-.*,.*,' "$1" | tail -1 | awk -F', *' -v want="$CONSUME_RECORDS" '$5 >= want {print $9}'
}

produce_with() {
  local tool=$1 config=$2 rep=$3 topic=$4 size=$5 records=$6
  local out="$BENCH_OUT/logs/$config-$tool-r$rep.log"
  case "$tool" in
    runnel-bench) measured "$config" "produce $tool" "$rep" "$out" runnel_mbs \
        "${RUNNEL[@]}" bench produce "$topic" --num-records "$records" --record-size "$size" \
        --batch-size "$BENCH_BATCH_SIZE" --acks all --format json --bootstrap-server "$BOOT" ;;
    kafka-perf) measured "$config" "produce $tool" "$rep" "$out" kafka_produce_mbs \
        "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ProducerPerformance --bootstrap-server "$BOOT" \
        --topic "$topic" --num-records "$records" --record-size "$size" --throughput -1 \
        --command-property acks=all "batch.size=$BENCH_BATCH_SIZE" ;;
  esac
}

consume_with() {
  local tool=$1 config=$2 rep=$3 topic=$4
  local out="$BENCH_OUT/logs/$config-consume-$tool-r$rep.log"
  case "$tool" in
    runnel-bench) measured "$config" "consume $tool" "$rep" "$out" runnel_mbs \
        "${RUNNEL[@]}" bench consume "$topic" --num-records "$CONSUME_RECORDS" --format json \
        --bootstrap-server "$BOOT" ;;
    kafka-perf) measured "$config" "consume $tool" "$rep" "$out" kafka_consume_mbs \
        "${KAFKA_TOOL[@]}" org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BOOT" \
        --topic "$topic" --num-records "$CONSUME_RECORDS" --timeout 30000 \
        --group "cli-bench-$rep-$RANDOM" ;;
  esac
}

topic_create() {
  runnel_client topic create "$1" --partitions "$2" > "$BENCH_OUT/logs/topics.log" 2>&1 \
    || { log "creating topic $1 failed: $(tail -1 "$BENCH_OUT/logs/topics.log")"; return 1; }
}
topic_delete() { runnel_client topic delete "$1" >> "$BENCH_OUT/logs/topics.log" 2>&1; }

main() {
  local started=$SECONDS rep size parts config records first second topics
  if [[ "$BENCH_BUILD" == 1 ]]; then
    log "cargo build --release -p cli"
    (cd "$REPO" && cargo build --release -p cli) || { log "build failed"; exit 1; }
  fi
  [[ -x "$RUNNEL_BIN" ]] || { log "$RUNNEL_BIN is missing"; exit 1; }
  kt_install || exit 1
  local port; port=$(bk_free_port)
  bk_start runnel "$BROKER_DIR" "$port" 0 || exit 1
  BROKER_PID=$BK_PID BOOT=127.0.0.1:$port
  log "runnel serving on $BOOT (pid $BROKER_PID, dir $BROKER_DIR)"
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "runnel commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ modified)')"
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "java: $(java -version 2>&1 | head -1); client JVM: ${BENCH_CLIENT_JVM_OPTS:--Xmx512m}"
    echo "per run: $BENCH_MB MiB of records, acks=all, batch.size $BENCH_BATCH_SIZE; reps $BENCH_REPS; sizes $BENCH_RECORD_SIZES; partitions $BENCH_PARTITIONS"
  } > "$BENCH_OUT/meta.txt"
  cat "$BENCH_OUT/meta.txt" >&2
  for ((rep = 1; rep <= BENCH_REPS; rep++)); do
    if (( rep % 2 == 1 )); then first=runnel-bench second=kafka-perf; else first=kafka-perf second=runnel-bench; fi
    for size in $BENCH_RECORD_SIZES; do
      for parts in $BENCH_PARTITIONS; do
        config="p${parts}-s${size}"
        records=$(( BENCH_MB * 1048576 / size ))
        topics=()
        for tool in "$first" "$second"; do
          local topic="cli-bench-$config-$tool-r$rep"
          topic_create "$topic" "$parts" || continue
          topics+=("$topic")
          wants produce && produce_with "$tool" "$config" "$rep" "$topic" "$size" "$records"
        done
        if wants consume; then
          local source="cli-bench-$config-runnel-bench-r$rep"
          # What runnel bench produce wrote (all of it; without the produce step, nothing).
          CONSUME_RECORDS=$records
          for tool in "$first" "$second"; do consume_with "$tool" "$config" "$rep" "$source"; done
        fi
        for topic in "${topics[@]}"; do topic_delete "$topic"; done
      done
    done
  done
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); wall time $((SECONDS - started)) s; broker CPU over its life $(broker_cpu) s" >> "$BENCH_OUT/meta.txt"
  python3 - "$RESULTS" > "$BENCH_OUT/table.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(values):
    values = [float(v) for v in values if v not in ("NA", "")]
    return statistics.median(values) if values else None
def fmt(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"
groups = {}
for r in rows:
    groups.setdefault((r["config"], r["tool"].split()[0]), {}).setdefault(r["tool"].split()[1], []).append(r)
def span(values):
    values = [float(v) for v in values if v not in ("NA", "")]
    return f"{min(values):.0f}-{max(values):.0f}" if values else "n/a"
print("| Workload | Config | Tool | MB/s (median) | MB/s range | client CPU s | broker CPU s | client / broker CPU | runs | MB/s runnel bench / Kafka tool |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (config, op), tools in sorted(groups.items(), key=lambda kv: (kv[0][1] != "produce", kv[0][0])):
    mbs = {t: med(r["mb_per_sec"] for r in rs) for t, rs in tools.items()}
    ratio = None
    if mbs.get("runnel-bench") and mbs.get("kafka-perf"):
        ratio = mbs["runnel-bench"] / mbs["kafka-perf"]
    for tool in ("runnel-bench", "kafka-perf"):
        rs = tools.get(tool, [])
        client = med(r["client_cpu_s"] for r in rs)
        broker = med(r["broker_cpu_s"] for r in rs)
        share = client / broker if client is not None and broker else None
        ok = sum(1 for r in rs if r["mb_per_sec"] != "NA")
        print(f"| {op} | {config} | {tool} | {fmt(mbs.get(tool), 1)} | {span(r['mb_per_sec'] for r in rs)} | "
              f"{fmt(client)} | {fmt(broker)} | "
              f"{fmt(share)} | {ok}/{len(rs)} | {fmt(ratio) if tool == 'runnel-bench' else ''} |")
EOF
  echo
  cat "$BENCH_OUT/meta.txt"
  echo
  cat "$BENCH_OUT/table.md"
  echo
  echo "raw results and tool logs: $BENCH_OUT"
}

main "$@"
