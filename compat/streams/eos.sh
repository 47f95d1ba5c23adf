#!/usr/bin/env bash
# compat/streams/eos.sh -- the exactly-once scenario of the "streams" suite (compat/run.sh runs
# it after streams/run.sh): Kafka Streams 4.4.0 with processing.guarantee=exactly_once_v2
# (WordCountEos.java) against a 3-node Runnel cluster while the app and brokers are SIGKILLed
# and restarted. Owns: the three `runnel serve` processes (broker and controller each, 127.0.0.1
# on free ports, data in a temp dir removed on exit, logs WORK/node-N.log), the JVMs it starts
# (input producer, the app, the tools) and the order of the faults.
#
#   compat/streams/eos.sh RUNNEL_BIN WORK_DIR [--long]
#
# Run: nodes up (every one registered with the controller), topics words-in and word-counts-out
# (3 partitions, replication 3, min.insync.replicas=2), then at once a paced idempotent acks=all
# producer (4,000 sentences at 75/s in CI, 18,000 at 100/s with --long) and the app. Faults, each
# once the app is making progress (300 new output updates since its start or the last fault):
#   app       SIGKILL the app, restart it with the same state dir (same process id, so the same
#             transactional id: InitProducerId fences and aborts the open transaction)
#   coord     SIGKILL the node that is the app's transaction coordinator (DescribeTransactions),
#             restart it after 2 s on the same ports and data
#   app-wipe  SIGKILL the app, restart it with an empty state dir: the store comes back from the
#             changelog, and the new process id means a new transactional id, so the old one's
#             open transaction is only aborted by the broker's transaction timeout (10 s)
#   leader    (--long) SIGKILL the leader of words-in-0 (another node than the coordinator when
#             another node leads a words-in partition), restart it after 2 s
#   app+coord (--long) SIGKILL the app and the coordinator's node at once, restart both
# CI runs app, coord, app-wipe once (about 70 s); --long runs rounds of all five while the
# producer has more than 40 s to go (about 3 minutes).
# After a broker restart the script waits for every partition's ISR to be 3 again. Then the
# producer must end with every sentence acknowledged and WordCountEos check must pass (exact
# counts, updates of every word exactly 1..n under read_committed, the changelog, committed
# offsets at the end; see its header), the app must close on SIGTERM and every node must exit 0
# on SIGTERM.
#
# Cases (prefixed `eos.`): compile, cluster_up, setup, app.running.N (the Nth app instance
# reached RUNNING within 90 s), app.alive (no app instance died unasked), fault.<name>.before and
# fault.<name>.progress (300 updates before and after the fault within 90 s each; a round after
# the first names its faults <name>.<round>), broker.N.restart.<name> (registered again within
# 30 s), isr_rejoined.<name> (ISR 3 everywhere within 60 s), produce_acked, the check's cases,
# app.sigterm (exit within 30 s), node.N.sigterm_exit_0. Logs in WORK_DIR: node-N.log
# (RUNNEL_LOG, default info,broker=debug), app-N.out/.log, produce.log, check.out, timeline.log.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
RUNNEL_BIN=${1:?usage: eos.sh RUNNEL_BIN WORK_DIR [--long]}
WORK=${2:?usage: eos.sh RUNNEL_BIN WORK_DIR [--long]}
LONG=false
[[ ${3:-} == --long ]] && LONG=true
if $LONG; then
  SENTENCES=18000 RATE=100 FAULTS=(app coord app-wipe leader app+coord) ROUNDS=10
else
  SENTENCES=4000 RATE=75 FAULTS=(app coord app-wipe) ROUNDS=1
fi
NODE_LOG=${RUNNEL_LOG:-info,broker=debug}
rm -rf "$WORK"; mkdir -p "$WORK"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/runnel-eos.XXXXXX")
T0=$(date +%s)

declare -A NODE_PID CPORT KPORT REGS
APP_PID='' PRODUCER_PID='' APPS=0
# shellcheck disable=SC2317  # called by the traps
cleanup() {
  local p
  for p in "$APP_PID" "$PRODUCER_PID" "${NODE_PID[@]}"; do
    [[ -n $p ]] && kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

pass() { echo "PASS eos.$1"; }
fail() { echo "FAIL eos.$1: $2"; }
info() { echo "INFO eos: $*"; }
note() { printf '[%4ds] %s\n' $(( $(date +%s) - T0 )) "$*" >>"$WORK/timeline.log"; }

kt_install_extras >>"$WORK/install.log" 2>&1 || { fail install "kt_install_extras failed (see $WORK/install.log)"; exit 1; }
CP="$KT_LIB/*:$KT_EXTRAS_LIB/*"
mkdir -p "$WORK/classes"
if javac -d "$WORK/classes" -cp "$CP" "$HERE/WordCountEos.java" >>"$WORK/compile.log" 2>&1; then pass compile
else fail compile "javac failed: $(grep -m1 error "$WORK/compile.log" | cut -c1-200)"; exit 1; fi
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
logger.txn.name = org.apache.kafka.clients.producer.internals.TransactionManager
logger.txn.level = INFO
EOF
# The short-lived tools start fast (C1 only); the app gets the full JIT.
TOOL=(java -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$WORK/log4j2.properties"
      -cp "$WORK/classes:$CP" WordCountEos)
APP=(java -Xmx512m -Dlog4j2.configurationFile="$WORK/log4j2.properties" -cp "$WORK/classes:$CP" WordCountEos)

# -- the cluster ---------------------------------------------------------------------------------
ports=()
while [[ ${#ports[@]} -lt 6 ]]; do
  p=$(rn_free_port) || { fail cluster_up "no free port"; exit 1; }
  [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
done
for i in 1 2 3; do CPORT[$i]=${ports[$((i * 2 - 2))]} KPORT[$i]=${ports[$((i * 2 - 1))]} REGS[$i]=0; done
VOTERS="1@127.0.0.1:${KPORT[1]},2@127.0.0.1:${KPORT[2]},3@127.0.0.1:${KPORT[3]}"
BOOT="127.0.0.1:${CPORT[1]},127.0.0.1:${CPORT[2]},127.0.0.1:${CPORT[3]}"
SETTINGS=(broker.session.timeout.ms=3000 broker.heartbeat.interval.ms=500 replica.lag.time.max.ms=4000
          offsets.topic.replication.factor=3 offsets.topic.num.partitions=3
          transaction.state.log.replication.factor=3 transaction.state.log.min.isr=2
          transaction.state.log.num.partitions=3 default.replication.factor=3 min.insync.replicas=2
          num.partitions=3 group.initial.rebalance.delay.ms=0
          transaction.abort.timed.out.transaction.cleanup.interval.ms=1000)

registrations() { grep -c 'registered with the controller' "$WORK/node-$1.log" 2>/dev/null || true; }

# node_start I: start node I (its ports and data dir are fixed for the run).
node_start() {
  local i=$1 args=() kv unset=() v
  for kv in "node.id=$i" process.roles=broker,controller "controller.quorum.voters=$VOTERS" \
            "listeners=PLAINTEXT://127.0.0.1:${CPORT[$i]},CONTROLLER://127.0.0.1:${KPORT[$i]}" \
            "log.dirs=$DATA/node-$i" "${SETTINGS[@]}"; do
    args+=(--override "$kv")
  done
  # runnel reads RUNNEL_* variables as configuration: pass none but the log level.
  for v in $(compgen -e | grep '^RUNNEL_'); do unset+=(-u "$v"); done
  REGS[$i]=$(( $(registrations "$i") + 1 ))
  mkdir -p "$DATA/node-$i"
  env ${unset[@]+"${unset[@]}"} RUNNEL_LOG="$NODE_LOG" "$RUNNEL_BIN" serve "${args[@]}" >>"$WORK/node-$i.log" 2>&1 &
  NODE_PID[$i]=$!
  note "node $i started (pid ${NODE_PID[$i]})"
}

# node_registered I SECS: wait until node I registered with the controller since its start.
node_registered() {
  local i=$1 n
  for ((n = 0; n < $2 * 10; n++)); do
    [[ $(registrations "$i") -ge ${REGS[$i]} ]] && return 0
    kill -0 "${NODE_PID[$i]}" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

node_kill() {
  kill -9 "${NODE_PID[$1]}" 2>/dev/null; wait "${NODE_PID[$1]}" 2>/dev/null
  note "node $1 SIGKILLed"
}

for i in 1 2 3; do node_start "$i"; done
up=true
for i in 1 2 3; do node_registered "$i" 30 || up=false; done
if $up; then pass cluster_up; info "cluster $BOOT up in $(( $(date +%s) - T0 ))s"
else fail cluster_up "not every node registered within 30 s (see $WORK/node-N.log)"; exit 1; fi

if timeout 90 "${TOOL[@]}" setup "$BOOT" >>"$WORK/setup.log" 2>&1; then pass setup
else fail setup "topics not created or not in sync (see $WORK/setup.log)"; exit 1; fi

# -- the app -------------------------------------------------------------------------------------
STATE="$DATA/state"
app_start() {
  APPS=$((APPS + 1))
  "${APP[@]}" app "$BOOT" "$STATE" >"$WORK/app-$APPS.out" 2>"$WORK/app-$APPS.log" &
  APP_PID=$!
  note "app $APPS started (pid $APP_PID)"
}
app_kill() {
  kill -9 "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null
  note "app $APPS SIGKILLed at progress $(app_progress)"
  APP_PID=
}
app_progress() { grep '^progress ' "$WORK/app-$APPS.out" 2>/dev/null | tail -1 | cut -d' ' -f2 || true; }
app_state() { grep '^state ' "$WORK/app-$APPS.out" 2>/dev/null | tail -1 | cut -d' ' -f2 || true; }
app_dead_unasked() {
  [[ -n $APP_PID ]] && ! kill -0 "$APP_PID" 2>/dev/null
}

# await_progress WHAT MIN SECS: until this app instance sent MIN output updates; a case.
await_progress() {
  local what=$1 min=$2 n p
  for ((n = 0; n < $3 * 5; n++)); do
    p=$(app_progress)
    if [[ ${p:-0} -ge $min ]]; then return 0; fi
    app_dead_unasked && break
    sleep 0.2
  done
  fail "$what" "app $APPS at progress ${p:-none} (state $(app_state)) after $3 s$(app_dead_unasked && echo ', the app exited')"
  return 1
}

# await_running SECS: until this app instance reached RUNNING; a case.
await_running() {
  local n t=$SECONDS
  for ((n = 0; n < $1 * 5; n++)); do
    if grep -q '^state RUNNING' "$WORK/app-$APPS.out" 2>/dev/null; then
      pass "app.running.$APPS"; note "app $APPS RUNNING after $((SECONDS - t)) s"; return 0
    fi
    app_dead_unasked && break
    sleep 0.2
  done
  fail "app.running.$APPS" "state $(app_state) after $1 s (see $WORK/app-$APPS.log)"
  return 1
}

# The broker to kill: the app's transaction coordinator, or the leader of words-in-0 (another node
# when the coordinator leads it and another node leads a partition).
victim() {
  local out coord lead p
  out=$(timeout 60 "${TOOL[@]}" victim "$BOOT" 2>>"$WORK/victim.log")
  printf '%s\n' "$out" >>"$WORK/victim.log"
  coord=$(awk '$1 == "coordinator" {print $2}' <<<"$out")
  [[ $1 == coord ]] && { echo "$coord"; return; }
  lead=$(awk '$1 == "leader" && $2 == 0 {print $3}' <<<"$out")
  if [[ $lead == "$coord" ]]; then
    while read -r p; do [[ $p != "$coord" && $p -gt 0 ]] && lead=$p; done < <(awk '$1 == "leader" {print $3}' <<<"$out")
  fi
  echo "$lead"
}

settle() {
  local out
  out=$(timeout 90 "${TOOL[@]}" settle "$BOOT" 60 2>>"$WORK/settle.log")
  if [[ $out == settled* ]]; then pass "isr_rejoined.$1"; note "ISR 3 everywhere ${out#settled } ms after the check began"
  else fail "isr_rejoined.$1" "${out:-no answer} (see $WORK/settle.log)"; fi
}

# broker_fault NAME KIND: SIGKILL the victim, restart it after 2 s.
broker_fault() {
  local v
  v=$(victim "$2")
  if [[ ! $v =~ ^[123]$ ]]; then fail "fault.$1.victim" "no $2 node found (see $WORK/victim.log)"; return 1; fi
  info "fault $1: SIGKILL node $v ($2)"
  node_kill "$v"
  sleep 2
  node_start "$v"
  if node_registered "$v" 30; then pass "broker.$v.restart.$1"
  else fail "broker.$v.restart.$1" "node $v did not register again within 30 s (see $WORK/node-$v.log)"; fi
}

note "producer and app start"
"${TOOL[@]}" produce "$BOOT" $SENTENCES $RATE \
  >"$WORK/produce.out" 2>"$WORK/produce.log" &
PRODUCER_PID=$!
PRODUCER_T0=$SECONDS
app_start
await_running 90 || exit 1
died=0
# Rounds of FAULTS (one in CI); --long starts another round while the producer has 40 s to go.
plan=()
for ((r = 0; r < ROUNDS; r++)); do plan+=("${FAULTS[@]}"); done
done_faults=()
for f in "${plan[@]}"; do
  if [[ ${#done_faults[@]} -ge ${#FAULTS[@]} && $(( ${#done_faults[@]} % ${#FAULTS[@]} )) -eq 0 ]] \
       && (( SECONDS - PRODUCER_T0 > SENTENCES / RATE - 40 )); then
    break
  fi
  round=$(( ${#done_faults[@]} / ${#FAULTS[@]} + 1 ))
  name=$f; [[ $round -gt 1 ]] && name="$f.$round"
  # Each fault once the app is visibly working (300 updates since its instance started or the
  # last fault).
  base=$(app_progress)
  await_progress "fault.$name.before" $(( ${base:-0} + 300 )) 90 || break
  note "fault $name at app progress $(app_progress)"
  case $f in
    app) app_kill; app_start ;;
    app-wipe) app_kill; rm -rf "$STATE"; app_start ;;
    coord|leader) broker_fault "$name" "$f" || break ;;
    app+coord)
      v=$(victim coord)
      [[ $v =~ ^[123]$ ]] || { fail "fault.$name.victim" "no coordinator found (see $WORK/victim.log)"; break; }
      info "fault $name: SIGKILL the app and node $v"
      app_kill; node_kill "$v"; sleep 2; node_start "$v"; app_start
      if node_registered "$v" 30; then pass "broker.$v.restart.$name"
      else fail "broker.$v.restart.$name" "node $v did not register again within 30 s"; fi
      ;;
  esac
  if [[ $f == app* ]]; then await_running 90 || break; fi
  base=$(app_progress)
  if await_progress "fault.$name.progress" $(( ${base:-0} + 300 )) 90; then
    pass "fault.$name.progress"; note "progress again after $name"
  else
    break
  fi
  [[ $f == app || $f == app-wipe ]] || settle "$name"
  done_faults+=("$name")
done
if app_dead_unasked; then died=1; fi

# -- the end -------------------------------------------------------------------------------------
t=$SECONDS
# The producer paces itself over SENTENCES/RATE seconds; 150 s more for its retries.
while kill -0 "$PRODUCER_PID" 2>/dev/null && (( SECONDS - t < SENTENCES / RATE + 150 )); do sleep 0.5; done
kill -9 "$PRODUCER_PID" 2>/dev/null
wait "$PRODUCER_PID"; prc=$?; PRODUCER_PID=
grep '^INFO ' "$WORK/produce.out" | sed 's/^INFO /INFO eos: /'
if [[ $prc -eq 0 ]]; then pass produce_acked
else fail produce_acked "producer status $prc: $(grep -E 'Exception|produce:' "$WORK/produce.log" | tail -2 | tr '\n' ' ' | cut -c1-300)"; fi
note "producer done (status $prc, waited $((SECONDS - t)) s)"

timeout 200 "${TOOL[@]}" check "$BOOT" $SENTENCES 120 >"$WORK/check.out" 2>"$WORK/check.log"
crc=$?
sed -e 's/^PASS /PASS eos./' -e 's/^FAIL /FAIL eos./' -e 's/^INFO /INFO eos: /' "$WORK/check.out"
[[ $crc -eq 0 ]] || grep -q '^FAIL ' "$WORK/check.out" || fail check "status $crc without a FAIL line (see $WORK/check.log)"
note "check done (status $crc)"

if app_dead_unasked; then died=1; fi
for ((n = 1; n <= APPS; n++)); do
  grep '^FAIL ' "$WORK/app-$n.out" | sed "s/^FAIL app\./FAIL eos.app.$n./"
  r=$(awk '$1 == "restored" {s += $3} END {print s + 0}' "$WORK/app-$n.out")
  info "app $n: $(grep -c '^state RUNNING' "$WORK/app-$n.out") times RUNNING, restored $r changelog records, last progress $(grep '^progress ' "$WORK/app-$n.out" | tail -1 | cut -d' ' -f2)"
done
if [[ $died -eq 0 ]]; then pass app.alive
else fail app.alive "app $APPS exited by itself (state $(app_state); see $WORK/app-$APPS.log)"; fi
if [[ -n $APP_PID ]] && kill -0 "$APP_PID" 2>/dev/null; then
  kill -TERM "$APP_PID"
  for ((n = 0; n < 300; n++)); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$APP_PID" 2>/dev/null; then fail app.sigterm "app still running 30 s after SIGTERM"; kill -9 "$APP_PID"
  else pass app.sigterm; fi
  wait "$APP_PID" 2>/dev/null; APP_PID=
fi

for i in 1 2 3; do kill -TERM "${NODE_PID[$i]}" 2>/dev/null; done
for i in 1 2 3; do
  for ((n = 0; n < 300; n++)); do kill -0 "${NODE_PID[$i]}" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "${NODE_PID[$i]}" 2>/dev/null; then
    fail "node.$i.sigterm_exit_0" "still running 30 s after SIGTERM"; kill -9 "${NODE_PID[$i]}"; wait "${NODE_PID[$i]}" 2>/dev/null
  else
    wait "${NODE_PID[$i]}"; rc=$?
    if [[ $rc -eq 0 ]]; then pass "node.$i.sigterm_exit_0"; else fail "node.$i.sigterm_exit_0" "exit status $rc"; fi
  fi
  NODE_PID[$i]=
done
info "scenario ($( $LONG && echo long || echo ci ): ${done_faults[*]}, $SENTENCES sentences) in $(( $(date +%s) - T0 ))s; timeline in $WORK/timeline.log"
exit 0
