#!/usr/bin/env bash
# bench/group-scale.sh -- one consumer group of 100 members on a 100-partition topic, Runnel vs
# Apache Kafka 4.4.0 (single node, KRaft combined), both group protocols.
#
# What this script owns: the group-scale procedure and its knobs (issue 5, "a scale run in
# bench/"). The measurement itself is bench/group-scale/GroupScale.java (see its header for the
# exact definition of STABLE and of the two times); the table is bench/group-scale/report.py;
# the brokers are started and stopped by bench/kafka-compare/brokers.sh (shared with
# bench/kafka-compare.sh).
#   1. both brokers up with group.initial.rebalance.delay.ms=0, each in a fresh temp dir on free
#      127.0.0.1 ports; GS_REPS repetitions, each measuring group.protocol=classic then
#      group.protocol=consumer (KIP-848), one broker after the other (order alternating between
#      repetitions; one client JVM at a time, never two measurements at once). Every
#      measurement is a fresh client JVM (-Xmx1g) running 100 KafkaConsumer threads in a fresh
#      group: (a) start of the members -> stable, (b) one member's close() -> stable again.
#   2. both brokers restarted with Kafka's default group.initial.rebalance.delay.ms (3000) and
#      the classic measurement done once per broker (GS_DEFAULT_DELAY=0 skips it).
#   3. each broker log is scanned for ERROR/WARN/panic lines (printed with the table).
# Client settings are the same against both brokers: client defaults except group.protocol,
# enable.auto.commit=false, auto.offset.reset=earliest, byte-array deserializers (classic
# therefore uses the default assignors [range, cooperative-sticky] -> range, eager; consumer uses
# the broker's default server-side assignor).
#
# Usage (run by hand, not by ./test.sh):
#   bench/group-scale.sh
# Knobs (environment):
#   GS_REPS (3)  GS_MEMBERS (100)  GS_PARTITIONS (100)  GS_QUIET_MS (2000)
#   GS_TIMEOUT_MS (90000)   per phase (join, leave) before it is reported n/a
#   GS_PROTOCOLS ("classic consumer")  GS_BROKERS ("runnel kafka")  GS_DEFAULT_DELAY (1)
#   GS_BUDGET (840)   seconds; no new measurement starts after this (the rest is n/a)
#   GS_BUILD (1)      run `cargo build --release -p cli` first
#   GS_CLIENT_JVM_OPTS (-Xmx1g)   BENCH_KAFKA_JVM_OPTS (brokers.sh: Kafka's start-script defaults)
#   GS_OUT (new /tmp dir)   results.tsv, table.md, client and broker logs are kept there
#   RUNNEL_BIN (target/release/runnel)
# Loopback only. Everything started here is stopped at exit (trap); data dirs are removed.

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

GS_REPS=${GS_REPS:-3}
GS_MEMBERS=${GS_MEMBERS:-100}
GS_PARTITIONS=${GS_PARTITIONS:-100}
GS_QUIET_MS=${GS_QUIET_MS:-2000}
GS_TIMEOUT_MS=${GS_TIMEOUT_MS:-90000}
GS_PROTOCOLS=${GS_PROTOCOLS:-classic consumer}
GS_BROKERS=${GS_BROKERS:-runnel kafka}
GS_DEFAULT_DELAY=${GS_DEFAULT_DELAY:-1}
GS_BUDGET=${GS_BUDGET:-840}
GS_BUILD=${GS_BUILD:-1}
GS_CLIENT_JVM_OPTS=${GS_CLIENT_JVM_OPTS:--Xmx1g}
GS_OUT=${GS_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/runnel-group-scale.XXXXXX")}
mkdir -p "$GS_OUT/logs"
RESULTS="$GS_OUT/results.tsv"
: > "$RESULTS"
ANOMALIES="$GS_OUT/anomalies.txt"
: > "$ANOMALIES"

log() { printf '[group-scale %s] %s\n' "$(date +%T)" "$*" >&2; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }
anomaly() { log "ANOMALY: $*"; printf '%s\n' "$*" >> "$ANOMALIES"; }

DATA_DIRS=()
cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${BENCH_PIDS[@]}"; do bk_stop "$pid"; done
  local d; for d in "${DATA_DIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A BOOT PID DIR

# brokers_up PHASE: every broker of GS_BROKERS with the current BENCH_BROKER_PROPS.
brokers_up() {
  local phase=$1 name port cport
  UP=()
  for name in $GS_BROKERS; do
    DIR[$name]="$GS_OUT/$name-$phase"; DATA_DIRS+=("${DIR[$name]}/data")
    port=$(bk_free_port); cport=$(bk_free_port)
    if bk_start "$name" "${DIR[$name]}" "$port" "$cport"; then
      PID[$name]=$BK_PID; BOOT[$name]=127.0.0.1:$port; UP+=("$name")
      log "$name ($phase: $BENCH_BROKER_PROPS) serving on 127.0.0.1:$port, pid $BK_PID"
    else
      anomaly "$name did not start ($phase); see ${DIR[$name]}/broker.log"
    fi
  done
}

# brokers_down PHASE: stop them and scan their logs.
brokers_down() {
  local phase=$1 name n
  for name in "${UP[@]}"; do
    kill -0 "${PID[$name]}" 2>/dev/null || anomaly "$name ($phase) exited before the end"
    bk_stop "${PID[$name]}"
    cp "${DIR[$name]}/broker.log" "$GS_OUT/logs/$name-$phase-broker.log" 2>/dev/null
    n=$(grep -cE '\b(ERROR|WARN)\b|panick' "${DIR[$name]}/broker.log")
    if [[ "$n" -gt 0 ]]; then
      echo "$name ($phase) broker log: $n ERROR/WARN/panic lines; first ones:" >> "$GS_OUT/broker-log-findings.txt"
      grep -E '\b(ERROR|WARN)\b|panick' "${DIR[$name]}/broker.log" | head -5 | cut -c1-300 >> "$GS_OUT/broker-log-findings.txt"
    fi
  done
}

# measure NAME PROTOCOL SUFFIX REP: one client JVM, one fresh group; records join/leave.
measure() {
  local name=$1 proto=$2 suffix=$3 rep=$4 out rc line ms elapsed=$((SECONDS - STARTED))
  local tag="$name-$proto$suffix-r$rep" opts=()
  out="$GS_OUT/logs/$tag"
  if (( elapsed > GS_BUDGET )); then
    record "$name" "join_$proto$suffix" "NA:time budget"; record "$name" "leave_$proto$suffix" "NA:time budget"
    log "$tag: skipped (time budget: ${elapsed}s > ${GS_BUDGET}s)"; return
  fi
  read -r -a opts <<< "$GS_CLIENT_JVM_OPTS"
  timeout -k 10 $((GS_TIMEOUT_MS * 2 / 1000 + 120)) java "${opts[@]}" \
    -Dlog4j2.configurationFile="$KT_HOME/log4j2.properties" -cp "$GS_OUT/classes:$KT_LIB/*" \
    GroupScale --bootstrap "${BOOT[$name]}" --protocol "$proto" --group "gs-$proto$suffix-r$rep-$RANDOM" \
    --members "$GS_MEMBERS" --partitions "$GS_PARTITIONS" --quiet-ms "$GS_QUIET_MS" \
    --timeout-ms "$GS_TIMEOUT_MS" > "$out.out" 2> "$out.err" &
  local jpid=$!
  BENCH_PIDS+=("$jpid")
  wait "$jpid"; rc=$?
  for phase in join leave; do
    line=$(grep -m1 "^RESULT phase=$phase " "$out.out")
    ms=$(sed -nE 's/.* ms=([0-9]+) .*/\1/p' <<< "$line")
    if [[ -n "$ms" ]]; then record "$name" "${phase}_$proto$suffix" "$ms"
    else record "$name" "${phase}_$proto$suffix" "NA:$(grep -m1 -E '^(STATE|FAILED)' "$out.out" | cut -c1-200)${line:+ }exit $rc"; fi
    if [[ -n "$line" ]] && ! grep -qE 'overlaps=0 errors=0' <<< "$line"; then anomaly "$tag: $line"; fi
  done
  grep -E '^(STATE|FAILED|NOTE)' "$out.out" | while read -r l; do anomaly "$tag: $l"; done
  local errs
  errs=$(grep -c ' ERROR ' "$out.err")
  [[ "$errs" -gt 0 ]] && anomaly "$tag: $errs client ERROR log lines, first: $(grep -m1 ' ERROR ' "$out.err" | cut -c1-250)"
  log "$tag (rc $rc, load $(cut -d' ' -f1 /proc/loadavg)): $(grep '^RESULT' "$out.out" | sed 's/^RESULT //' | tr '\n' ';')"
}

main() {
  STARTED=$SECONDS
  local rep proto name order
  if [[ "$GS_BUILD" == 1 && " $GS_BROKERS " == *" runnel "* ]]; then
    log "cargo build --release -p cli"
    (cd "$REPO" && cargo build --release -p cli) || { log "build failed"; exit 1; }
    STARTED=$SECONDS
  fi
  kt_install || exit 1
  mkdir -p "$GS_OUT/classes"
  javac -nowarn -d "$GS_OUT/classes" -cp "$KT_LIB/*" "$BENCH_DIR/group-scale/GroupScale.java" \
    || { log "javac failed"; exit 1; }
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "runnel commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ modified)')"
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "java: $(java -version 2>&1 | head -1); client JVM $GS_CLIENT_JVM_OPTS; kafka JVM: $BENCH_KAFKA_JVM_OPTS"
    echo "group: $GS_MEMBERS members (threads in one client JVM) on $GS_PARTITIONS partitions; quiet period $GS_QUIET_MS ms; reps $GS_REPS"
    echo "STABLE: every partition owned (assigned..revoked/lost callbacks) by exactly one live member, every member owns floor(P/L)..ceil(P/L), no change for $GS_QUIET_MS ms; time = last ownership change - start (join: members' threads started; leave: close() called on one member)"
  } > "$GS_OUT/meta.txt"
  cat "$GS_OUT/meta.txt" >&2

  BENCH_BROKER_PROPS="group.initial.rebalance.delay.ms=0"
  brokers_up delay0
  for ((rep = 1; rep <= GS_REPS; rep++)); do
    if (( rep % 2 == 1 )); then mapfile -t order < <(printf '%s\n' "${UP[@]}")
    else mapfile -t order < <(printf '%s\n' "${UP[@]}" | tac); fi
    for proto in $GS_PROTOCOLS; do
      for name in "${order[@]}"; do measure "$name" "$proto" "" "$rep"; done
    done
  done
  brokers_down delay0

  if [[ "$GS_DEFAULT_DELAY" == 1 && " $GS_PROTOCOLS " == *" classic "* ]]; then
    # Both brokers' default; written out so the broker logs show it.
    BENCH_BROKER_PROPS="group.initial.rebalance.delay.ms=3000"
    brokers_up default
    for name in "${UP[@]}"; do measure "$name" classic _default 1; done
    brokers_down default
  fi

  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); wall time $((SECONDS - STARTED)) s" >> "$GS_OUT/meta.txt"
  python3 "$BENCH_DIR/group-scale/report.py" "$RESULTS" > "$GS_OUT/table.md"
  echo
  cat "$GS_OUT/meta.txt"
  echo
  cat "$GS_OUT/table.md"
  echo
  if [[ -s "$ANOMALIES" ]]; then echo "anomalies:"; cat "$ANOMALIES"; else echo "anomalies: none"; fi
  [[ -s "$GS_OUT/broker-log-findings.txt" ]] && { echo; cat "$GS_OUT/broker-log-findings.txt"; }
  echo
  echo "raw results and logs: $GS_OUT"
}

main "$@"
