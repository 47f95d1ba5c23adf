#!/usr/bin/env bash
# bench/client-compare.sh -- Runnel vs Apache Kafka 4.4.0 (single node), measured with a non-JVM
# client: bench/client-bench, a small Go program on franz-go (github.com/twmb/franz-go v1.22.3),
# so that the client costs little CPU beside the broker on a 2-core machine.
#
# What this script owns: this benchmark's procedure and knobs. Both brokers (Runnel:
# target/release/runnel serve; Kafka: KRaft combined from the Maven Central jars installed by
# compat/kafka-tools.sh), started by kafka-compare/brokers.sh, each in a fresh temp dir on free
# 127.0.0.1 ports, are up together and every repetition measures one then the other (order
# alternating), one client at a time. Records are BENCH_RECORD_SIZE random bytes; every producer
# is franz-go's idempotent producer (acks=all), with the same settings against both brokers.
#   1. produce: BENCH_RECORDS records as fast as the client goes (linger BENCH_LINGER, franz-go's
#      defaults otherwise: 1,000,012-byte batches, 50,000 buffered records, sticky partitioning
#      switching partition every 64 KiB) into topics of 1, 8 and BENCH_MANY_PARTITIONS partitions.
#      The many-partition topic gets 2 records per partition round-robin right after its creation
#      (timed, reported as its own row, not part of the throughput), so its first log segments
#      exist before the first measured run; its runs write BENCH_MANY_RECORDS records to Runnel
#      and BENCH_MANY_RECORDS_KAFKA to Kafka (Kafka runs at ~2.5 MiB/s there on this machine, so
#      1,000,000 records would take ~7 minutes per run); compare them as rates.
#   2. broker CPU: user+system from /proc/PID/stat before/after each produce run, per GiB written;
#      the client's own CPU (getrusage) is recorded too, to show which side was busy
#   3. consume: BENCH_CONSUME_RECORDS records of the 1-partition topic from offset 0 (no group)
#   4. latency: BENCH_LAT_RATE records/s for BENCH_LAT_SECONDS (after 1 s unmeasured), linger 0,
#      1 partition; ack latency p50 / p99 / p99.9 from all samples, in microseconds
#   5. the same latency run with two busy loops (normal priority, bounded by timeout) beside it
#   6. idle connections: a fresh broker per repetition; VmRSS after BENCH_CONN_SETTLE s idle, then
#      BENCH_CONNS TCP connections each answered one ApiVersions v0 request and held idle, VmRSS
#      again BENCH_CONN_SETTLE s later; the difference is what the connections cost
#      (max.connections is raised to BENCH_CONNS+1000 on both brokers for this step only)
# Every measurement is repeated BENCH_REPS times; the table shows medians, every run, Runnel /
# Kafka and the targets (client-compare/report.py). A failing run is recorded as "n/a (reason)".
#
# Usage (from anywhere; run by hand, not by ./test.sh; ~10 min with the defaults):
#   bench/client-compare.sh
# Knobs (environment):
#   BENCH_REPS (3)  BENCH_RECORDS (1000000)  BENCH_RECORD_SIZE (1024)
#   BENCH_CONSUME_RECORDS (= BENCH_RECORDS)  BENCH_MANY_PARTITIONS (1000)  BENCH_LINGER (5ms)
#   BENCH_MANY_RECORDS (= BENCH_RECORDS)  BENCH_MANY_RECORDS_KAFKA (200000)
#   BENCH_LAT_RATE (2000)  BENCH_LAT_SECONDS (20)  BENCH_CONNS (10000)  BENCH_CONN_SETTLE (5)
#   BENCH_BROKERS ("runnel kafka")    which brokers, in this order
#   BENCH_ONLY ("produce consume latency hog conns")    which measurements
#   BENCH_TOOL_TIMEOUT (300)    seconds before one client run is killed (and reported n/a)
#   BENCH_BROKER_PROPS, BENCH_KAFKA_JVM_OPTS    as in kafka-compare.sh (kafka-compare/brokers.sh)
#   BENCH_OUT (new /tmp dir)    logs, results.tsv and table.md are kept there
#   BENCH_KEEP_DATA (0)    keep the brokers' data dirs (removed at exit otherwise)
#   RUNNEL_BIN (target/release/runnel; not rebuilt here)   CLIENT_BENCH_BIN (built from
#   bench/client-bench with `go build` into target/client-bench/ when missing or older)
#   BENCH_CLIENT (franz-go)    the client of create/produce/consume/latency: franz-go
#   (bench/client-bench, Go) or rdkafka (bench/rdkafka-bench, C on Debian's librdkafka-dev,
#   installed with apt-get when missing and built with cc into target/rdkafka-bench/); the
#   idle-connection step always uses the Go program
# Loopback only. Everything started here is stopped at exit (trap); every loop is bounded.

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
BENCH_MANY_PARTITIONS=${BENCH_MANY_PARTITIONS:-1000}
BENCH_MANY_RECORDS=${BENCH_MANY_RECORDS:-$BENCH_RECORDS}
BENCH_MANY_RECORDS_KAFKA=${BENCH_MANY_RECORDS_KAFKA:-200000}
BENCH_LINGER=${BENCH_LINGER:-5ms}
BENCH_LAT_RATE=${BENCH_LAT_RATE:-2000}
BENCH_LAT_SECONDS=${BENCH_LAT_SECONDS:-20}
BENCH_CONNS=${BENCH_CONNS:-10000}
BENCH_CONN_SETTLE=${BENCH_CONN_SETTLE:-5}
BENCH_BROKERS=${BENCH_BROKERS:-runnel kafka}
BENCH_ONLY=${BENCH_ONLY:-produce consume latency hog conns}
BENCH_TOOL_TIMEOUT=${BENCH_TOOL_TIMEOUT:-300}
BENCH_KEEP_DATA=${BENCH_KEEP_DATA:-0}
BENCH_CLIENT=${BENCH_CLIENT:-franz-go}
GO_BENCH_BIN=$REPO/target/client-bench/client-bench
RDKAFKA_BENCH_BIN=$REPO/target/rdkafka-bench/rdkafka-bench
case "$BENCH_CLIENT" in
  franz-go) CLIENT_BENCH_BIN=${CLIENT_BENCH_BIN:-$GO_BENCH_BIN} ;;
  rdkafka) CLIENT_BENCH_BIN=${CLIENT_BENCH_BIN:-$RDKAFKA_BENCH_BIN} ;;
  *) echo "BENCH_CLIENT is franz-go or rdkafka, not $BENCH_CLIENT" >&2; exit 2 ;;
esac
BENCH_OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/runnel-client-compare.XXXXXX")}
mkdir -p "$BENCH_OUT/logs"
RESULTS="$BENCH_OUT/results.tsv"
: > "$RESULTS"
HZ=$(getconf CLK_TCK)

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
wants() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }
# record BROKER METRIC REP VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RESULTS"; }
# field KEY LINE: the value of key=value in a client-bench result line.
field() { sed -nE "s/^(.* )?$1=([^ ]*).*/\\2/p" <<< "$2"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
# cpu_stat: machine-wide "busy steal total" jiffies from /proc/stat (busy excludes idle, iowait
# and steal); steal is time the hypervisor gave this VM's vCPUs to someone else.
cpu_stat() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, $9, t}' /proc/stat; }
# pct_of A B FIELD: FIELD (1 busy, 2 steal) of the interval between two cpu_stat snapshots, in %.
pct_of() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[f] - x[f]) / (y[3] - x[3]) }'; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

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

build_go_client() {
  local src="$BENCH_DIR/client-bench" newer
  newer=$(find "$src" -newer "$GO_BENCH_BIN" -name '*.go' -o -newer "$GO_BENCH_BIN" -name 'go.*' 2>/dev/null | head -1)
  if [[ -x "$GO_BENCH_BIN" && -z "$newer" ]]; then return 0; fi
  command -v go >/dev/null || { log "go not found (needs Go >= 1.26)"; return 1; }
  log "go build bench/client-bench -> $GO_BENCH_BIN"
  mkdir -p "$(dirname "$GO_BENCH_BIN")"
  (cd "$src" && GOTOOLCHAIN=local go build -o "$GO_BENCH_BIN" .)
}

build_rdkafka_client() {
  local src="$BENCH_DIR/rdkafka-bench/rdkafka_bench.c"
  if [[ -x "$RDKAFKA_BENCH_BIN" && ! "$src" -nt "$RDKAFKA_BENCH_BIN" ]]; then return 0; fi
  if [[ ! -e /usr/include/librdkafka/rdkafka.h ]]; then
    log "installing librdkafka-dev (Debian)"
    { apt-get update -qq && apt-get install -y -qq librdkafka-dev; } >/dev/null || return 1
  fi
  log "cc bench/rdkafka-bench -> $RDKAFKA_BENCH_BIN"
  mkdir -p "$(dirname "$RDKAFKA_BENCH_BIN")"
  cc -O2 -Wall -o "$RDKAFKA_BENCH_BIN" "$src" -lrdkafka
}

build_client() {
  if wants conns; then build_go_client || return 1; fi
  case "$BENCH_CLIENT" in
    franz-go) build_go_client ;;
    rdkafka) build_rdkafka_client ;;
  esac
}

# client LOG SUBCOMMAND ARGS...: one client-bench run, bounded; sets LINE (its result line).
client() {
  local out=$1; shift
  timeout -k 10 "$((BENCH_TOOL_TIMEOUT + 30))" "$CLIENT_BENCH_BIN" "$@" -timeout "${BENCH_TOOL_TIMEOUT}s" > "$out" 2>&1 &
  local pid=$!
  BENCH_PIDS+=("$pid")
  wait "$pid"
  local rc=$?
  LINE=$(grep -m1 '^ok=' "$out")
  return $rc
}
# why LOG: a short reason from a failed client run.
why() {
  local line
  line=$(grep -m1 -E 'error=|client-bench:|panic' "$1" 2>/dev/null | cut -c1-160 | tr '\t|' '  ')
  printf '%s' "${line:-see $1}"
}

declare -A WL_PID WL_BOOT WL_DIR

workload_start() {
  local name=$1 dir="$BENCH_OUT/$1-run" port cport t
  DATA_DIRS+=("$dir")
  port=$(bk_free_port); cport=$(bk_free_port)
  if ! bk_start "$name" "$dir" "$port" "$cport"; then
    record "$name" produce_p1 0 "NA:broker did not start"
    return 1
  fi
  WL_PID[$name]=$BK_PID; WL_BOOT[$name]=127.0.0.1:$port; WL_DIR[$name]=$dir
  log "$name serving on 127.0.0.1:$port (pid $BK_PID, dir $dir)"
  for t in "1:perf-p1" "8:perf-p8" "$BENCH_MANY_PARTITIONS:perf-many" "1:perf-lat" "1:perf-lat-hog"; do
    client "$BENCH_OUT/logs/$name-create-${t#*:}.log" create -brokers "127.0.0.1:$port" \
      -topic "${t#*:}" -partitions "${t%%:*}" \
      || log "$name: creating ${t#*:} failed: $(why "$BENCH_OUT/logs/$name-create-${t#*:}.log")"
  done
  local out="$BENCH_OUT/logs/$name-first-touch-many.log"
  if client "$out" produce -brokers "127.0.0.1:$port" -topic perf-many -partitioner roundrobin \
       -records "$((2 * BENCH_MANY_PARTITIONS))" -size "$BENCH_RECORD_SIZE" -linger "$BENCH_LINGER"; then
    record "$name" many_first_touch 0 "$(field seconds "$LINE")"
    log "$name: first write to all $BENCH_MANY_PARTITIONS partitions: $(field seconds "$LINE") s"
  else
    record "$name" many_first_touch 0 "NA:$(why "$out")"
  fi
}

run_produce() {
  local name=$1 key=$2 topic=$3 rep=$4 pid=${WL_PID[$1]}
  local out="$BENCH_OUT/logs/$name-produce_$key-r$rep.log" line c0 c1 secs bytes ccpu bcpu n=$BENCH_RECORDS
  if [[ $key == many ]]; then
    n=$BENCH_MANY_RECORDS; [[ $name == kafka ]] && n=$BENCH_MANY_RECORDS_KAFKA
  fi
  c0=$(cpu_ticks "$pid")
  client "$out" produce -brokers "${WL_BOOT[$name]}" -topic "$topic" -records "$n" \
    -size "$BENCH_RECORD_SIZE" -linger "$BENCH_LINGER"
  local rc=$?; line=$LINE
  c1=$(cpu_ticks "$pid"); s1=$(cpu_stat)
  if [[ $rc -ne 0 || "$(field ok "$line")" != 1 || -z "$c1" ]]; then
    local reason="exit $rc: $(why "$out")"
    for m in "produce_$key" "cpu_gib_$key" "client_cpu_$key" "broker_cpu_$key"; do record "$name" "$m" "$rep" "NA:$reason"; done
    log "$name produce $key r$rep: failed: $reason"
    return
  fi
  secs=$(field seconds "$line"); bytes=$(field bytes "$line"); ccpu=$(field cpu_s "$line")
  # the warm-up record and client start-up fall outside `seconds` but inside c0..c1; negligible
  bcpu=$(calc "($c1 - $c0) / $HZ" 2)
  record "$name" "produce_$key" "$rep" "$(field mibps "$line")"
  record "$name" "cpu_gib_$key" "$rep" "$(calc "$bcpu / ($bytes / 1073741824)" 3)"
  record "$name" "client_cpu_$key" "$rep" "$(calc "100 * $ccpu / $secs" 0)"
  record "$name" "broker_cpu_$key" "$rep" "$(calc "100 * $bcpu / $secs" 0)"
  log "$name produce $key r$rep: $(field mibps "$line") MiB/s in ${secs}s; broker CPU ${bcpu}s, client CPU ${ccpu}s"
}

run_consume() {
  local name=$1 rep=$2 pid=${WL_PID[$1]}
  local out="$BENCH_OUT/logs/$name-consume-r$rep.log" line c0 c1 secs bcpu
  c0=$(cpu_ticks "$pid")
  client "$out" consume -brokers "${WL_BOOT[$name]}" -topic perf-p1 -records "$BENCH_CONSUME_RECORDS"
  local rc=$?; line=$LINE
  c1=$(cpu_ticks "$pid"); s1=$(cpu_stat)
  if [[ $rc -ne 0 || "$(field ok "$line")" != 1 ]]; then
    local reason="exit $rc: $(why "$out")"
    for m in consume client_cpu_consume broker_cpu_consume; do record "$name" $m "$rep" "NA:$reason"; done
    log "$name consume r$rep: failed: $reason"
    return
  fi
  secs=$(field seconds "$line"); bcpu=$(calc "($c1 - $c0) / $HZ" 2)
  record "$name" consume "$rep" "$(field mibps "$line")"
  record "$name" client_cpu_consume "$rep" "$(calc "100 * $(field cpu_s "$line") / $secs" 0)"
  record "$name" broker_cpu_consume "$rep" "$(calc "100 * $bcpu / $secs" 0)"
  log "$name consume r$rep: $(field mibps "$line") MiB/s in ${secs}s; broker CPU ${bcpu}s, client CPU $(field cpu_s "$line")s"
}

# run_latency NAME REP PREFIX TOPIC: PREFIX lat (quiet) or hog (two busy loops beside it).
run_latency() {
  local name=$1 rep=$2 prefix=$3 topic=$4 hogs=() h
  local out="$BENCH_OUT/logs/$name-$prefix-r$rep.log" line c0 c1 pid=${WL_PID[$1]}
  if [[ $prefix == hog ]]; then
    for h in 1 2; do
      timeout -k 5 "$((BENCH_LAT_SECONDS + 30))" bash -c 'while :; do :; done' &
      hogs+=("$!"); BENCH_PIDS+=("$!")
    done
  fi
  local s0 s1
  c0=$(cpu_ticks "$pid"); s0=$(cpu_stat)
  client "$out" latency -brokers "${WL_BOOT[$name]}" -topic "$topic" -rate "$BENCH_LAT_RATE" \
    -duration "${BENCH_LAT_SECONDS}s" -size "$BENCH_RECORD_SIZE"
  local rc=$?; line=$LINE
  c1=$(cpu_ticks "$pid"); s1=$(cpu_stat)
  for h in "${hogs[@]}"; do kill -TERM "$h" 2>/dev/null; wait "$h" 2>/dev/null; done
  if [[ $rc -ne 0 || "$(field ok "$line")" != 1 ]]; then
    local reason="exit $rc: $(why "$out")"
    for m in p50 p99 p999; do record "$name" "${prefix}_$m" "$rep" "NA:$reason"; done
    log "$name $prefix r$rep: failed: $reason"
    return
  fi
  record "$name" "${prefix}_p50" "$rep" "$(field p50_us "$line")"
  record "$name" "${prefix}_p99" "$rep" "$(field p99_us "$line")"
  record "$name" "${prefix}_p999" "$rep" "$(field p999_us "$line")"
  # both over the whole run: 1 s warm-up + the measured seconds (+ client start for the broker)
  record "$name" "${prefix}_client_cpu" "$rep" "$(calc "100 * $(field cpu_s "$line") / ($BENCH_LAT_SECONDS + 1)" 0)"
  record "$name" "${prefix}_broker_cpu" "$rep" "$(calc "100 * ($c1 - $c0) / $HZ / ($BENCH_LAT_SECONDS + 1)" 0)"
  record "$name" "${prefix}_machine_busy" "$rep" "$(pct_of "$s0" "$s1" 1)"
  record "$name" "${prefix}_steal" "$rep" "$(pct_of "$s0" "$s1" 2)"
  log "$name $prefix r$rep: $line"
}

# run_conns NAME REP: a fresh broker, its idle VmRSS, BENCH_CONNS idle connections, VmRSS again.
run_conns() {
  local name=$1 rep=$2 dir="$BENCH_OUT/$1-conns-$2" port cport pid before after line cpid i
  local out="$BENCH_OUT/logs/$name-conns-r$rep.log" ready="$BENCH_OUT/$name-conns-$rep.ready"
  DATA_DIRS+=("$dir")
  port=$(bk_free_port); cport=$(bk_free_port)
  if ! BENCH_BROKER_PROPS="$BENCH_BROKER_PROPS max.connections=$((BENCH_CONNS + 1000))" \
       bk_start "$name" "$dir" "$port" "$cport"; then
    record "$name" conn_rss "$rep" "NA:broker did not start"; return
  fi
  pid=$BK_PID
  sleep "$BENCH_CONN_SETTLE"
  before=$(rss_kib "$pid")
  timeout -k 30 "$((BENCH_TOOL_TIMEOUT + 30))" "$GO_BENCH_BIN" conns -addr "127.0.0.1:$port" \
    -n "$BENCH_CONNS" -ready-file "$ready" -hold "${BENCH_TOOL_TIMEOUT}s" -timeout 120s > "$out" 2>&1 &
  cpid=$!; BENCH_PIDS+=("$cpid")
  for ((i = 0; i < 1500; i++)); do
    [[ -e $ready ]] && break; kill -0 "$cpid" 2>/dev/null || break; sleep 0.1
  done
  sleep "$BENCH_CONN_SETTLE"
  after=$(rss_kib "$pid")
  kill -TERM "$cpid" 2>/dev/null; wait "$cpid"
  line=$(grep -m1 '^ok=' "$out")
  bk_stop "$pid"
  [[ "$BENCH_KEEP_DATA" == 1 ]] || rm -rf "$dir"
  if [[ "$(field ok "$line")" != 1 || -z "$before" || -z "$after" ]]; then
    record "$name" conn_rss "$rep" "NA:$(why "$out") ${line}"; log "$name conns r$rep: failed: $line"; return
  fi
  record "$name" idle_rss "$rep" "$(calc "$before / 1024" 1)"
  record "$name" conn_rss "$rep" "$(calc "($after - $before) / 1024" 1)"
  log "$name conns r$rep: VmRSS $before kB idle -> $after kB with $(field open "$line") connections ($line)"
}

main() {
  local started=$SECONDS name rep order up=() k stat0
  stat0=$(cpu_stat)
  build_client || { log "building the client failed"; exit 1; }
  [[ -x "$RUNNEL_BIN" ]] || { log "$RUNNEL_BIN missing (cargo build --release -p cli)"; exit 1; }
  kt_install || exit 1
  # the broker and the client each need BENCH_CONNS descriptors (children inherit the limit)
  ulimit -n "$(ulimit -Hn)" 2>/dev/null
  if (( $(ulimit -n) < BENCH_CONNS + 1000 )) && wants conns; then
    log "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)): below BENCH_CONNS + 1000; conns may fail"
  fi
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "runnel: $RUNNEL_BIN, built $(date -u -r "$RUNNEL_BIN" +%FT%TZ); HEAD $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ modified in the work tree)')"
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [[ $BENCH_CLIENT == rdkafka ]]; then
      echo "client: bench/rdkafka-bench on librdkafka $(dpkg-query -W -f '${Version}' librdkafka-dev 2>/dev/null); kafka JVM: $BENCH_KAFKA_JVM_OPTS"
    else
      echo "client: $(go version 2>/dev/null | cut -d' ' -f3), $(grep -m1 'twmb/franz-go ' "$BENCH_DIR/client-bench/go.mod" | sed 's/^[[:space:]]*//'); kafka JVM: $BENCH_KAFKA_JVM_OPTS"
    fi
    echo "broker settings (both): $BENCH_BROKER_PROPS; ulimit -n $(ulimit -n)"
    echo "records: $BENCH_RECORDS x $BENCH_RECORD_SIZE B, linger $BENCH_LINGER, partitions 1/8/$BENCH_MANY_PARTITIONS ($BENCH_MANY_RECORDS records to Runnel, $BENCH_MANY_RECORDS_KAFKA to Kafka); consume $BENCH_CONSUME_RECORDS; latency $BENCH_LAT_RATE/s x ${BENCH_LAT_SECONDS}s; conns $BENCH_CONNS; reps $BENCH_REPS"
  } > "$BENCH_OUT/meta.txt"
  cat "$BENCH_OUT/meta.txt" >&2
  order_for() { if (( $1 % 2 == 1 )); then printf '%s\n' "${up[@]}"; else printf '%s\n' "${up[@]}" | tac; fi; }

  if wants produce || wants consume || wants latency || wants hog; then
    for name in $BENCH_BROKERS; do workload_start "$name" && up+=("$name"); done
    if wants produce || wants consume; then
      for ((rep = 1; rep <= BENCH_REPS; rep++)); do
        mapfile -t order < <(order_for "$rep")
        for k in "p1:perf-p1" "p8:perf-p8" "many:perf-many"; do
          wants produce || [[ $k == p1:* ]] || continue
          for name in "${order[@]}"; do run_produce "$name" "${k%%:*}" "${k#*:}" "$rep"; done
        done
        wants produce || break
      done
    fi
    if wants consume; then
      for ((rep = 1; rep <= BENCH_REPS; rep++)); do
        mapfile -t order < <(order_for "$rep")
        for name in "${order[@]}"; do run_consume "$name" "$rep"; done
      done
    fi
    for k in "lat:perf-lat" "hog:perf-lat-hog"; do
      [[ $k == lat:* ]] && ! wants latency && continue
      [[ $k == hog:* ]] && ! wants hog && continue
      for ((rep = 1; rep <= BENCH_REPS; rep++)); do
        mapfile -t order < <(order_for "$rep")
        for name in "${order[@]}"; do run_latency "$name" "$rep" "${k%%:*}" "${k#*:}"; done
      done
    done
    for name in "${up[@]}"; do
      record "$name" rss_after 0 "$(calc "$(rss_kib "${WL_PID[$name]}") / 1024" 1)"
      bk_stop "${WL_PID[$name]}"
      [[ "$BENCH_KEEP_DATA" == 1 ]] || rm -rf "${WL_DIR[$name]}"
    done
  fi
  if wants conns; then
    up=(); for name in $BENCH_BROKERS; do up+=("$name"); done
    for ((rep = 1; rep <= BENCH_REPS; rep++)); do
      mapfile -t order < <(order_for "$rep")
      for name in "${order[@]}"; do run_conns "$name" "$rep"; done
    done
  fi
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); wall time $((SECONDS - started)) s; over the run, both cores: $(pct_of "$stat0" "$(cpu_stat)" 1)% busy, $(pct_of "$stat0" "$(cpu_stat)" 2)% stolen by the hypervisor" >> "$BENCH_OUT/meta.txt"
  python3 "$BENCH_DIR/client-compare/report.py" "$RESULTS" "$BENCH_MANY_PARTITIONS" "$BENCH_CONNS" > "$BENCH_OUT/table.md"
  echo
  cat "$BENCH_OUT/meta.txt"
  echo
  cat "$BENCH_OUT/table.md"
  echo
  echo "raw results and client logs: $BENCH_OUT"
}

main "$@"
