#!/usr/bin/env bash
# compat/security/quotas.sh -- client quotas (KIP-13/55/219/546, Kafka's default quota callback)
# with Kafka's own config tool and Java clients. A part of the "security" suite
# (compat/security/run.sh runs it); it starts its own broker and stops everything it started.
#
#   compat/security/quotas.sh RUNNEL_BIN WORK_DIR
#
# The broker (one node, 127.0.0.1, a free port): one PLAINTEXT listener (clients are
# User:ANONYMOUS), quota.window.num=2 and quota.window.size.seconds=1, so a client over its bound
# is throttled for about a second at a time (not the ~10 s of the 11 default windows).
# Kafka's ConfigCommand (4.4.0) sets and describes the quotas; its "Quota configs for ENTITY are
# K=V, ..." lines are compared as ENTITY|KEY=VALUE rows (values as numbers).
#
# Cases (PASS/FAIL/SKIP lines; INFO lines carry figures and the errors a rejected change saw):
#   quotas.cli.alter_user            users alice: producer_byte_rate=1048576,consumer_byte_rate=2097152
#   quotas.cli.alter_client          clients c1: request_percentage=50
#   quotas.cli.alter_default_client  clients --entity-default: producer_byte_rate=4194304
#   quotas.cli.alter_user_client     users alice + clients c1: producer_byte_rate=100000
#   quotas.cli.alter_ip              ips 127.0.0.1: connection_creation_rate=100 (enforced, far above
#                                    the few connections a second this suite opens)
#   quotas.cli.describe_user         --describe users alice: alice's two keys
#   quotas.cli.describe_clients      --describe clients (all): c1 and the default client-id, and not
#                                    the (alice, c1) entity (ConfigCommand's filter is strict)
#   quotas.cli.describe_user_client  --describe users alice + clients c1: producer_byte_rate=100000
#   quotas.cli.describe_ip           --describe ips: 127.0.0.1
#   quotas.cli.delete_config         --delete-config request_percentage for c1, then describing c1
#                                    shows nothing
#   quotas.cli.invalid_value         producer_byte_rate=10.5 for alice fails (InvalidRequestException)
#   quotas.cli.invalid_key           an unknown key for alice fails (ConfigCommand's own check)
#   quotas.cli.invalid_not_applied   alice's quotas are as before
#   quotas.cli.alter_slow_clients    clients slow-producer: producer_byte_rate=RATE, slow-consumer:
#                                    consumer_byte_rate=RATE (RATE 50000 bytes/s)
#   QuotaClients.java                quotas.java.* (its header): controller_mutation_rate refusing
#                                    then delaying an Admin's topic creations; a producer and a consumer over their
#                                    byte rates are throttled (throttle metrics > 0, 1 MB takes at
#                                    least 5 s) and still deliver every record; others are not
#   quotas.restart.sigterm_exit_0, quotas.restart.broker_start, quotas.restart.describe_same (every
#                                    quota above is described the same after a restart on the same
#                                    log dir)
#   broker.alive, broker.no_panic, broker.sigterm_exit_0
#   then, on a second broker (WORK_DIR/broker-held, its own free port, started once the first
#   one stopped), the issue's acceptance: "a producer under a 5 MB/s producer_byte_rate quota is
#   held to 5 MB/s +-10% over 30 s, while an unthrottled client beside it is not slowed"
#   (QuotaClients.java --held-rate; about 45 s):
#   quotas.held.broker_start
#   quotas.java.held.set_quota             Admin.alterClientQuotas clients/producer-5mbps
#                                          producer_byte_rate=5242880, and no other quota there
#   quotas.java.producer_5mbps_30s         producer-5mbps (16 KB records, acks=1, linger.ms=5,
#                                          batch.size=256 KB, as fast as send() takes them) for 30 s:
#                                          bytes acknowledged within the 30 s / 30 s within
#                                          5 MB/s +-10%, throttled (produce-throttle-time-max > 0);
#                                          INFO: the rate
#   quotas.java.unthrottled_beside_5mbps   producer-free, the same sends to another topic for the same
#                                          30 s: produce-throttle-time-max 0 and at least 70% of its
#                                          rate in a 5 s solo run just before (after 2 s unmeasured,
#                                          to warm the JIT up) (INFO: both rates). The
#                                          machine has 2 noisy cores shared by the broker, both
#                                          producers and whatever else runs, hence the loose 70%.
#   quotas.held.no_panic, quotas.held.sigterm_exit_0
#   Why a second broker: the first holds a default client-id quota (producer_byte_rate=4194304)
#   that would bound the "unthrottled" producer. Its quota windows are the same as the first's
#   (quota.window.num=2, quota.window.size.seconds=1), not Kafka's default 11 windows of 1 s:
#   with 11 windows Kafka's sampled rate lets a client send about 10 s worth of its bound at once
#   whenever the oldest sample expires, so a 30 s average lands anywhere from about 0.87 to 1.11
#   times the bound depending on where the ~11 s cycle falls (Kafka's Rate algorithm, the same
#   as the broker's, simulated); +-10% over 30 s is a meaningful bound only with short windows.
#   The producer-free topic is bounded on disk (log.retention.bytes=256 MiB, 64 MiB segments,
#   retention checked every second) and the broker's data dir removed afterwards.
# Logs: WORK_DIR/broker/broker.log, WORK_DIR/broker-held/broker.log, WORK_DIR/java.err,
# WORK_DIR/java-held.err, WORK_DIR/tools.log.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
RUNNEL_BIN=${1:?usage: quotas.sh RUNNEL_BIN WORK_DIR}
WORK=${2:?usage: quotas.sh RUNNEL_BIN WORK_DIR}
rm -rf "$WORK"; mkdir -p "$WORK"
RN_SUITE_LOG="$WORK/tools.log"

trap '[[ -n "${RN_PID:-}" ]] && kill -9 "$RN_PID" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
failures=0
pass() { echo "PASS $1"; }
fail() { failures=$((failures + 1)); echo "FAIL $1: $2"; }
kt() { timeout "${KT_BOUND:-60}" "$HERE/../kafka-tools.sh" run "$@" </dev/null; }
errline() { grep -hE 'Exception|ERROR|Error' "$@" | grep -v '^\s*at ' | head -2 | tr '\n' ' ' | cut -c1-300; }

SUF=$RANDOM
RATE=50000
TF=quota-free-$SUF TS=quota-slow-$SUF
PORT=$(rn_free_port)
BOOT=127.0.0.1:$PORT
OVERRIDES=(
  "listeners=PLAINTEXT://$BOOT"
  "quota.window.num=2"
  "quota.window.size.seconds=1"
)

# quota_broker_start [DIR PORT OVERRIDE...]: like acl_broker_start in acls.sh, with this part's one
# listener (default: WORK_DIR/broker, PORT and OVERRIDES); the log dir DIR/data is kept across
# starts. Up when the port accepts TCP connections.
quota_broker_start() {
  local dir=${1:-$WORK/broker} port=${2:-$PORT} unset=() v kv args=() i
  local overrides=("${@:3}")
  [[ $# -gt 2 ]] || overrides=("${OVERRIDES[@]}")
  mkdir -p "$dir/data"
  RN_BROKER_LOG="$dir/broker.log"
  for v in $(compgen -e | grep '^RUNNEL_' | grep -v '^RUNNEL_LOG$'); do unset+=(-u "$v"); done
  for kv in "log.dirs=$dir/data" "${overrides[@]}"; do args+=(--override "$kv"); done
  env ${unset[@]+"${unset[@]}"} RUNNEL_LOG="${RUNNEL_LOG:-info}" \
    "$RUNNEL_BIN" serve "${args[@]}" >>"$RN_BROKER_LOG" 2>&1 &
  RN_PID=$!
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$RN_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$RN_PID" 2>/dev/null; wait "$RN_PID" 2>/dev/null; RN_PID=
  return 1
}

# cfg ARGS...: Kafka's config tool on the PLAINTEXT listener.
cfg() { kt org.apache.kafka.tools.ConfigCommand --bootstrap-server "$BOOT" "$@"; }

# quota_rows: ConfigCommand --describe output on stdin -> one line per quota, ENTITY|KEY=VALUE
# ("Quota configs for user-principal 'alice', client-id 'c1' are producer_byte_rate=100000.0"
# -> "user-principal 'alice', client-id 'c1'|producer_byte_rate=100000"), sorted.
quota_rows() {
  sed -nE 's/^Quota configs for (.*) are (.*)$/\1\t\2/p' \
    | awk -F'\t' '{ n = split($2, kv, ", "); for (i = 1; i <= n; i++) { eq = index(kv[i], "=");
                    printf "%s|%s=%.10g\n", $1, substr(kv[i], 1, eq - 1), substr(kv[i], eq + 1) + 0 } }' \
    | sort
}

# describe_into ROWS_FILE ARGS...: ConfigCommand --describe ARGS, its rows appended to ROWS_FILE;
# returns the tool's exit status (its output in WORK_DIR/out and WORK_DIR/err).
describe_into() {
  local rows=$1; shift
  cfg --describe "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
  quota_rows <"$WORK/out" >>"$rows"
  return "$rc"
}

# rows_compare NAME WANT_FILE GOT_FILE RC: PASS when RC is 0 and the rows are equal.
rows_compare() {
  local name=$1 want=$2 got=$3 rc=$4 missing extra
  sort -o "$got" "$got"
  missing=$(comm -23 "$want" "$got" | tr '\n' ' ')
  extra=$(comm -13 "$want" "$got" | tr '\n' ' ')
  if [[ $rc -eq 0 && -z "$missing" && -z "$extra" ]]; then pass "$name"
  else fail "$name" "exit $rc (124: hung); missing: ${missing:-none}; unexpected: ${extra:-none} $(errline "$WORK/err")"; fi
}

# describe_check NAME WANT_FILE ConfigCommand-describe-args...
describe_check() {
  local name=$1 want=$2 rc; shift 2
  : >"$WORK/rows"
  describe_into "$WORK/rows" "$@"; rc=$?
  rows_compare "$name" "$want" "$WORK/rows" "$rc"
}

# alter_case NAME ConfigCommand-alter-args...: must exit 0 saying "Completed updating".
alter_case() {
  local name=$1; shift
  cfg --alter "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
  if [[ $rc -eq 0 ]] && grep -q 'Completed updating' "$WORK/out"; then pass "$name"
  else fail "$name" "exit $rc (124: hung) $(head -c 150 "$WORK/out" | tr '\n' ' ') $(errline "$WORK/out" "$WORK/err")"; fi
}

# alter_rejected NAME PATTERN ConfigCommand-alter-args...: must fail (not hang) with PATTERN in
# its output; the matching line goes out as INFO.
alter_rejected() {
  local name=$1 pattern=$2; shift 2
  cfg --alter "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
  if [[ $rc -ne 0 && $rc -ne 124 ]] && grep -qE "$pattern" "$WORK/out" "$WORK/err"; then
    pass "$name"
    echo "INFO $name: $(grep -hE "$pattern" "$WORK/out" "$WORK/err" | grep -v '^\s*at ' | tail -1 | cut -c1-250)"
  elif [[ $rc -eq 0 ]]; then fail "$name" "accepted: $(head -c 200 "$WORK/out" | tr '\n' ' ')"
  else fail "$name" "exit $rc (124: hung), no /$pattern/: $(errline "$WORK/out" "$WORK/err")"; fi
}

ALICE="user-principal 'alice'" C1="client-id 'c1'" DEFAULT_CLIENT="the default client-id"
want() { local f=$1; shift; printf '%s\n' "$@" | sort >"$WORK/want-$f"; }
want alice "$ALICE|consumer_byte_rate=2097152" "$ALICE|producer_byte_rate=1048576"
want clients "$C1|request_percentage=50" "$DEFAULT_CLIENT|producer_byte_rate=4194304"
want alice_c1 "$ALICE, $C1|producer_byte_rate=100000"
want ip "ip '127.0.0.1'|connection_creation_rate=100"
: >"$WORK/want-none"
# after the deletion and the Java cases: every quota there is, by the four describes of step 6
want final "$ALICE|consumer_byte_rate=2097152" "$ALICE|producer_byte_rate=1048576" \
  "$DEFAULT_CLIENT|producer_byte_rate=4194304" "client-id 'slow-producer'|producer_byte_rate=$RATE" \
  "client-id 'slow-consumer'|consumer_byte_rate=$RATE" "$ALICE, $C1|producer_byte_rate=100000" \
  "ip '127.0.0.1'|connection_creation_rate=100" "client-id 'quota-mutator'|controller_mutation_rate=2"

if ! quota_broker_start; then
  fail broker_start "the broker did not listen on $BOOT: $(tail -3 "$RN_BROKER_LOG" | tr '\n' ' ' | cut -c1-300)"
  exit 1
fi
MAIN_LOG=$RN_BROKER_LOG
echo "INFO broker on $BOOT (PLAINTEXT, User:ANONYMOUS), quota.window.num=2, quota.window.size.seconds=1; TF=$TF TS=$TS"

# 1. Quotas set with Kafka's config tool.
alter_case quotas.cli.alter_user --entity-type users --entity-name alice \
  --add-config producer_byte_rate=1048576,consumer_byte_rate=2097152
alter_case quotas.cli.alter_client --entity-type clients --entity-name c1 --add-config request_percentage=50
alter_case quotas.cli.alter_default_client --entity-type clients --entity-default --add-config producer_byte_rate=4194304
alter_case quotas.cli.alter_user_client --entity-type users --entity-name alice --entity-type clients --entity-name c1 \
  --add-config producer_byte_rate=100000
alter_case quotas.cli.alter_ip --entity-type ips --entity-name 127.0.0.1 --add-config connection_creation_rate=100

# 2. Described back.
describe_check quotas.cli.describe_user "$WORK/want-alice" --entity-type users --entity-name alice
describe_check quotas.cli.describe_clients "$WORK/want-clients" --entity-type clients
describe_check quotas.cli.describe_user_client "$WORK/want-alice_c1" --entity-type users --entity-name alice \
  --entity-type clients --entity-name c1
describe_check quotas.cli.describe_ip "$WORK/want-ip" --entity-type ips

# 3. A key deleted.
cfg --alter --entity-type clients --entity-name c1 --delete-config request_percentage >"$WORK/out" 2>"$WORK/err"
rc=$?
cat "$WORK/out" "$WORK/err" >>"$RN_SUITE_LOG"
if [[ $rc -eq 0 ]]; then describe_check quotas.cli.delete_config "$WORK/want-none" --entity-type clients --entity-name c1
else fail quotas.cli.delete_config "--delete-config request_percentage: exit $rc (124: hung) $(errline "$WORK/out" "$WORK/err")"; fi

# 4. Rejected changes change nothing.
alter_rejected quotas.cli.invalid_value 'InvalidRequestException|Invalid' --entity-type users --entity-name alice \
  --add-config producer_byte_rate=10.5
alter_rejected quotas.cli.invalid_key 'InvalidRequestException|Invalid|Unexpected config names' --entity-type users \
  --entity-name alice --add-config no_such_quota=5
describe_check quotas.cli.invalid_not_applied "$WORK/want-alice" --entity-type users --entity-name alice

# 5. Enforcement, seen by Java clients.
ok=true
cfg --alter --entity-type clients --entity-name slow-producer --add-config "producer_byte_rate=$RATE" \
  >>"$RN_SUITE_LOG" 2>&1 || ok=false
cfg --alter --entity-type clients --entity-name slow-consumer --add-config "consumer_byte_rate=$RATE" \
  >>"$RN_SUITE_LOG" 2>&1 || ok=false
if $ok; then
  pass quotas.cli.alter_slow_clients
  KT_BOUND=240 kt "$HERE/QuotaClients.java" --bootstrap "$BOOT" --topic-free "$TF" --topic-slow "$TS" \
    --records 100 --size 10240 --rate "$RATE" --min-secs 5 2>"$WORK/java.err" | grep -E '^(PASS|FAIL|SKIP|INFO) '
  rc=${PIPESTATUS[0]}
  [[ $rc -eq 0 ]] || failures=$((failures + 1))
  [[ $rc -eq 0 || $rc -eq 1 ]] || echo "FAIL quotas.java: exit status $rc (124: timed out after 240 s; see $WORK/java.err)"
else
  fail quotas.cli.alter_slow_clients "ConfigCommand could not set the slow clients' quotas (see $RN_SUITE_LOG)"
fi

# 6. A restart on the same log dir keeps the quotas.
if rn_broker_stop; then pass quotas.restart.sigterm_exit_0
else fail quotas.restart.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $MAIN_LOG)"; fi
if quota_broker_start; then
  pass quotas.restart.broker_start
  : >"$WORK/rows"
  rc=0
  describe_into "$WORK/rows" --entity-type users || rc=$?
  describe_into "$WORK/rows" --entity-type clients || rc=$?
  describe_into "$WORK/rows" --entity-type users --entity-name alice --entity-type clients --entity-name c1 || rc=$?
  describe_into "$WORK/rows" --entity-type ips || rc=$?
  rows_compare quotas.restart.describe_same "$WORK/want-final" "$WORK/rows" "$rc"
else
  fail quotas.restart.broker_start "the broker did not listen on $BOOT again: $(tail -3 "$MAIN_LOG" | tr '\n' ' ' | cut -c1-300)"
fi

# 7. The broker.
if [[ -n "${RN_PID:-}" ]] && kill -0 "$RN_PID" 2>/dev/null; then pass broker.alive
elif [[ -n "${RN_PID:-}" ]]; then fail broker.alive "the broker died (see $MAIN_LOG)"; wait "$RN_PID" 2>/dev/null; RN_PID=; fi
if grep -q 'panicked' "$MAIN_LOG"; then fail broker.no_panic "$(grep -m1 'panicked' "$MAIN_LOG" | cut -c1-300)"
else pass broker.no_panic; fi
if [[ -n "${RN_PID:-}" ]]; then
  if rn_broker_stop; then pass broker.sigterm_exit_0
  else fail broker.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $MAIN_LOG)"; fi
fi
# 8. 30 s under a 5 MB/s producer quota beside an unthrottled producer, on a broker of its own.
HELD_DIR=$WORK/broker-held HELD_PORT=$(rn_free_port)
if quota_broker_start "$HELD_DIR" "$HELD_PORT" "listeners=PLAINTEXT://127.0.0.1:$HELD_PORT" \
     quota.window.num=2 quota.window.size.seconds=1 log.retention.bytes=268435456 \
     log.segment.bytes=67108864 log.retention.check.interval.ms=1000; then
  pass quotas.held.broker_start
  KT_BOUND=150 kt "$HERE/QuotaClients.java" --bootstrap "127.0.0.1:$HELD_PORT" --held-rate 5242880 \
    --held-secs 30 --solo-secs 5 --warm-secs 2 --held-size 16384 --held-tolerance 0.10 --min-solo-share 0.70 \
    --held-producer producer-5mbps --free-producer producer-free \
    --topic-held "quota-held-$SUF" --topic-free "quota-beside-$SUF" 2>"$WORK/java-held.err" | grep -E '^(PASS|FAIL|SKIP|INFO) '
  rc=${PIPESTATUS[0]}
  [[ $rc -eq 0 ]] || failures=$((failures + 1))
  [[ $rc -eq 0 || $rc -eq 1 ]] || echo "FAIL quotas.java.held: exit status $rc (124: timed out after 150 s; see $WORK/java-held.err)"
  if grep -q 'panicked' "$RN_BROKER_LOG"; then fail quotas.held.no_panic "$(grep -m1 'panicked' "$RN_BROKER_LOG" | cut -c1-300)"
  else pass quotas.held.no_panic; fi
  if ! kill -0 "$RN_PID" 2>/dev/null; then fail quotas.held.sigterm_exit_0 "the broker died (see $RN_BROKER_LOG)"; wait "$RN_PID" 2>/dev/null; RN_PID=
  elif rn_broker_stop; then pass quotas.held.sigterm_exit_0
  else fail quotas.held.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $RN_BROKER_LOG)"; fi
  echo "INFO quotas.held: $(du -sh "$HELD_DIR/data" 2>/dev/null | cut -f1) on disk at the end (removed)"
  rm -rf "${HELD_DIR:?}/data"
else
  fail quotas.held.broker_start "the broker did not listen on 127.0.0.1:$HELD_PORT: $(tail -3 "$RN_BROKER_LOG" | tr '\n' ' ' | cut -c1-300)"
fi
echo "INFO quotas.sh took ${SECONDS}s"
[[ $failures -eq 0 ]]
