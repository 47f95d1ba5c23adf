#!/usr/bin/env bash
# compat/streams/run.sh -- a Kafka Streams 4.4.0 application against one runnel broker. Owns the
# "streams" suite of compat/run.sh: it compiles WordCountRestore.java (javac against the cached
# Kafka jars and the kafka-streams/rocksdbjni extras), starts its own broker (rn_broker_start),
# runs the app twice and deletes the app's local state directory in between.
#
#   compat/streams/run.sh RUNNEL_BIN WORK_DIR
#
# Cases (`PASS name` / `FAIL name: why`, figures as `INFO ...`): WordCountRestore.java prints
#   first.{running,store_counts_exact,output_counts_exact,changelog_compact,close}
#   second.{running,restored_counts_exact,store_counts_exact,output_counts_exact,close}
# (see its header), and this script adds
#   compile                  javac of WordCountRestore.java
#   {first,second}.exit      the phase ended with a non-zero status without a FAIL line
#   {first,second}.bounded   the phase did not end within 120 s
#   state_dir_deleted        the state dir held RocksDB files after phase 1 and is gone before
#                            phase 2 (so phase 2 can only get its store back from the changelog)
#   broker.sigterm_exit_0    the broker exits with status 0 within 30 s of SIGTERM
# processing.guarantee=at_least_once (the broker has no transactions yet). Each phase runs with a
# 120 s bound. Logs: WORK_DIR/phase-{first,second}.log (Streams at INFO), WORK_DIR/b1/broker.log.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
# shellcheck disable=SC2034  # rn_broker_start (common.sh) runs it
RUNNEL_BIN=${1:?usage: run.sh RUNNEL_BIN WORK_DIR}
WORK=${2:?usage: run.sh RUNNEL_BIN WORK_DIR}
mkdir -p "$WORK"
RN_SUITE_LOG="$WORK/cases.log"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() { [[ -n "${RN_PID:-}" ]] && kill -9 "$RN_PID" 2>/dev/null; }
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
kt_install_extras >>"$RN_SUITE_LOG" 2>&1 || { fail install "kt_install_extras failed (see $RN_SUITE_LOG)"; exit 1; }
CP="$KT_LIB/*:$KT_EXTRAS_LIB/*"

rm -rf "$WORK/classes" "$WORK/state"
mkdir -p "$WORK/classes"
if javac -d "$WORK/classes" -cp "$CP" "$HERE/WordCountRestore.java" >>"$RN_SUITE_LOG" 2>&1; then
  pass compile
else
  fail compile "javac failed: $(grep -m1 error "$RN_SUITE_LOG" | cut -c1-200)"; exit 1
fi
cat >"$WORK/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_ERR
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.streams.name = org.apache.kafka.streams
logger.streams.level = INFO
EOF

# No initial rebalance delay: each app instance joins its group at once. Segments roll every
# second and the cleaner looks every 500 ms, so the restore reads a compacted changelog.
rn_broker_start "$WORK/b1" group.initial.rebalance.delay.ms=0 log.roll.ms=1000 log.cleaner.backoff.ms=500 \
  || { fail broker_start "see $WORK/b1/broker.log"; exit 1; }

# phase NAME: one run of the app (its own JVM), bounded; a failed run that printed no FAIL line
# (an exception out of main, the bound) gets one.
phase() {
  local out rc
  out=$(timeout --kill-after=10 120 java -Xmx512m -Dlog4j2.configurationFile="$WORK/log4j2.properties" \
          -cp "$WORK/classes:$CP" WordCountRestore "$1" "$RN_BOOTSTRAP" "$WORK/state" 2>"$WORK/phase-$1.log")
  rc=$?
  [[ -n $out ]] && printf '%s\n' "$out"
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    fail "$1.bounded" "the phase did not end within 120s (see $WORK/phase-$1.log)"
  elif [[ $rc -ne 0 && $out != *"FAIL "* ]]; then
    fail "$1.exit" "status $rc: $(grep -E 'Exception|Error' "$WORK/phase-$1.log" | grep -v '^\s*at ' | tail -2 | tr '\n' ' ' | cut -c1-300)"
  fi
}

phase first
# The local state: RocksDB files under STATE_DIR/runnel-wordcount/<task>/rocksdb/word-counts.
rocks=$(find "$WORK/state" -path '*rocksdb/word-counts*' -type f 2>/dev/null | wc -l)
rm -rf "$WORK/state"
if [[ $rocks -gt 0 && ! -e "$WORK/state" ]]; then
  pass state_dir_deleted
else
  fail state_dir_deleted "$rocks RocksDB files for word-counts under $WORK/state after phase 1"
fi
phase second

if rn_broker_stop; then pass broker.sigterm_exit_0
else fail broker.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $RN_BROKER_LOG)"; fi
exit 0
