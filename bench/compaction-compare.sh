#!/usr/bin/env bash
# bench/compaction-compare.sh -- log compaction, Runnel vs Apache Kafka 4.4.0 (single node, KRaft
# combined), side by side on this machine:
#   1. clean:   the log cleaner's throughput on the first full cleaning of the same keyed log;
#   2. produce: produce throughput to another topic while the cleaner cleans a big compacted
#               log, against the same produce with the cleaner disabled on the same broker.
#
# What this script owns: this benchmark's procedure and knobs. The client is
# bench/compaction-compare/CompactionLoad.java (kafka-clients 4.4.0, compiled here with javac);
# log parsing and the table are bench/compaction-compare/report.py; the brokers are started and
# stopped by bench/kafka-compare/brokers.sh (Runnel: $RUNNEL_BIN serve; Kafka: the Maven Central
# jars installed by compat/kafka-tools.sh, JVM flags of Kafka's start script), each run in a
# fresh temp dir on free 127.0.0.1 ports, one broker at a time. Both brokers get the same
# settings: log.cleaner.backoff.ms=$BENCH_BACKOFF_MS, log.cleaner.threads=1,
# log.cleaner.dedupe.buffer.size=134217728 (both defaults), group.initial.rebalance.delay.ms=0,
# and log.cleaner.enable=true unless said otherwise. Kafka logs with a log4j2 config written
# here: WARN to stderr, plus INFO for LogCleaner and LogCleaner$CleanerThread (the per-cleaning
# stats block), with epoch-ms timestamps.
#
# Each repetition, per broker (order alternating between repetitions):
#   1. clean: a fresh broker; topic "big": 1 partition, segment.bytes=$BENCH_SEGMENT_BYTES,
#      min.cleanable.dirty.ratio=$BENCH_DIRTY_RATIO, retention.ms=-1, cleanup.policy=delete
#      while it is filled, so no cleaning starts early. CompactionLoad fill writes BENCH_MB MiB
#      of keyed records (BENCH_KEYS keys drawn uniformly, values of BENCH_VALUE_MIN..MAX random
#      bytes, the same sequence on both brokers; acks=all). The segment files are fsynced
#      (sync FILE), then ConfigCommand sets cleanup.policy=compact: the next cleaner pass cleans
#      the whole log but its active segment, from scratch. The first cleaning of big-0 is read
#      from the broker's log (Runnel: the "log cleaned" INFO line; Kafka: "Log cleaner thread 0
#      cleaned log big-0 ... MB of log processed in ... seconds (... MB/sec)"): MiB read per
#      second of the cleaning's own duration (both brokers time the same span: building the
#      offset map, rewriting, swapping in). The cleaner thread's CPU (/proc/PID/task/TID/stat,
#      "log-cleaner-0" / "kafka-log-clean") is read before the policy change and after the
#      cleaning. Then CompactionLoad verify reads the topic back and checks every key's last
#      value.
#   2. produce, twice (cleaner disabled and enabled, order alternating): a fresh broker with
#      log.cleaner.enable=false|true; "big" as above but BENCH_BUSY_MB MiB; topic "load" (1
#      partition, cleanup.policy=delete, the brokers' default segment size). After the policy
#      change, the producer JVM is started and waits on a go-file; with the cleaner enabled the
#      go-file is written once the cleaner thread is seen busy (>= 30 ms CPU within 100 ms),
#      with it disabled BENCH_BACKOFF_MS after the policy change. CompactionLoad produce then
#      writes BENCH_PRODUCE_RECORDS records of BENCH_PRODUCE_SIZE bytes to "load" (acks=all,
#      idempotent, linger.ms=5, batch.size=131072) and reports MiB/s from its first send to its
#      last ack. With the cleaner enabled the script then waits for the cleaning to end and
#      reads it from the broker's log: "coverage" is the share of the produce interval that lies
#      within the cleaning's span (its end minus its duration, to its end), and the cleaning's
#      MiB/s under that load is reported too. The drop is 1 - enabled / disabled of the same
#      repetition; the table gives the median of the drops.
# Every run is repeated BENCH_REPS times; the table shows medians, every run, Runnel / Kafka and
# the targets (Runnel cleaner MiB/s >= Kafka's; Runnel's produce drop while cleaning <= 10%).
# Broker logs are scanned for WARN/ERROR/panic lines, and anything unexpected (a broker that
# died, a cleaning that never came, a wrong read-back) is listed under "anomalies".
#
# Usage (from anywhere; run by hand, not by ./test.sh; 10-15 minutes with the defaults here):
#   RUNNEL_BIN=/path/to/runnel bench/compaction-compare.sh
# Knobs (environment):
#   BENCH_REPS (3)  BENCH_MB (200)  BENCH_BUSY_MB (800)  BENCH_KEYS (100000)
#   BENCH_VALUE_MIN (100)  BENCH_VALUE_MAX (500)  BENCH_SEGMENT_BYTES (1048576; Kafka 4 refuses
#   less than 1 MiB)  BENCH_DIRTY_RATIO (0.01)  BENCH_BACKOFF_MS (1000)
#   BENCH_PRODUCE_RECORDS (300000)  BENCH_PRODUCE_SIZE (1024)
#   BENCH_BROKERS ("runnel kafka")  BENCH_ONLY ("clean produce")
#   BENCH_CLEAN_TIMEOUT (300)   seconds to wait for a cleaning before the run is n/a
#   BENCH_TOOL_TIMEOUT (600)    seconds before one client run is killed (and reported n/a)
#   BENCH_BUDGET (3600)         seconds; no new run starts after this (the rest is n/a)
#   BENCH_SETTLE (2)            seconds of sleep after the fsync of the filled log
#   BENCH_PIN (unset)           "B C": after each start, pin every thread of the broker to CPU B
#                               (taskset -a -p) and run CompactionLoad on CPU C (taskset -c), so
#                               the cleaner competes with the broker's threads but not the client
#   BENCH_CLEANER_IO_MAX (unset)   log.cleaner.io.max.bytes.per.second for both brokers (a
#                               throttled cleaner; unset: both brokers' default, unthrottled)
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

COMMAND="$(env | grep -E '^(BENCH_[A-Z_]+|RUNNEL_BIN)=' | grep -v '^BENCH_DIR=' | sort | while IFS='=' read -r k v; do printf '%s=%q ' "$k" "$v"; done)bench/compaction-compare.sh"
BENCH_REPS=${BENCH_REPS:-3}
BENCH_MB=${BENCH_MB:-200}
BENCH_BUSY_MB=${BENCH_BUSY_MB:-800}
BENCH_KEYS=${BENCH_KEYS:-100000}
BENCH_VALUE_MIN=${BENCH_VALUE_MIN:-100}
BENCH_VALUE_MAX=${BENCH_VALUE_MAX:-500}
BENCH_SEGMENT_BYTES=${BENCH_SEGMENT_BYTES:-1048576}
BENCH_DIRTY_RATIO=${BENCH_DIRTY_RATIO:-0.01}
BENCH_BACKOFF_MS=${BENCH_BACKOFF_MS:-1000}
BENCH_PRODUCE_RECORDS=${BENCH_PRODUCE_RECORDS:-300000}
BENCH_PRODUCE_SIZE=${BENCH_PRODUCE_SIZE:-1024}
BENCH_BROKERS=${BENCH_BROKERS:-runnel kafka}
BENCH_ONLY=${BENCH_ONLY:-clean produce}
BENCH_CLEAN_TIMEOUT=${BENCH_CLEAN_TIMEOUT:-300}
BENCH_TOOL_TIMEOUT=${BENCH_TOOL_TIMEOUT:-600}
BENCH_BUDGET=${BENCH_BUDGET:-3600}
BENCH_SETTLE=${BENCH_SETTLE:-2}
BENCH_KEEP_DATA=${BENCH_KEEP_DATA:-0}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/runnel-compaction-compare.XXXXXX")}
mkdir -p "$BENCH_OUT/logs"
RESULTS="$BENCH_OUT/results.tsv"
ANOMALIES="$BENCH_OUT/anomalies.txt"
CLASSES="$BENCH_OUT/classes"
: > "$RESULTS"
: > "$ANOMALIES"
HZ=$(getconf CLK_TCK)
BASE_PROPS="group.initial.rebalance.delay.ms=0 log.cleaner.backoff.ms=$BENCH_BACKOFF_MS log.cleaner.threads=1 log.cleaner.dedupe.buffer.size=134217728"
[[ -n "${BENCH_CLEANER_IO_MAX:-}" ]] && BASE_PROPS+=" log.cleaner.io.max.bytes.per.second=$BENCH_CLEANER_IO_MAX"

log() { printf '[compaction %s] %s\n' "$(date +%T)" "$*" >&2; }
wants() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }
# record BROKER METRIC REP VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RESULTS"; }
anomaly() { log "ANOMALY: $*"; echo "$*" >> "$ANOMALIES"; }
# field KEY LINE: the value of key=value in a result line.
field() { sed -nE "s/^(.* )?$1=([^ ]*).*/\\2/p" <<< "$2"; }
now_ms() { date +%s%3N; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
thread_ticks() { awk '{print $14 + $15}' "/proc/$1/task/$2/stat" 2>/dev/null; }
# cpu_stat: machine-wide "busy steal total" jiffies from /proc/stat (as bench/client-compare.sh).
cpu_stat() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, $9, t}' /proc/stat; }
pct_of() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[f] - x[f]) / (y[3] - x[3]) }'; }

# cleaner_tid PID: the broker's cleaner thread (Runnel "log-cleaner-0"; Kafka's
# "kafka-log-cleaner-thread-0", which the kernel shows cut to 15 characters).
cleaner_tid() {
  local t
  for t in /proc/"$1"/task/*; do
    case "$(cat "$t/comm" 2>/dev/null)" in
      log-cleaner-0|kafka-log-clean) echo "${t##*/}"; return 0 ;;
    esac
  done
  return 1
}

# wait_busy PID TID SECS: until the thread used >= 3 ticks (30 ms) of CPU within 100 ms.
wait_busy() {
  local pid=$1 tid=$2 i a b
  for ((i = 0; i < $3 * 10; i++)); do
    a=$(thread_ticks "$pid" "$tid") || return 1
    sleep 0.1
    b=$(thread_ticks "$pid" "$tid") || return 1
    (( b - a >= 3 )) && return 0
  done
  return 1
}

# client_cmd SUBCOMMAND ARGS...: sets CMD to CompactionLoad bounded by BENCH_TOOL_TIMEOUT.
client_cmd() {
  local opts=()
  read -r -a opts <<< "$BENCH_CLIENT_JVM_OPTS"
  CMD=(timeout -k 10 "$BENCH_TOOL_TIMEOUT")
  [[ -n "${BENCH_PIN:-}" ]] && CMD+=(taskset -c "${BENCH_PIN#* }")
  CMD+=(java "${opts[@]}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties"
       -cp "$CLASSES:$KT_LIB/*" CompactionLoad "$@")
}
# client LOG SUBCOMMAND ARGS...: run it in the foreground, output to LOG.
client() { local out=$1; shift; client_cmd "$@"; "${CMD[@]}" >"$out" 2>&1; }

# tool LOG CLASS ARGS...: one of Kafka's own command-line tools, bounded (90 s).
tool() {
  local out=$1 opts=(); shift
  read -r -a opts <<< "$BENCH_CLIENT_JVM_OPTS"
  timeout -k 10 90 java "${opts[@]}" -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" \
    -cp "$KT_LIB/*" "$@" >>"$out" 2>&1
}

create_topic() { # BOOT TOPIC LOG [--config k=v ...]
  local boot=$1 topic=$2 out=$3; shift 3
  tool "$out" org.apache.kafka.tools.TopicCommand --bootstrap-server "$boot" --create --topic "$topic" \
    --partitions 1 --replication-factor 1 "$@"
}

BIG_CONFIG=(--config "segment.bytes=$BENCH_SEGMENT_BYTES" --config "min.cleanable.dirty.ratio=$BENCH_DIRTY_RATIO"
            --config retention.ms=-1 --config cleanup.policy=delete)

# fill BOOT MB LOG: the keyed workload into "big"; prints the RESULT line.
fill_args() { echo "--bootstrap $1 --topic big --bytes $(( $2 * 1048576 )) --keys $BENCH_KEYS --value-min $BENCH_VALUE_MIN --value-max $BENCH_VALUE_MAX --seed 42"; }

# why LOG: the first error-looking line of a client log, for "n/a (...)".
why() { grep -m1 -E 'Exception|ERROR|error|missing|RESULT' "$1" 2>/dev/null | cut -c1-160 | tr '\t' ' '; }

# start NAME DIR ENABLE: a fresh broker (sets PID, BOOT).
start() {
  local name=$1 dir=$2 port cport
  port=$(bk_free_port); cport=$(bk_free_port)
  # shellcheck disable=SC2034  # read by bk_start (brokers.sh)
  BENCH_BROKER_PROPS="$BASE_PROPS log.cleaner.enable=$3"
  bk_start "$name" "$dir" "$port" "$cport" || return 1
  PID=$BK_PID BOOT="127.0.0.1:$port"
  if [[ -n "${BENCH_PIN:-}" ]]; then taskset -a -p -c "${BENCH_PIN%% *}" "$PID" >/dev/null || return 1; fi
}

# finish NAME DIR TAG: stop the broker, keep its log, drop its data.
finish() {
  local name=$1 dir=$2 tag=$3
  kill -0 "$PID" 2>/dev/null || anomaly "$tag: the $name broker (pid $PID) was not running at the end of the run; see logs/$tag.broker.log"
  bk_stop "$PID"
  cp "$dir/broker.log" "$BENCH_OUT/logs/$tag.broker.log" 2>/dev/null
  [[ "$BENCH_KEEP_DATA" == 1 ]] || rm -rf "$dir"
}

# wait_cleaning NAME LOG: until the first cleaning of big-0 is in the broker's log (at most
# BENCH_CLEAN_TIMEOUT s, or until the broker exits); prints report.py's line; 1 if none came.
wait_cleaning() {
  local st="done=0" i
  for ((i = 0; i < BENCH_CLEAN_TIMEOUT * 4; i++)); do
    st=$(python3 "$BENCH_DIR/compaction-compare/report.py" cleaning "$1" "$2" big)
    [[ "$(field "done" "$st")" == 1 ]] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.25
  done
  echo "$st"
  [[ "$(field "done" "$st")" == 1 ]]
}

over_budget() { (( SECONDS - STARTED > BENCH_BUDGET )); }

# fsync the filled segments so the cleaning does not start with the fill's write-back pending.
settle() { sync "$1"/data/big-0/*.log 2>/dev/null; sleep "$BENCH_SETTLE"; }

alter_compact() { # BOOT LOG
  tool "$2" org.apache.kafka.tools.ConfigCommand --bootstrap-server "$1" --entity-type topics --entity-name big \
    --alter --add-config cleanup.policy=compact && grep -q "Completed updating config" "$2"
}

run_clean() {
  local name=$1 rep=$2 tag="$1-clean-r$2" dir="$BENCH_OUT/$1-clean-r$2" out line tid c0 c1 t_alter st
  out="$BENCH_OUT/logs/$tag"
  if over_budget; then record "$name" clean_mib_s "$rep" "n/a (budget)"; return; fi
  start "$name" "$dir" true || { anomaly "$tag: $name did not start"; record "$name" clean_mib_s "$rep" "n/a (start)"; return; }
  if ! create_topic "$BOOT" big "$out.tools.log" "${BIG_CONFIG[@]}"; then
    anomaly "$tag: creating big failed: $(why "$out.tools.log")"; record "$name" clean_mib_s "$rep" "n/a (create)"; finish "$name" "$dir" "$tag"; return
  fi
  # shellcheck disable=SC2046
  if ! client "$out.fill.log" fill $(fill_args "$BOOT" "$BENCH_MB"); then
    anomaly "$tag: fill failed: $(why "$out.fill.log")"; record "$name" clean_mib_s "$rep" "n/a (fill)"; finish "$name" "$dir" "$tag"; return
  fi
  line=$(grep '^RESULT' "$out.fill.log")
  record "$name" fill_mib_s "$rep" "$(field mib_per_s "$line")"
  settle "$dir"
  tid=$(cleaner_tid "$PID") || anomaly "$tag: no cleaner thread found in $name (pid $PID)"
  c0=$(thread_ticks "$PID" "$tid")
  t_alter=$(now_ms)
  if ! alter_compact "$BOOT" "$out.tools.log"; then
    anomaly "$tag: cleanup.policy=compact refused: $(why "$out.tools.log")"; record "$name" clean_mib_s "$rep" "n/a (alter)"; finish "$name" "$dir" "$tag"; return
  fi
  st=$(wait_cleaning "$name" "$dir/broker.log")
  c1=$(thread_ticks "$PID" "$tid")
  if [[ "$(field "done" "$st")" != 1 ]]; then
    anomaly "$tag: no cleaning of big-0 in $name's log within ${BENCH_CLEAN_TIMEOUT} s of cleanup.policy=compact (broker alive: $(kill -0 "$PID" 2>/dev/null && echo yes || echo no)); see logs/$tag.broker.log"
    record "$name" clean_mib_s "$rep" "n/a (no cleaning)"; finish "$name" "$dir" "$tag"; return
  fi
  echo "$st" > "$out.cleaning.txt"
  log "$tag: $st"
  record "$name" clean_mib_s "$rep" "$(field mib_per_s "$st")"
  record "$name" clean_read_mib "$rep" "$(calc "$(field read_bytes "$st") / 1048576" 1)"
  record "$name" clean_written_mib "$rep" "$(calc "$(field written_bytes "$st") / 1048576" 1)"
  record "$name" clean_elapsed_s "$rep" "$(calc "$(field elapsed_ms "$st") / 1000" 3)"
  record "$name" clean_records_read "$rep" "$(field records_read "$st")"
  record "$name" clean_records_kept "$rep" "$(field records_kept "$st")"
  record "$name" clean_start_s "$rep" "$(calc "($(field end_ms "$st") - $(field elapsed_ms "$st") - $t_alter) / 1000" 2)"
  if [[ -n "$c0" && -n "$c1" ]]; then
    record "$name" clean_cpu_s "$rep" "$(calc "($c1 - $c0) / $HZ" 2)"
    (( c1 > c0 )) && record "$name" clean_mib_per_cpu_s "$rep" "$(calc "$(field read_bytes "$st") / 1048576 / (($c1 - $c0) / $HZ)" 1)"
  fi
  local written
  written=$(field records "$line")
  (( $(field records_read "$st") < written * 95 / 100 )) && \
    anomaly "$tag: the first cleaning read $(field records_read "$st") records of the $written written (end offset $(field end_offset "$st"))"
  # shellcheck disable=SC2046
  client "$out.verify.log" verify $(fill_args "$BOOT" "$BENCH_MB")
  line=$(grep '^RESULT' "$out.verify.log")
  if [[ -n "$line" && "$(field complete "$line")" == true ]]; then
    record "$name" verify_bad_keys "$rep" "$(( $(field missing "$line") + $(field wrong "$line") + $(field unknown "$line") ))"
    [[ "$(field missing "$line")$(field wrong "$line")$(field unknown "$line")" == 000 ]] || anomaly "$tag: read-back after cleaning: $line"
  else
    record "$name" verify_bad_keys "$rep" "n/a (verify)"; anomaly "$tag: verify did not complete: $(why "$out.verify.log")"
  fi
  log "$tag: verify: ${line#RESULT verify }"
  finish "$name" "$dir" "$tag"
}

# run_produce NAME REP on|off
run_produce() {
  local name=$1 rep=$2 mode=$3 tag="$1-produce-$3-r$2" dir="$BENCH_OUT/$1-produce-$3-r$2" out line tid
  local go cpid b0 b1 c0 c1 st p_start p_end coverage
  out="$BENCH_OUT/logs/$tag"
  if over_budget; then record "$name" "produce_${mode}_mib_s" "$rep" "n/a (budget)"; return; fi
  start "$name" "$dir" "$([[ $mode == on ]] && echo true || echo false)" \
    || { anomaly "$tag: $name did not start"; record "$name" "produce_${mode}_mib_s" "$rep" "n/a (start)"; return; }
  if ! create_topic "$BOOT" big "$out.tools.log" "${BIG_CONFIG[@]}" || ! create_topic "$BOOT" load "$out.tools.log"; then
    anomaly "$tag: creating topics failed: $(why "$out.tools.log")"; record "$name" "produce_${mode}_mib_s" "$rep" "n/a (create)"; finish "$name" "$dir" "$tag"; return
  fi
  # shellcheck disable=SC2046
  if ! client "$out.fill.log" fill $(fill_args "$BOOT" "$BENCH_BUSY_MB"); then
    anomaly "$tag: fill failed: $(why "$out.fill.log")"; record "$name" "produce_${mode}_mib_s" "$rep" "n/a (fill)"; finish "$name" "$dir" "$tag"; return
  fi
  settle "$dir"
  if ! alter_compact "$BOOT" "$out.tools.log"; then
    anomaly "$tag: cleanup.policy=compact refused: $(why "$out.tools.log")"; record "$name" "produce_${mode}_mib_s" "$rep" "n/a (alter)"; finish "$name" "$dir" "$tag"; return
  fi
  go="$dir/go"
  client_cmd produce --bootstrap "$BOOT" --topic load --records "$BENCH_PRODUCE_RECORDS" \
    --size "$BENCH_PRODUCE_SIZE" --go-file "$go"
  "${CMD[@]}" >"$out.produce.log" 2>&1 &
  cpid=$!
  CLIENT_PIDS+=("$cpid")
  if [[ $mode == on ]]; then
    tid=$(cleaner_tid "$PID") || anomaly "$tag: no cleaner thread found in $name (pid $PID)"
    if ! wait_busy "$PID" "$tid" 60; then
      anomaly "$tag: $name's cleaner thread was not seen busy within 60 s of cleanup.policy=compact"
    fi
  else
    sleep "$(calc "$BENCH_BACKOFF_MS / 1000" 3)"
  fi
  b0=$(proc_ticks "$PID"); c0=$(thread_ticks "$PID" "${tid:-0}")
  touch "$go"
  wait "$cpid"
  b1=$(proc_ticks "$PID"); c1=$(thread_ticks "$PID" "${tid:-0}")
  line=$(grep '^RESULT' "$out.produce.log")
  if [[ -z "$line" ]]; then
    anomaly "$tag: produce failed: $(why "$out.produce.log")"; record "$name" "produce_${mode}_mib_s" "$rep" "n/a (produce)"; finish "$name" "$dir" "$tag"; return
  fi
  record "$name" "produce_${mode}_mib_s" "$rep" "$(field mib_per_s "$line")"
  [[ -n "$b0" && -n "$b1" ]] && record "$name" "broker_cpu_${mode}_s" "$rep" "$(calc "($b1 - $b0) / $HZ" 2)"
  if [[ $mode == on ]]; then
    [[ -n "$c0" && -n "$c1" ]] && record "$name" cleaner_cpu_on_s "$rep" "$(calc "($c1 - $c0) / $HZ" 2)"
    p_start=$(field start_ms "$line"); p_end=$(field end_ms "$line")
    # The cleaning's end (and so its span) comes from the broker's log once it has ended.
    if ! st=$(wait_cleaning "$name" "$dir/broker.log"); then
      anomaly "$tag: no cleaning of big-0 in $name's log within ${BENCH_CLEAN_TIMEOUT} s after the produce run (broker alive: $(kill -0 "$PID" 2>/dev/null && echo yes || echo no)); see logs/$tag.broker.log"
      record "$name" coverage_pct "$rep" "n/a (no cleaning)"; finish "$name" "$dir" "$tag"; return
    fi
    record "$name" busy_clean_mib_s "$rep" "$(field mib_per_s "$st")"
    coverage=$(awk -v s="$p_start" -v e="$p_end" -v ce="$(field end_ms "$st")" -v el="$(field elapsed_ms "$st")" \
      'BEGIN { cs = ce - el; a = (cs > s ? cs : s); b = (ce < e ? ce : e); x = b - a; if (x < 0) x = 0; printf "%.0f", 100 * x / (e - s) }')
    record "$name" coverage_pct "$rep" "$coverage"
    log "$tag: ${line#RESULT produce } coverage=${coverage}% cleaning: $st"
  else
    log "$tag: ${line#RESULT produce }"
  fi
  finish "$name" "$dir" "$tag"
}

write_kafka_log4j() {
  BENCH_KAFKA_LOG4J="$BENCH_OUT/log4j2-kafka.properties"
  cat > "$BENCH_KAFKA_LOG4J" <<'EOF'
# Written by bench/compaction-compare.sh: Kafka's broker WARN to stderr, its log cleaner's
# per-cleaning stats (LogCleaner$CleanerThread) at INFO, epoch-ms timestamps.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_ERR
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d{UNIX_MILLIS}] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.cleaner.name = org.apache.kafka.storage.internals.log.LogCleaner
logger.cleaner.level = INFO
logger.thread.name = org.apache.kafka.storage.internals.log.LogCleaner$CleanerThread
logger.thread.level = INFO
EOF
  export BENCH_KAFKA_LOG4J
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
}
trap cleanup EXIT
trap 'exit 130' INT TERM

main() {
  STARTED=$SECONDS
  local rep name order modes cpu0 cpu1
  if [[ " $BENCH_BROKERS " == *" runnel "* && ! -x "$RUNNEL_BIN" ]]; then
    log "no Runnel binary at $RUNNEL_BIN (set RUNNEL_BIN; this script does not build)"; exit 1
  fi
  kt_install || exit 1
  mkdir -p "$CLASSES"
  javac -nowarn -d "$CLASSES" -cp "$KT_LIB/*" "$BENCH_DIR/compaction-compare/CompactionLoad.java" \
    || { log "javac failed"; exit 1; }
  write_kafka_log4j
  cpu0=$(cpu_stat)
  {
    echo "command: $COMMAND"
    echo "date: $(date -u +%FT%TZ)"
    echo "runnel: $RUNNEL_BIN ($(stat -c '%y' "$RUNNEL_BIN" 2>/dev/null | cut -d. -f1)); repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "java: $(java -version 2>&1 | head -1); client JVM $BENCH_CLIENT_JVM_OPTS; kafka JVM: $BENCH_KAFKA_JVM_OPTS"
    echo "broker settings (both): $BASE_PROPS log.cleaner.enable=true|false"
    [[ -n "${BENCH_PIN:-}" ]] && echo "pinned: broker threads on CPU ${BENCH_PIN%% *}, CompactionLoad on CPU ${BENCH_PIN#* }"
    echo "clean: $BENCH_MB MiB of keyed records, $BENCH_KEYS keys, values $BENCH_VALUE_MIN-$BENCH_VALUE_MAX B, segment.bytes=$BENCH_SEGMENT_BYTES, min.cleanable.dirty.ratio=$BENCH_DIRTY_RATIO"
    echo "produce: $BENCH_PRODUCE_RECORDS x $BENCH_PRODUCE_SIZE B to 'load' while a $BENCH_BUSY_MB MiB log of the same keyed records is cleaned, vs log.cleaner.enable=false; reps $BENCH_REPS"
  } > "$BENCH_OUT/meta.txt"
  cat "$BENCH_OUT/meta.txt" >&2

  for ((rep = 1; rep <= BENCH_REPS; rep++)); do
    read -r -a order <<< "$BENCH_BROKERS"
    (( rep % 2 == 0 )) && mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)
    modes=(off on); (( rep % 2 == 0 )) && modes=(on off)
    for name in "${order[@]}"; do
      wants clean && run_clean "$name" "$rep"
      if wants produce; then
        run_produce "$name" "$rep" "${modes[0]}"
        run_produce "$name" "$rep" "${modes[1]}"
      fi
    done
    log "repetition $rep done (load $(cut -d' ' -f1 /proc/loadavg), $((SECONDS - STARTED)) s)"
  done

  # Per-repetition drop of produce throughput, cleaning vs cleaner disabled.
  python3 - "$RESULTS" > "$RESULTS.drops" <<'EOF'
import sys
v = {}
for line in open(sys.argv[1]):
    b, m, r, x = line.rstrip("\n").split("\t")
    v[(b, m, r)] = x
for (b, m, r), off in list(v.items()):
    if m != "produce_off_mib_s":
        continue
    try:
        print(f"{b}\tproduce_drop_pct\t{r}\t{100 * (1 - float(v[(b, 'produce_on_mib_s', r)]) / float(off)):.1f}")
    except (KeyError, ValueError, ZeroDivisionError):
        print(f"{b}\tproduce_drop_pct\t{r}\tn/a")
EOF
  cat "$RESULTS.drops" >> "$RESULTS" && rm -f "$RESULTS.drops"
  cpu1=$(cpu_stat)
  {
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); both cores $(pct_of "$cpu0" "$cpu1" 1)% busy and $(pct_of "$cpu0" "$cpu1" 2)% stolen over the run; wall time $((SECONDS - STARTED)) s"
  } >> "$BENCH_OUT/meta.txt"
  # Broker log lines worth a look (Runnel: WARN/ERROR/panic; Kafka: ERROR).
  local f
  for f in "$BENCH_OUT"/logs/runnel-*.broker.log; do
    [[ -f "$f" ]] && grep -E ' (WARN|ERROR) |panicked' "$f" | head -5 | sed "s|^|${f##*/}: |"
  done >> "$ANOMALIES"
  for f in "$BENCH_OUT"/logs/kafka-*.broker.log; do
    [[ -f "$f" ]] && grep -E '\] ERROR ' "$f" | head -5 | sed "s|^|${f##*/}: |"
  done >> "$ANOMALIES"
  python3 "$BENCH_DIR/compaction-compare/report.py" table "$RESULTS" > "$BENCH_OUT/table.md"
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
