#!/usr/bin/env bash
# bench/share-compare.sh -- share groups (KIP-932): records/s consumed and acknowledged by 1, 4
# and 16 share consumers on ONE partition, Runnel vs Apache Kafka 4.4.0 (single node, KRaft
# combined), side by side on this machine, with kafka-clients 4.4.0's KafkaShareConsumer.
#
# What this script owns: this benchmark's procedure and knobs. The client is
# bench/share-compare/ShareLoad.java (kafka-clients 4.4.0, compiled here with javac); the table is
# bench/share-compare/report.py; the brokers are started and stopped by
# bench/kafka-compare/brokers.sh (Runnel: $RUNNEL_BIN serve; Kafka: the Maven Central jars
# installed by compat/kafka-tools.sh, JVM flags of Kafka's start script), each run in a fresh
# temp dir on free 127.0.0.1 ports, one broker at a time. Both brokers get the same settings:
# group.initial.rebalance.delay.ms=0, offsets.topic.replication.factor=1,
# share.coordinator.state.topic.replication.factor=1 (Kafka also gets
# share.coordinator.state.topic.min.isr=1 from brokers.sh; Runnel has no such key), and, written
# out at both brokers' defaults so that a change of either default shows up here:
# group.share.record.lock.duration.ms=30000, group.share.delivery.count.limit=5,
# group.share.partition.max.record.locks=2000, group.share.heartbeat.interval.ms=5000,
# group.share.session.timeout.ms=45000. Everything else is each broker's default (50
# __share_group_state and 50 __consumer_offsets partitions, no fsync per write). Share groups:
# Kafka 4.4's StorageTool format (as brokers.sh runs it) finalizes share.version at its default
# level (2 in 4.4); every Kafka run checks the finalized level with kafka-features describe and
# runs `kafka-features upgrade --feature share.version=1` if it is below 1 (a run whose broker
# still says < 1 is n/a). Runnel needs nothing (it finalizes share.version=1). Kafka logs WARN
# and above to stderr with epoch-ms timestamps (log4j2 config written here).
#
# Each repetition, for each consumer count N of BENCH_CONSUMERS, per broker (order alternating
# between repetitions), on a FRESH broker each (so every run starts from an empty log, an empty
# __share_group_state and a new group; nothing carries over between consumer counts):
#   ShareLoad run: creates topic "share-bench" (1 partition, RF 1), preloads BENCH_RECORDS
#   records of BENCH_VALUE_SIZE bytes with an acks=all idempotent producer (untimed), sets the
#   group config share.auto.offset.reset=earliest on the fresh group "share-bench-cN" (Admin
#   incrementalAlterConfigs, ConfigResource.Type.GROUP), builds N KafkaShareConsumer threads
#   (implicit acknowledgement, default max.poll.records 500) subscribed to the topic, then starts
#   the clock and all threads polling. The clock stops when every one of the BENCH_RECORDS
#   offsets has been delivered at least once (or after BENCH_CONSUME_TIMEOUT; then the run is
#   incomplete). Each consumer then calls commitSync() and close(): in implicit mode poll() and
#   commitSync() accept what the previous poll returned, but close() does not (kafka-clients
#   4.4.0 sends only acknowledgements already made, and closing the share session releases the
#   rest, which another consumer still polling then receives again), so without the commitSync()
#   the last poll's records of every consumer would come back as duplicates. Then the
#   share-partition's start offset and lag are read back with listShareGroupOffsets: lag 0 (or
#   start offset BENCH_RECORDS) means every record was acknowledged.
# Measured: records/s (distinct records / the clock, the group join included), the time to the
# first record, the rate after the first record, the longest time without a new record after the
# first one (stalls), total deliveries, duplicates (deliveries - distinct offsets), redeliveries
# (deliveryCount > 1), per-consumer counts, commitSync()+close() time, acknowledgements
# confirmed and refused (AcknowledgementCommitCallback), the share-partition's lag after close,
# and the broker's CPU over the clock. Every run is repeated BENCH_REPS times; the table shows
# medians, every run, Runnel / Kafka and the target (Runnel records/s >= Kafka's at every
# consumer count). Broker logs are scanned for WARN/ERROR/panic
# lines, and anything unexpected (a failed client, an incomplete run, duplicates, acknowledgement
# errors, a gap >= BENCH_STALL_MS without progress, a broker that died) is listed under
# "anomalies".
#
# Usage (from anywhere; run by hand, not by ./test.sh; ~25 minutes with the defaults here):
#   RUNNEL_BIN=/path/to/runnel bench/share-compare.sh
# Knobs (environment):
#   BENCH_REPS (3)  BENCH_CONSUMERS ("1 4 16")  BENCH_RECORDS (200000)  BENCH_VALUE_SIZE (512)
#   BENCH_BROKERS ("runnel kafka")
#   BENCH_CONSUME_TIMEOUT (180) seconds the consumers get to see every record (then incomplete)
#   BENCH_TOOL_TIMEOUT (420)    seconds before one client run is killed (and reported n/a)
#   BENCH_BUDGET (3600)         seconds; no new run starts after this (the rest is n/a)
#   BENCH_STALL_MS (400)        a gap this long without a new record (after the first) is an
#                               anomaly (fetch.max.wait.ms, the client's default, is 500)
#   BENCH_RUNNEL_LOG (unset)    RUNNEL_LOG for the Runnel broker (e.g. "info,broker=debug"; the
#                               broker is then started through a small exec wrapper, because
#                               brokers.sh clears RUNNEL_* variables)
#   BENCH_KAFKA_JVM_OPTS        as in bench/kafka-compare/brokers.sh
#   BENCH_CLIENT_JVM_OPTS (-Xmx1g)  the client JVM (all N consumers in one JVM) and Kafka's tools
#   BENCH_OUT (new /tmp dir)    results.tsv, table.md, meta.txt, anomalies.txt, logs/
#   BENCH_KEEP_DATA (0)         keep the brokers' data dirs (removed after each run otherwise)
#   RUNNEL_BIN (target/release/runnel; not built here)
# Loopback only. Everything started here is stopped at exit (trap); every wait is bounded.

set -uo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH_DIR
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../compat/kafka-tools.sh
source "$REPO/compat/kafka-tools.sh"
RUNNEL_BIN=${RUNNEL_BIN:-$REPO/target/release/runnel}
BENCH_PIDS=()
CLIENT_PIDS=()
BENCH_CLIENT_JVM_OPTS=${BENCH_CLIENT_JVM_OPTS:--Xmx1g}
# shellcheck source=kafka-compare/brokers.sh
source "$BENCH_DIR/kafka-compare/brokers.sh"

COMMAND="$(env | grep -E '^(BENCH_[A-Z_]+|RUNNEL_BIN)=' | grep -v '^BENCH_DIR=' | sort | while IFS='=' read -r k v; do printf '%s=%q ' "$k" "$v"; done)bench/share-compare.sh"
BENCH_REPS=${BENCH_REPS:-3}
BENCH_CONSUMERS=${BENCH_CONSUMERS:-1 4 16}
BENCH_RECORDS=${BENCH_RECORDS:-200000}
BENCH_VALUE_SIZE=${BENCH_VALUE_SIZE:-512}
BENCH_BROKERS=${BENCH_BROKERS:-runnel kafka}
BENCH_CONSUME_TIMEOUT=${BENCH_CONSUME_TIMEOUT:-180}
BENCH_TOOL_TIMEOUT=${BENCH_TOOL_TIMEOUT:-420}
BENCH_BUDGET=${BENCH_BUDGET:-3600}
BENCH_STALL_MS=${BENCH_STALL_MS:-400}
BENCH_KEEP_DATA=${BENCH_KEEP_DATA:-0}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/runnel-share-compare.XXXXXX")}
mkdir -p "$BENCH_OUT/logs"
RESULTS="$BENCH_OUT/results.tsv"
ANOMALIES="$BENCH_OUT/anomalies.txt"
CLASSES="$BENCH_OUT/classes"
: > "$RESULTS"
: > "$ANOMALIES"
BASE_PROPS="group.initial.rebalance.delay.ms=0 offsets.topic.replication.factor=1 share.coordinator.state.topic.replication.factor=1 group.share.record.lock.duration.ms=30000 group.share.delivery.count.limit=5 group.share.partition.max.record.locks=2000 group.share.heartbeat.interval.ms=5000 group.share.session.timeout.ms=45000"
# shellcheck disable=SC2034  # read by bk_start (brokers.sh)
BENCH_BROKER_PROPS="$BASE_PROPS"
TOPIC=share-bench

log() { printf '[share %s] %s\n' "$(date +%T)" "$*" >&2; }
# record BROKER METRIC REP VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RESULTS"; }
anomaly() { log "ANOMALY: $*"; echo "$*" >> "$ANOMALIES"; }
# field KEY LINE: the value of key=value in a result line.
field() { sed -nE "s/^(.* )?$1=([^ ]*).*/\\2/p" <<< "$2"; }
# cpu_stat: machine-wide "busy steal total" jiffies from /proc/stat (as bench/client-compare.sh).
cpu_stat() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, $9, t}' /proc/stat; }
pct_of() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[f] - x[f]) / (y[3] - x[3]) }'; }

# client LOG ARGS...: ShareLoad in the foreground, bounded by BENCH_TOOL_TIMEOUT.
client() {
  local out=$1 opts=(); shift
  read -r -a opts <<< "$BENCH_CLIENT_JVM_OPTS"
  timeout -k 10 "$BENCH_TOOL_TIMEOUT" java "${opts[@]}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" \
    -cp "$CLASSES:$KT_LIB/*" ShareLoad "$@" >"$out" 2>&1
}

# tool LOG CLASS ARGS...: one of Kafka's own command-line tools, bounded (90 s).
tool() {
  local out=$1 opts=(); shift
  read -r -a opts <<< "$BENCH_CLIENT_JVM_OPTS"
  timeout -k 10 90 java "${opts[@]}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" \
    -cp "$KT_LIB/*" "$@" >>"$out" 2>&1
}

# share_level LOG: the finalized share.version in a kafka-features describe output (0 if absent).
share_level() {
  awk '/Feature: share.version/ { for (i = 1; i <= NF; i++) if ($i == "FinalizedVersionLevel:") v = $(i + 1) }
       END { print (v == "" ? 0 : v) }' "$1" 2>/dev/null
}

# why LOG: the first error-looking line of a client log, for "n/a (...)".
why() {
  { grep -m1 -E '^ERROR ' "$1" || grep -m1 -E 'Exception|error|missing|expected' "$1"; } 2>/dev/null | cut -c1-300 | tr '\t' ' '
}

# start NAME DIR: a fresh broker (sets PID, BOOT).
start() {
  local port cport
  port=$(bk_free_port); cport=$(bk_free_port)
  bk_start "$1" "$2" "$port" "$cport" || return 1
  PID=$BK_PID BOOT="127.0.0.1:$port"
}

# finish NAME DIR TAG: stop the broker, keep its log, drop its data.
finish() {
  local name=$1 dir=$2 tag=$3
  kill -0 "$PID" 2>/dev/null || anomaly "$tag: the $name broker (pid $PID) was not running at the end of the run; see logs/$tag.broker.log"
  bk_stop "$PID"
  cp "$dir/broker.log" "$BENCH_OUT/logs/$tag.broker.log" 2>/dev/null
  [[ "$BENCH_KEEP_DATA" == 1 ]] || rm -rf "$dir"
}

over_budget() { (( SECONDS - STARTED > BENCH_BUDGET )); }

METRICS=(records_per_s mib_per_s seconds first_record_ms drain_records_per_s max_gap_ms close_ms
         deliveries duplicates redeliveries acked ack_errors commit_errors spso lag broker_cpu_s preload_s)

# run NAME REP N: one fresh broker, N share consumers.
run() {
  local name=$1 rep=$2 n=$3 tag="$1-c$3-r$2" dir="$BENCH_OUT/$1-c$3-r$2" out line m level gap dups
  local p="c${n}_"
  out="$BENCH_OUT/logs/$tag"
  if over_budget; then record "$name" "${p}records_per_s" "$rep" "n/a (budget)"; return; fi
  record "$name" "${p}load1" "$rep" "$(cut -d' ' -f1 /proc/loadavg)"
  start "$name" "$dir" || { anomaly "$tag: $name did not start"; record "$name" "${p}records_per_s" "$rep" "n/a (start)"; return; }
  # Share groups must be on: finalized share.version >= 1.
  tool "$out.features.log" org.apache.kafka.tools.FeatureCommand --bootstrap-server "$BOOT" describe
  level=$(share_level "$out.features.log")
  if (( level < 1 )) && [[ $name == kafka ]]; then
    log "$tag: share.version finalized at $level; upgrading to 1"
    tool "$out.features.log" org.apache.kafka.tools.FeatureCommand --bootstrap-server "$BOOT" upgrade --feature share.version=1
    tool "$out.features.log" org.apache.kafka.tools.FeatureCommand --bootstrap-server "$BOOT" describe
    level=$(share_level "$out.features.log")
  fi
  record "$name" "${p}share_version" "$rep" "$level"
  if (( level < 1 )); then
    anomaly "$tag: share.version is $level (share groups off); see logs/$tag.features.log"
    record "$name" "${p}records_per_s" "$rep" "n/a (share.version $level)"; finish "$name" "$dir" "$tag"; return
  fi
  client "$out.client.log" run --bootstrap "$BOOT" --topic "$TOPIC" --group "share-bench-c$n" \
    --consumers "$n" --records "$BENCH_RECORDS" --size "$BENCH_VALUE_SIZE" \
    --timeout-s "$BENCH_CONSUME_TIMEOUT" --broker-pid "$PID"
  local rc=$?
  line=$(grep -m1 "^RESULT share " "$out.client.log")
  if [[ -z "$line" ]]; then
    anomaly "$tag: ShareLoad failed (exit $rc): $(why "$out.client.log"); see logs/$tag.client.log"
    record "$name" "${p}records_per_s" "$rep" "n/a (exit $rc)"; finish "$name" "$dir" "$tag"; return
  fi
  for m in "${METRICS[@]}"; do record "$name" "${p}$m" "$rep" "$(field "$m" "$line")"; done
  record "$name" "${p}per_consumer" "$rep" "$(field per_consumer "$line")"
  record "$name" "${p}verify_ok" "$rep" "$([[ "$(field complete "$line")" == true ]] && echo 1 || echo 0)"
  # Client-side WARN/ERROR lines (the Kafka client's own log, at WARN and above).
  record "$name" "${p}client_warns" "$rep" "$(grep -cE '^\[[^]]*\] (WARN|ERROR) |^(WARN|ERROR) ' "$out.client.log")"
  [[ "$(field complete "$line")" == true ]] || anomaly "$tag: incomplete run (exit $rc): $line; $(why "$out.client.log"); see logs/$tag.client.log"
  dups=$(field duplicates "$line")
  [[ "$dups" == 0 ]] || anomaly "$tag: $dups duplicate deliveries ($(field redeliveries "$line") with deliveryCount > 1)"
  [[ "$(field commit_errors "$line")" == 0 ]] || anomaly "$tag: the final commitSync() failed for $(field commit_errors "$line") partition(s): $(grep -m1 '^ERROR consumer=.* commitSync' "$out.client.log" | cut -c1-300)"
  [[ "$(field ack_errors "$line")" == 0 ]] || anomaly "$tag: $(field ack_errors "$line") acknowledgements refused: $(grep -m1 '^ERROR ack' "$out.client.log" | cut -c1-300)"
  gap=$(field max_gap_ms "$line")
  [[ "$gap" =~ ^[0-9]+$ ]] && (( gap >= BENCH_STALL_MS )) && anomaly "$tag: no new record for $gap ms after the first one (stall)"
  log "$tag: ${line#RESULT share }"
  finish "$name" "$dir" "$tag"
}

write_kafka_log4j() {
  BENCH_KAFKA_LOG4J="$BENCH_OUT/log4j2-kafka.properties"
  cat > "$BENCH_KAFKA_LOG4J" <<'EOF'
# Written by bench/share-compare.sh: Kafka's broker WARN and above to stderr, epoch-ms timestamps.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_ERR
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d{UNIX_MILLIS}] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
EOF
  export BENCH_KAFKA_LOG4J
}

# With BENCH_RUNNEL_LOG, Runnel runs through a wrapper that sets RUNNEL_LOG and execs the binary
# (same pid, so the broker's CPU is still read from the right process).
wrap_runnel_log() {
  [[ -n "${BENCH_RUNNEL_LOG:-}" ]] || return 0
  local real=$RUNNEL_BIN
  RUNNEL_BIN="$BENCH_OUT/runnel-with-log.sh"
  printf '#!/bin/sh\n# Written by bench/share-compare.sh: runnel with RUNNEL_LOG set.\nRUNNEL_LOG=%q exec %q "$@"\n' \
    "$BENCH_RUNNEL_LOG" "$real" > "$RUNNEL_BIN"
  chmod +x "$RUNNEL_BIN"
}

cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${CLIENT_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${BENCH_PIDS[@]}"; do bk_stop "$pid"; done
  if [[ "$BENCH_KEEP_DATA" != 1 ]]; then
    find "$BENCH_OUT" -mindepth 1 -maxdepth 1 -type d \( -name 'runnel-*' -o -name 'kafka-*' \) -exec rm -rf {} +
  fi
  rm -rf "$CLASSES"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

main() {
  STARTED=$SECONDS
  local rep name order cpu0 cpu1 n f
  if [[ " $BENCH_BROKERS " == *" runnel "* && ! -x "$RUNNEL_BIN" ]]; then
    log "no Runnel binary at $RUNNEL_BIN (set RUNNEL_BIN; this script does not build)"; exit 1
  fi
  kt_install || exit 1
  mkdir -p "$CLASSES"
  javac -nowarn -d "$CLASSES" -cp "$KT_LIB/*" "$BENCH_DIR/share-compare/ShareLoad.java" 2>"$BENCH_OUT/javac.log" \
    || { cat "$BENCH_OUT/javac.log" >&2; log "javac failed"; exit 1; }
  write_kafka_log4j
  {
    echo "command: $COMMAND"
    echo "date: $(date -u +%FT%TZ)"
    echo "runnel: $RUNNEL_BIN ($(stat -c '%y' "$RUNNEL_BIN" 2>/dev/null | cut -d. -f1)); repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "java: $(java -version 2>&1 | head -1); client JVM $BENCH_CLIENT_JVM_OPTS; kafka JVM: $BENCH_KAFKA_JVM_OPTS"
    echo "broker settings (both): $BASE_PROPS"
    echo "workload: topic $TOPIC, 1 partition, $BENCH_RECORDS records x $BENCH_VALUE_SIZE B preloaded; share consumers: $BENCH_CONSUMERS (implicit acknowledgement, default max.poll.records); consume timeout $BENCH_CONSUME_TIMEOUT s; reps $BENCH_REPS; a fresh broker per (broker, consumer count, repetition)"
    [[ -n "${BENCH_RUNNEL_LOG:-}" ]] && echo "runnel log: RUNNEL_LOG=$BENCH_RUNNEL_LOG"
  } > "$BENCH_OUT/meta.txt"
  cat "$BENCH_OUT/meta.txt" >&2
  wrap_runnel_log
  cpu0=$(cpu_stat)

  for ((rep = 1; rep <= BENCH_REPS; rep++)); do
    read -r -a order <<< "$BENCH_BROKERS"
    (( rep % 2 == 0 )) && mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)
    for n in $BENCH_CONSUMERS; do
      for name in "${order[@]}"; do run "$name" "$rep" "$n"; done
    done
    log "repetition $rep done (load $(cut -d' ' -f1 /proc/loadavg), $((SECONDS - STARTED)) s)"
  done

  cpu1=$(cpu_stat)
  {
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); both cores $(pct_of "$cpu0" "$cpu1" 1)% busy and $(pct_of "$cpu0" "$cpu1" 2)% stolen over the run; wall time $((SECONDS - STARTED)) s"
    for f in "$BENCH_OUT"/logs/*-r1.features.log; do
      [[ -f "$f" ]] && echo "features ${f##*/}: $(grep -E 'share.version|metadata.version' "$f" | tail -2 | tr -s ' \t' ' ' | tr '\n' ';')"
    done
  } >> "$BENCH_OUT/meta.txt"
  # Broker log lines worth a look (Runnel: WARN/ERROR/panic; Kafka: ERROR).
  for f in "$BENCH_OUT"/logs/runnel-*.broker.log; do
    [[ -f "$f" ]] && grep -E ' (WARN|ERROR) |panicked' "$f" | head -5 | sed "s|^|${f##*/}: |"
  done >> "$ANOMALIES"
  for f in "$BENCH_OUT"/logs/kafka-*.broker.log; do
    [[ -f "$f" ]] && grep -E '\] ERROR ' "$f" | head -5 | sed "s|^|${f##*/}: |"
  done >> "$ANOMALIES"
  python3 "$BENCH_DIR/share-compare/report.py" "$RESULTS" > "$BENCH_OUT/table.md"
  echo
  cat "$BENCH_OUT/meta.txt"
  echo
  cat "$BENCH_OUT/table.md"
  echo
  if [[ -s "$ANOMALIES" ]]; then echo "anomalies:"; cat "$ANOMALIES"; else echo "anomalies: none"; fi
  echo
  echo "raw results and logs: $BENCH_OUT"
}

main "$@"
