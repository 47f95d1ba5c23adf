#!/usr/bin/env bash
# bench/txn-compare.sh -- transactional produce, Runnel vs Apache Kafka 4.4.0 (single node, KRaft
# combined), side by side on this machine, with kafka-clients 4.4.0 (transactions v2 against
# brokers that offer it).
#
# What this script owns: this benchmark's procedure and knobs. The client is
# bench/txn-compare/TxnLoad.java (kafka-clients 4.4.0, compiled here with javac); the table is
# bench/txn-compare/report.py; the brokers are started and stopped by
# bench/kafka-compare/brokers.sh (Runnel: $RUNNEL_BIN serve; Kafka: the Maven Central jars
# installed by compat/kafka-tools.sh, JVM flags of Kafka's start script), each run in a fresh
# temp dir on free 127.0.0.1 ports, one broker at a time. Both brokers get the same settings:
# group.initial.rebalance.delay.ms=0, offsets.topic.replication.factor=1,
# transaction.state.log.replication.factor=1, transaction.state.log.min.isr=1 (everything else
# each broker's default: 50 __transaction_state and 50 __consumer_offsets partitions, no fsync
# per write). Kafka logs WARN and above to stderr with epoch-ms timestamps (log4j2 config
# written here).
#
# Each repetition, per broker (order alternating between repetitions), on a fresh broker each:
#   produce: topic "txn-out" with BENCH_PARTITIONS partitions; TxnLoad produce: one
#            transactional producer, BENCH_WARMUP untimed then BENCH_TXNS timed transactions of
#            BENCH_RECORDS_PER_TXN records of BENCH_VALUE_SIZE bytes, record i to partition
#            i % BENCH_PARTITIONS (every transaction touches every partition), each ended by
#            commitTransaction().
#   ctp:     topics "ctp-in" and "ctp-out" (BENCH_PARTITIONS partitions each); TxnLoad ctp fills
#            ctp-in (untimed), then consume-transform-produce: a read_committed group consumer
#            and a transactional producer, BENCH_WARMUP + BENCH_CTP_TXNS transactions of
#            BENCH_RECORDS_PER_TXN records copied to ctp-out, each with
#            sendOffsetsToTransaction(the group's offsets) before commitTransaction().
# Measured: records/s and transactions/s from the first timed beginTransaction to the last
# commit's return; the wall time of each commitTransaction() (p50/p90/p99/max; it includes the
# flush of the transaction's last records and EndTxn); the broker's CPU over the timed section.
# After the clock, TxnLoad reads the output back with read_committed and checks the count (and,
# for ctp, the group's committed offsets). Every run is repeated BENCH_REPS times; the table
# shows medians, every run, Runnel / Kafka and the targets (Runnel records/s >= Kafka's; Runnel
# commit p99 <= half of Kafka's). Broker logs are scanned for WARN/ERROR/panic lines, and
# anything unexpected (a failed client, a commit >= 1 s, a broker that died, a wrong read-back)
# is listed under "anomalies", with the client's exception.
#
# Usage (from anywhere; run by hand, not by ./test.sh; ~8 minutes with the defaults here):
#   RUNNEL_BIN=/path/to/runnel bench/txn-compare.sh
# Knobs (environment):
#   BENCH_REPS (3)  BENCH_TXNS (1500)  BENCH_CTP_TXNS (600)  BENCH_WARMUP (100)
#   BENCH_RECORDS_PER_TXN (100)  BENCH_VALUE_SIZE (512)  BENCH_PARTITIONS (8)
#   BENCH_BROKERS ("runnel kafka")  BENCH_ONLY ("produce ctp")
#   BENCH_TOOL_TIMEOUT (300)    seconds before one client run is killed (and reported n/a)
#   BENCH_BUDGET (2400)         seconds; no new run starts after this (the rest is n/a)
#   BENCH_RUNNEL_LOG (unset)    RUNNEL_LOG for the Runnel broker (e.g. "info,broker=debug"; the
#                               broker is then started through a small exec wrapper, because
#                               brokers.sh clears RUNNEL_* variables)
#   BENCH_KAFKA_JVM_OPTS, BENCH_CLIENT_JVM_OPTS   as in bench/kafka-compare/brokers.sh
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
# shellcheck source=kafka-compare/brokers.sh
source "$BENCH_DIR/kafka-compare/brokers.sh"

COMMAND="$(env | grep -E '^(BENCH_[A-Z_]+|RUNNEL_BIN)=' | grep -v '^BENCH_DIR=' | sort | while IFS='=' read -r k v; do printf '%s=%q ' "$k" "$v"; done)bench/txn-compare.sh"
BENCH_REPS=${BENCH_REPS:-3}
BENCH_TXNS=${BENCH_TXNS:-1500}
BENCH_CTP_TXNS=${BENCH_CTP_TXNS:-600}
BENCH_WARMUP=${BENCH_WARMUP:-100}
BENCH_RECORDS_PER_TXN=${BENCH_RECORDS_PER_TXN:-100}
BENCH_VALUE_SIZE=${BENCH_VALUE_SIZE:-512}
BENCH_PARTITIONS=${BENCH_PARTITIONS:-8}
BENCH_BROKERS=${BENCH_BROKERS:-runnel kafka}
BENCH_ONLY=${BENCH_ONLY:-produce ctp}
BENCH_TOOL_TIMEOUT=${BENCH_TOOL_TIMEOUT:-300}
BENCH_BUDGET=${BENCH_BUDGET:-2400}
BENCH_KEEP_DATA=${BENCH_KEEP_DATA:-0}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/runnel-txn-compare.XXXXXX")}
mkdir -p "$BENCH_OUT/logs"
RESULTS="$BENCH_OUT/results.tsv"
ANOMALIES="$BENCH_OUT/anomalies.txt"
CLASSES="$BENCH_OUT/classes"
: > "$RESULTS"
: > "$ANOMALIES"
BASE_PROPS="group.initial.rebalance.delay.ms=0 offsets.topic.replication.factor=1 transaction.state.log.replication.factor=1 transaction.state.log.min.isr=1"
# shellcheck disable=SC2034  # read by bk_start (brokers.sh)
BENCH_BROKER_PROPS="$BASE_PROPS"

log() { printf '[txn %s] %s\n' "$(date +%T)" "$*" >&2; }
wants() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }
# record BROKER METRIC REP VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RESULTS"; }
anomaly() { log "ANOMALY: $*"; echo "$*" >> "$ANOMALIES"; }
# field KEY LINE: the value of key=value in a result line.
field() { sed -nE "s/^(.* )?$1=([^ ]*).*/\\2/p" <<< "$2"; }
# cpu_stat: machine-wide "busy steal total" jiffies from /proc/stat (as bench/client-compare.sh).
cpu_stat() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, $9, t}' /proc/stat; }
pct_of() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[f] - x[f]) / (y[3] - x[3]) }'; }

# client LOG SUBCOMMAND ARGS...: TxnLoad in the foreground, bounded by BENCH_TOOL_TIMEOUT.
client() {
  local out=$1 opts=(); shift
  read -r -a opts <<< "$BENCH_CLIENT_JVM_OPTS"
  timeout -k 10 "$BENCH_TOOL_TIMEOUT" java "${opts[@]}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" \
    -cp "$CLASSES:$KT_LIB/*" TxnLoad "$@" >"$out" 2>&1
}

# tool LOG CLASS ARGS...: one of Kafka's own command-line tools, bounded (90 s).
tool() {
  local out=$1 opts=(); shift
  read -r -a opts <<< "$BENCH_CLIENT_JVM_OPTS"
  timeout -k 10 90 java "${opts[@]}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" \
    -cp "$KT_LIB/*" "$@" >>"$out" 2>&1
}

create_topic() { # BOOT TOPIC LOG
  tool "$3" org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" --create --topic "$2" \
    --partitions "$BENCH_PARTITIONS" --replication-factor 1
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

METRICS=(records_per_s txns_per_s mib_per_s commit_p50_ms commit_p90_ms commit_p99_ms commit_max_ms
         commit_mean_ms txn_p50_ms txn_p99_ms slow_commits broker_cpu_s)

# run NAME REP SCENARIO (produce|ctp)
run() {
  local name=$1 rep=$2 sc=$3 tag="$1-$3-r$2" dir="$BENCH_OUT/$1-$3-r$2" out line m args
  out="$BENCH_OUT/logs/$tag"
  if over_budget; then record "$name" "${sc}_records_per_s" "$rep" "n/a (budget)"; return; fi
  record "$name" "${sc}_load1" "$rep" "$(cut -d' ' -f1 /proc/loadavg)"
  start "$name" "$dir" || { anomaly "$tag: $name did not start"; record "$name" "${sc}_records_per_s" "$rep" "n/a (start)"; return; }
  if [[ $rep == 1 ]]; then
    tool "$out.features.log" org.apache.kafka.tools.FeatureCommand --bootstrap-server "$BOOT" describe
  fi
  local created=1
  if [[ $sc == produce ]]; then
    create_topic "$BOOT" txn-out "$out.tools.log" || created=0
    args=(produce --topic txn-out --txns "$BENCH_TXNS")
  else
    { create_topic "$BOOT" ctp-in "$out.tools.log" && create_topic "$BOOT" ctp-out "$out.tools.log"; } || created=0
    args=(ctp --in ctp-in --out ctp-out --txns "$BENCH_CTP_TXNS")
  fi
  if (( created == 0 )); then
    anomaly "$tag: creating topics failed: $(why "$out.tools.log")"; record "$name" "${sc}_records_per_s" "$rep" "n/a (create)"; finish "$name" "$dir" "$tag"; return
  fi
  client "$out.client.log" "${args[@]}" --bootstrap "$BOOT" --partitions "$BENCH_PARTITIONS" \
    --warmup "$BENCH_WARMUP" --records "$BENCH_RECORDS_PER_TXN" --size "$BENCH_VALUE_SIZE" \
    --broker-pid "$PID" --lat-file "$out.commit-us.txt"
  local rc=$?
  line=$(grep -m1 "^RESULT $sc " "$out.client.log")
  if [[ -z "$line" ]]; then
    anomaly "$tag: TxnLoad $sc failed (exit $rc): $(why "$out.client.log"); see logs/$tag.client.log"
    record "$name" "${sc}_records_per_s" "$rep" "n/a (exit $rc)"; finish "$name" "$dir" "$tag"; return
  fi
  for m in "${METRICS[@]}"; do record "$name" "${sc}_$m" "$rep" "$(field "$m" "$line")"; done
  # Produce responses the client retried (e.g. NOT_ENOUGH_REPLICAS for CONCURRENT_TRANSACTIONS).
  record "$name" "${sc}_produce_retries" "$rep" "$(grep -c 'Got error produce response' "$out.client.log")"
  record "$name" "${sc}_verify_ok" "$rep" "$([[ "$(field complete "$line")" == true ]] && echo 1 || echo 0)"
  [[ "$(field complete "$line")" == true ]] || anomaly "$tag: read-back check failed: $line; $(why "$out.client.log")"
  [[ "$(field slow_commits "$line")" == 0 ]] || anomaly "$tag: $(field slow_commits "$line") commits took >= 1 s: $(grep -m3 '^SLOW' "$out.client.log" | tr '\n' ';')"
  log "$tag: ${line#RESULT "$sc" }"
  finish "$name" "$dir" "$tag"
}

write_kafka_log4j() {
  BENCH_KAFKA_LOG4J="$BENCH_OUT/log4j2-kafka.properties"
  cat > "$BENCH_KAFKA_LOG4J" <<'EOF'
# Written by bench/txn-compare.sh: Kafka's broker WARN and above to stderr, epoch-ms timestamps.
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
  printf '#!/bin/sh\n# Written by bench/txn-compare.sh: runnel with RUNNEL_LOG set.\nRUNNEL_LOG=%q exec %q "$@"\n' \
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
  local rep name order cpu0 cpu1 sc f
  if [[ " $BENCH_BROKERS " == *" runnel "* && ! -x "$RUNNEL_BIN" ]]; then
    log "no Runnel binary at $RUNNEL_BIN (set RUNNEL_BIN; this script does not build)"; exit 1
  fi
  kt_install || exit 1
  mkdir -p "$CLASSES"
  javac -nowarn -d "$CLASSES" -cp "$KT_LIB/*" "$BENCH_DIR/txn-compare/TxnLoad.java" 2>"$BENCH_OUT/javac.log" \
    || { cat "$BENCH_OUT/javac.log" >&2; log "javac failed"; exit 1; }
  write_kafka_log4j
  {
    echo "command: $COMMAND"
    echo "date: $(date -u +%FT%TZ)"
    echo "runnel: $RUNNEL_BIN ($(stat -c '%y' "$RUNNEL_BIN" 2>/dev/null | cut -d. -f1)); repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "java: $(java -version 2>&1 | head -1); client JVM $BENCH_CLIENT_JVM_OPTS; kafka JVM: $BENCH_KAFKA_JVM_OPTS"
    echo "broker settings (both): $BASE_PROPS"
    echo "workload: $BENCH_PARTITIONS partitions, $BENCH_RECORDS_PER_TXN records x $BENCH_VALUE_SIZE B per transaction; produce: $BENCH_WARMUP + $BENCH_TXNS transactions; ctp: $BENCH_WARMUP + $BENCH_CTP_TXNS; reps $BENCH_REPS; scenarios: $BENCH_ONLY"
    [[ -n "${BENCH_RUNNEL_LOG:-}" ]] && echo "runnel log: RUNNEL_LOG=$BENCH_RUNNEL_LOG"
  } > "$BENCH_OUT/meta.txt"
  cat "$BENCH_OUT/meta.txt" >&2
  wrap_runnel_log
  cpu0=$(cpu_stat)

  for ((rep = 1; rep <= BENCH_REPS; rep++)); do
    read -r -a order <<< "$BENCH_BROKERS"
    (( rep % 2 == 0 )) && mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)
    for sc in produce ctp; do
      wants "$sc" || continue
      for name in "${order[@]}"; do run "$name" "$rep" "$sc"; done
    done
    log "repetition $rep done (load $(cut -d' ' -f1 /proc/loadavg), $((SECONDS - STARTED)) s)"
  done

  cpu1=$(cpu_stat)
  {
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); both cores $(pct_of "$cpu0" "$cpu1" 1)% busy and $(pct_of "$cpu0" "$cpu1" 2)% stolen over the run; wall time $((SECONDS - STARTED)) s"
    for f in "$BENCH_OUT"/logs/*-r1.features.log; do
      [[ -f "$f" ]] && echo "features ${f##*/}: $(grep -E 'transaction.version|metadata.version' "$f" | tr -s ' \t' ' ' | tr '\n' ';')"
    done
  } >> "$BENCH_OUT/meta.txt"
  # Broker log lines worth a look (Runnel: WARN/ERROR/panic; Kafka: ERROR).
  for f in "$BENCH_OUT"/logs/runnel-*.broker.log; do
    [[ -f "$f" ]] && grep -E ' (WARN|ERROR) |panicked' "$f" | head -5 | sed "s|^|${f##*/}: |"
  done >> "$ANOMALIES"
  for f in "$BENCH_OUT"/logs/kafka-*.broker.log; do
    [[ -f "$f" ]] && grep -E '\] ERROR ' "$f" | head -5 | sed "s|^|${f##*/}: |"
  done >> "$ANOMALIES"
  python3 "$BENCH_DIR/txn-compare/report.py" "$RESULTS" > "$BENCH_OUT/table.md"
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
