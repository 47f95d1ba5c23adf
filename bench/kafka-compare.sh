#!/usr/bin/env bash
# bench/kafka-compare.sh -- Runnel vs Apache Kafka 4.4.0 (single node), measured with Kafka's own
# perf tools and the same client flags, one broker after the other on this machine.
#
# What this script owns: the benchmark procedure and its knobs. For each broker (Runnel:
# target/release/runnel serve; Kafka: KRaft combined from the Maven Central jars installed by
# compat/kafka-tools.sh), each in a fresh temp dir on free 127.0.0.1 ports:
#   1. start-up: BENCH_STARTS fresh starts, time from exec to the first answered ApiVersions
#      (kafka-compare/startup_probe.py; Kafka's StorageTool format is done before and not timed)
#   2. one broker for the workloads; topics created with TopicCommand (same partition counts)
#   3. ProducerPerformance, BENCH_RECORDS records of BENCH_RECORD_SIZE bytes, for 1 and 8
#      partitions x acks=1 and acks=all (the four configurations interleaved in each repetition)
#   4. ConsumerPerformance of BENCH_CONSUME_RECORDS from the 8-partition acks=1 topic (new group
#      each repetition)
#   5. EndToEndLatency, BENCH_LATENCY_RECORDS round trips, acks=all, 1 partition
#   6. broker VmRSS and VmHWM from /proc/PID/status after all of the above, and the broker's
#      user+system CPU seconds over its life (/proc/PID/stat)
# Every measurement is repeated BENCH_REPS times; the table shows medians and Runnel / Kafka.
# Measurements never overlap: one tool runs at a time, against one broker.
# A failing measurement is recorded as "n/a (reason)" and the run goes on. Steps 2-6 run the
# brokers interleaved by default (BENCH_INTERLEAVE below).
# Helpers: kafka-compare/brokers.sh (broker command lines, start/stop, client JVM),
#          kafka-compare/startup_probe.py, kafka-compare/report.py (the table).
#
# Usage (from anywhere; run by hand, not by ./test.sh):
#   bench/kafka-compare.sh
# Knobs (environment):
#   BENCH_REPS (3)  BENCH_RECORDS (1000000)  BENCH_RECORD_SIZE (1024)
#   BENCH_CONSUME_RECORDS (= BENCH_RECORDS)  BENCH_LATENCY_RECORDS (5000)  BENCH_STARTS (5)
#   BENCH_PRODUCER_PROPS ("linger.ms=5 batch.size=131072")   extra producer properties
#   BENCH_BROKERS ("runnel kafka")    which brokers, in this order
#   BENCH_ONLY ("startup produce consume latency")    which measurements
#   BENCH_BUILD (1)    run `cargo build --release -p cli` first
#   BENCH_INTERLEAVE (1)    both brokers up during the workloads, each repetition measuring one
#                      then the other (order alternating), so load drift on a shared machine
#                      hits both alike; 0: one broker's whole run, then the other's
#   BENCH_TOOL_TIMEOUT (600)    seconds before one tool run is killed (and reported n/a)
#   BENCH_BROKER_PROPS (group.initial.rebalance.delay.ms=0)    broker settings for both brokers
#   BENCH_KAFKA_JVM_OPTS (Kafka's start-script defaults: -Xmx1g -Xms1g G1 ...)
#   BENCH_CLIENT_JVM_OPTS (-Xmx512m)    the same for every client tool against both brokers
#   BENCH_OUT (new /tmp dir)    logs, results.tsv and table.md are kept there
#   BENCH_KEEP_DATA (0)    keep the brokers' data dirs (they are removed at exit otherwise)
#   RUNNEL_BIN (target/release/runnel)
# Loopback only. Everything started here is stopped at exit (trap).

set -uo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH_DIR
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../compat/kafka-tools.sh
source "$REPO/compat/kafka-tools.sh"
RUNNEL_BIN=${RUNNEL_BIN:-$REPO/target/release/runnel}
BENCH_PIDS=()
# shellcheck source=kafka-compare/brokers.sh
source "$BENCH_DIR/kafka-compare/brokers.sh"

BENCH_REPS=${BENCH_REPS:-3}
BENCH_RECORDS=${BENCH_RECORDS:-1000000}
BENCH_RECORD_SIZE=${BENCH_RECORD_SIZE:-1024}
BENCH_CONSUME_RECORDS=${BENCH_CONSUME_RECORDS:-$BENCH_RECORDS}
BENCH_LATENCY_RECORDS=${BENCH_LATENCY_RECORDS:-5000}
BENCH_STARTS=${BENCH_STARTS:-5}
BENCH_PRODUCER_PROPS=${BENCH_PRODUCER_PROPS:-linger.ms=5 batch.size=131072}
BENCH_BROKERS=${BENCH_BROKERS:-runnel kafka}
BENCH_ONLY=${BENCH_ONLY:-startup produce consume latency}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_INTERLEAVE=${BENCH_INTERLEAVE:-1}
BENCH_TOOL_TIMEOUT=${BENCH_TOOL_TIMEOUT:-600}
BENCH_KEEP_DATA=${BENCH_KEEP_DATA:-0}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/runnel-kafka-compare.XXXXXX")}
mkdir -p "$BENCH_OUT/logs"
RESULTS="$BENCH_OUT/results.tsv"
: > "$RESULTS"

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
wants() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }
# why LOG: a short reason from a failed tool's output (first error-looking line).
why() {
  local line
  line=$(grep -m1 -E '^[a-z.]+\.[A-Za-z]*(Exception|Error)' "$1" 2>/dev/null)
  [[ -n "$line" ]] || line=$(grep -v 'Positional argument' "$1" 2>/dev/null | grep -m1 -E 'Exception|ERROR|WARNING|Error:|error')
  line=$(sed -E 's/^\[[^]]*\] //' <<< "$line" | tr '\t|' '  ' | cut -c1-160)
  printf '%s' "${line:-see $1}"
}

DATA_DIRS=()
cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${BENCH_PIDS[@]}"; do bk_stop "$pid"; done
  if [[ "$BENCH_KEEP_DATA" != 1 ]]; then
    local d; for d in "${DATA_DIRS[@]}"; do rm -rf "$d"; done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# tool NAME LOG CLASS ARGS...: a Kafka client tool, bounded by BENCH_TOOL_TIMEOUT.
tool() {
  local log=$1; shift
  local opts=()
  read -r -a opts <<< "$BENCH_CLIENT_JVM_OPTS"
  timeout -k 10 "$BENCH_TOOL_TIMEOUT" java "${opts[@]}" \
    -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" -cp "$KT_LIB/*" "$@" > "$log" 2>&1 &
  local pid=$!
  BENCH_PIDS+=("$pid")
  wait "$pid"
}

measure_startup() {
  local name=$1 i dir port cport ms cmd=()
  for ((i = 1; i <= BENCH_STARTS; i++)); do
    dir="$BENCH_OUT/$name-start-$i"; DATA_DIRS+=("$dir"); mkdir -p "$dir"
    port=$(bk_free_port); cport=$(bk_free_port)
    case "$name" in
      runnel) mapfile -d '' cmd < <(bk_runnel_cmd "$dir" "$port") ;;
      kafka)  bk_kafka_prepare "$dir" "$port" "$cport" || { record "$name" startup "NA:storage format failed"; continue; }
              mapfile -d '' cmd < <(bk_kafka_cmd "$dir") ;;
    esac
    python3 "$BENCH_DIR/kafka-compare/startup_probe.py" --port "$port" --log "$dir/broker.log" \
      -- "${cmd[@]}" > "$dir/ms" 2> "$dir/probe.err" &
    local ppid=$!
    BENCH_PIDS+=("$ppid")
    if wait "$ppid" && ms=$(cat "$dir/ms") && [[ -n "$ms" ]]; then
      record "$name" startup "$ms"; log "$name start $i: $ms ms"
    else
      record "$name" startup "NA:$(head -c 160 "$dir/probe.err")"
    fi
    [[ "$BENCH_KEEP_DATA" == 1 ]] || rm -rf "$dir"
  done
}

create_topic() {
  local name=$1 bootstrap=$2 topic=$3 parts=$4
  tool "$BENCH_OUT/logs/$name-topic-$topic.log" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$topic" \
    --partitions "$parts" --replication-factor 1 \
    || { log "$name: creating $topic failed: $(why "$BENCH_OUT/logs/$name-topic-$topic.log")"; return 1; }
}

run_produce() {
  local name=$1 bootstrap=$2 parts=$3 acks=$4 rep=$5
  local metric="produce_p${parts}_acks${acks}" topic="perf-p${parts}-acks${acks}"
  local out="$BENCH_OUT/logs/$name-$metric-r$rep.log" props=() line sent mbs bad
  read -r -a props <<< "$BENCH_PRODUCER_PROPS"
  tool "$out" org.apache.kafka.tools.ProducerPerformance --bootstrap-server "$bootstrap" \
    --topic "$topic" --num-records "$BENCH_RECORDS" --record-size "$BENCH_RECORD_SIZE" \
    --throughput -1 --command-property "acks=$acks" "${props[@]}"
  local rc=$?
  line=$(grep '50th' "$out" | tail -1)
  bad=$(grep -m1 -E '^(org\.apache\.kafka|java\.)[A-Za-z0-9_.$]*(Exception|Error)' "$out")
  sent=$(awk '{print $1}' <<< "$line")
  mbs=$(sed -nE 's/.*records\/sec \(([0-9.]+) MB\/sec\).*/\1/p' <<< "$line")
  if [[ $rc -ne 0 || -z "$mbs" || "$sent" != "$BENCH_RECORDS" || -n "$bad" ]]; then
    record "$name" "$metric" "NA:exit $rc: ${bad:-$(why "$out")}"; log "$name $metric r$rep: failed ($out)"
  else
    record "$name" "$metric" "$mbs"; log "$name $metric r$rep: $mbs MB/s"
  fi
}

run_consume() {
  local name=$1 bootstrap=$2 rep=$3
  local out="$BENCH_OUT/logs/$name-consume-r$rep.log" line n mbs fmbs
  tool "$out" org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$bootstrap" \
    --topic perf-p8-acks1 --num-records "$BENCH_CONSUME_RECORDS" --timeout 30000 \
    --group "bench-consume-$rep-$RANDOM"
  local rc=$?
  # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
  # rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  line=$(grep -E '^[0-9]{4}-.*,.*,' "$out" | tail -1)
  IFS=',' read -r _ _ _ mbs n _ _ _ fmbs _ <<< "$line"
  n=${n// /}; mbs=${mbs// /}; fmbs=${fmbs// /}
  if [[ $rc -ne 0 || -z "$line" || "${n:-0}" -lt "$BENCH_CONSUME_RECORDS" ]]; then
    local reason="exit $rc, consumed ${n:-0}/$BENCH_CONSUME_RECORDS: $(why "$out")"
    record "$name" consume "NA:$reason"; record "$name" consume_fetch "NA:$reason"
    log "$name consume r$rep: failed: $reason"
  else
    record "$name" consume "$mbs"; record "$name" consume_fetch "$fmbs"
    log "$name consume r$rep: $mbs MB/s ($fmbs MB/s fetch only)"
  fi
}

run_latency() {
  local name=$1 bootstrap=$2 rep=$3
  local out="$BENCH_OUT/logs/$name-latency-r$rep.log" p50 p99 avg
  tool "$out" org.apache.kafka.tools.EndToEndLatency --bootstrap-server "$bootstrap" \
    --topic perf-latency --num-records "$BENCH_LATENCY_RECORDS" --producer-acks all \
    --record-size "$BENCH_RECORD_SIZE"
  local rc=$?
  # The percentiles are printed once every round trip was measured; a failure after that (the
  # consumer's close needs a group coordinator) does not invalidate them.
  if [[ $rc -ne 0 ]] && grep -q '^Percentiles:' "$out"; then
    log "$name latency r$rep: measured, then the tool exited $rc: $(why "$out")"; rc=0
  fi
  avg=$(sed -nE 's/^Avg latency: ([0-9.]+) ms.*/\1/p' "$out" | tail -1)
  p50=$(sed -nE 's/.*50th = ([0-9.]+),.*/\1/p' "$out" | tail -1)
  p99=$(sed -nE 's/.*, 99th = ([0-9.]+),.*/\1/p' "$out" | tail -1)
  if [[ $rc -ne 0 || -z "$p50" || -z "$p99" ]]; then
    local reason="exit $rc: $(why "$out")"
    for m in e2e_p50 e2e_p99 e2e_avg; do record "$name" $m "NA:$reason"; done
    log "$name latency r$rep: failed: $reason"
  else
    record "$name" e2e_p50 "$p50"; record "$name" e2e_p99 "$p99"; record "$name" e2e_avg "$avg"
    log "$name latency r$rep: p50 $p50 ms, p99 $p99 ms, avg $avg ms"
  fi
}

declare -A WL_PID WL_BOOT WL_DIR

# workload_start NAME: the broker for the workloads, with its topics; false when it failed.
workload_start() {
  local name=$1 dir="$BENCH_OUT/$1-run" port cport p a
  DATA_DIRS+=("$dir")
  port=$(bk_free_port); cport=$(bk_free_port)
  if ! bk_start "$name" "$dir" "$port" "$cport"; then
    for m in produce_p1_acks1 produce_p1_acksall produce_p8_acks1 produce_p8_acksall consume \
             consume_fetch e2e_p50 e2e_p99 e2e_avg rss_after rss_peak; do
      record "$name" "$m" "NA:broker did not start"
    done
    return 1
  fi
  WL_PID[$name]=$BK_PID; WL_BOOT[$name]=127.0.0.1:$port; WL_DIR[$name]=$dir
  log "$name serving on 127.0.0.1:$port (pid $BK_PID, dir $dir)"
  for p in 1 8; do for a in 1 all; do create_topic "$name" "127.0.0.1:$port" "perf-p$p-acks$a" "$p"; done; done
  create_topic "$name" "127.0.0.1:$port" perf-latency 1
}

# workload_finish NAME: the broker's memory after its run, then stop it.
workload_finish() {
  local name=$1 pid=${WL_PID[$1]} rss hwm
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  if [[ -n "$rss" ]]; then
    record "$name" rss_after "$(awk -v k="$rss" 'BEGIN {printf "%.1f", k / 1024}')"
    record "$name" rss_peak "$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k / 1024}')"
    log "$name RSS after the run: VmRSS $rss kB, VmHWM $hwm kB"
    # user + system CPU over the process's life (start-up, topic creation, all workloads).
    record "$name" cpu_seconds "$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat")"
  else
    record "$name" rss_after "NA:broker process gone"; record "$name" rss_peak "NA:broker process gone"
  fi
  bk_stop "$pid"
  [[ "$BENCH_KEEP_DATA" == 1 ]] || rm -rf "${WL_DIR[$name]}"
}

# run_workloads NAME...: every workload against each named broker; with several, each
# repetition measures them one after the other, order alternating between repetitions.
run_workloads() {
  local names=() up=() name rep p a order
  for name in "$@"; do workload_start "$name" && up+=("$name"); done
  [[ ${#up[@]} -gt 0 ]] || return
  # order_for REP: the brokers in this repetition's order (reversed on even repetitions).
  order_for() {
    if (( $1 % 2 == 1 )); then printf '%s\n' "${up[@]}"; else printf '%s\n' "${up[@]}" | tac; fi
  }
  if wants produce || wants consume; then
    for ((rep = 1; rep <= BENCH_REPS; rep++)); do
      mapfile -t order < <(order_for "$rep")
      for p in 1 8; do for a in 1 all; do
        # consume alone needs only the topic it reads
        if wants produce || [[ $p == 8 && $a == 1 ]]; then
          for name in "${order[@]}"; do run_produce "$name" "${WL_BOOT[$name]}" "$p" "$a" "$rep"; done
        fi
      done; done
      wants produce || break
    done
  fi
  if wants consume; then
    for ((rep = 1; rep <= BENCH_REPS; rep++)); do
      mapfile -t order < <(order_for "$rep")
      for name in "${order[@]}"; do run_consume "$name" "${WL_BOOT[$name]}" "$rep"; done
    done
  fi
  if wants latency; then
    for ((rep = 1; rep <= BENCH_REPS; rep++)); do
      mapfile -t order < <(order_for "$rep")
      for name in "${order[@]}"; do run_latency "$name" "${WL_BOOT[$name]}" "$rep"; done
    done
  fi
  for name in "${up[@]}"; do workload_finish "$name"; done
}

main() {
  local started=$SECONDS name
  if [[ "$BENCH_BUILD" == 1 && " $BENCH_BROKERS " == *" runnel "* ]]; then
    log "cargo build --release -p cli"
    (cd "$REPO" && cargo build --release -p cli) || { log "build failed"; exit 1; }
  fi
  kt_install || exit 1
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "runnel commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ modified)')"
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "java: $(java -version 2>&1 | head -1)"
    echo "kafka JVM: $BENCH_KAFKA_JVM_OPTS"
    echo "broker settings (both): $BENCH_BROKER_PROPS"
    echo "client JVM: $BENCH_CLIENT_JVM_OPTS; producer: $BENCH_PRODUCER_PROPS"
    echo "records: produce $BENCH_RECORDS x $BENCH_RECORD_SIZE B, consume $BENCH_CONSUME_RECORDS, latency $BENCH_LATENCY_RECORDS; reps $BENCH_REPS; starts $BENCH_STARTS; interleave $BENCH_INTERLEAVE"
  } > "$BENCH_OUT/meta.txt"
  cat "$BENCH_OUT/meta.txt" >&2
  if wants startup; then
    for name in $BENCH_BROKERS; do log "=== $name: start-up ==="; measure_startup "$name"; done
  fi
  if wants produce || wants consume || wants latency; then
    if [[ "$BENCH_INTERLEAVE" == 1 ]]; then
      log "=== workloads, interleaved: $BENCH_BROKERS ==="
      # shellcheck disable=SC2086
      run_workloads $BENCH_BROKERS
    else
      for name in $BENCH_BROKERS; do log "=== $name: workloads ==="; run_workloads "$name"; done
    fi
  fi
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); wall time $((SECONDS - started)) s" >> "$BENCH_OUT/meta.txt"
  python3 "$BENCH_DIR/kafka-compare/report.py" "$RESULTS" > "$BENCH_OUT/table.md"
  echo
  cat "$BENCH_OUT/meta.txt"
  echo
  cat "$BENCH_OUT/table.md"
  echo
  echo "raw results and tool logs: $BENCH_OUT"
}

main "$@"
