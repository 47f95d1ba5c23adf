#!/usr/bin/env bash
# compat/connect/run.sh -- Kafka Connect 4.4.0 in distributed mode against one runnel broker.
# Owns the "connect" suite of compat/run.sh: it starts its own broker (rn_broker_start), a
# Connect worker (org.apache.kafka.connect.cli.ConnectDistributed from connect-runtime 4.4.0,
# the FileStream connectors from connect-file 4.3.0 plus shim/AppInfoParser.java on its
# plugin.path: Maven Central has no connect-file 4.4.0), SIGKILLs the worker midway and starts
# it again, and stops everything it started.
#
#   compat/connect/run.sh RUNNEL_BIN WORK_DIR
#
# Pipeline: a writer appends 100,000 distinct numbered lines to in.txt at about 10,000 lines/s;
# FileStreamSource (tailing in.txt) -> topic connect-lines (3 partitions, created by Connect's
# topic.creation) -> FileStreamSink -> out.txt. Both connectors are created over Connect's REST
# API (curl on 127.0.0.1). Once out.txt holds 40,000 lines the worker is SIGKILLed; a new worker
# with the same group and storage topics must find both connectors in its config topic and go
# on from the committed source offsets (the file position, in the offset topic) and sink offsets
# (the consumer group connect-file-sink).
#
# Cases (each prints `PASS name` / `FAIL name: why`, figures as `INFO ...`):
#   worker.started               REST API answers, the worker joined its group
#   internal_topics.compact      ConfigCommand --describe: cleanup.policy=compact on the config,
#                                offset and status topics (Connect creates them so, and refuses
#                                to start when DescribeConfigs says otherwise)
#   connectors.running           both connectors and their tasks RUNNING
#   worker.killed_midway         SIGKILL with 40,000 <= lines in out.txt < 100,000
#   worker.restarted             the new worker answers and lists both connectors (read back from
#                                the config topic, not created again), tasks RUNNING
#   pipeline.no_line_lost        every input line in out.txt within 90 s of the restart
#                                (at-least-once: duplicates are allowed, INFO gives their count)
#   source.resumed_from_committed_offset   worker 2's source task starts at the file position
#                                worker 1 committed (> 0; its DEBUG log line)
#   sink.resumed_from_committed_offsets    worker 2's sink consumer starts at committed offsets
#                                on all 3 partitions (none "Found no committed offset")
#   sink.offsets_committed       the sink group's committed offsets reach the end of the topic's
#                                3 partitions (ConsumerGroupCommand --describe: lag 0)
#   worker.sigterm               the worker exits within 30 s of SIGTERM
#   broker.sigterm_exit_0        the broker exits with status 0 within 30 s of SIGTERM
# Logs: WORK_DIR/worker-{1,2}.log (Connect at INFO), WORK_DIR/b1/broker.log, WORK_DIR/cases.log.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
# shellcheck disable=SC2034  # rn_broker_start (common.sh) runs it
RUNNEL_BIN=${1:?usage: run.sh RUNNEL_BIN WORK_DIR}
WORK=${2:?usage: run.sh RUNNEL_BIN WORK_DIR}
LINES=100000 KILL_AT=40000
TOPIC=connect-lines
mkdir -p "$WORK"
RN_SUITE_LOG="$WORK/cases.log"
WORKER_PID='' WRITER_PID=''
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [[ -n "$WRITER_PID" ]] && kill -9 "$WRITER_PID" 2>/dev/null
  [[ -n "$WORKER_PID" ]] && kill -9 "$WORKER_PID" 2>/dev/null
  [[ -n "${RN_PID:-}" ]] && kill -9 "$RN_PID" 2>/dev/null
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
info() { echo "INFO $*"; }
kt_install_extras >>"$RN_SUITE_LOG" 2>&1 || { fail install "kt_install_extras failed (see $RN_SUITE_LOG)"; exit 1; }

# The broker: no initial rebalance delay, so each worker start joins its group at once;
# segments roll every second and the cleaner looks every 500 ms, so Connect's compacted
# topics are compacted while it runs.
rn_broker_start "$WORK/b1" group.initial.rebalance.delay.ms=0 log.roll.ms=1000 log.cleaner.backoff.ms=500 \
  || { fail broker_start "see $WORK/b1/broker.log"; exit 1; }

# The worker's files. connect-file sits alone on plugin.path (its own class loader), with the
# AppInfoParser shim it needs in the 4.4.0 runtime (shim/AppInfoParser.java says why).
PLUGINS="$WORK/plugins/connect-file"
rm -rf "$WORK/plugins" "$WORK/shim-classes"
mkdir -p "$PLUGINS" "$WORK/shim-classes"
cp "$KT_EXTRAS_LIB"/connect-file-*.jar "$PLUGINS/"
if ! javac -d "$WORK/shim-classes" -cp "$KT_LIB/*" "$HERE/shim/AppInfoParser.java" >>"$RN_SUITE_LOG" 2>&1 \
   || ! jar cf "$PLUGINS/runnel-appinfoparser-shim.jar" -C "$WORK/shim-classes" . >>"$RN_SUITE_LOG" 2>&1; then
  fail install "compiling shim/AppInfoParser.java failed (see $RN_SUITE_LOG)"; exit 1
fi
REST_PORT=$(rn_free_port)
REST=http://127.0.0.1:$REST_PORT
IN="$WORK/in.txt" OUT="$WORK/out.txt"
rm -f "$IN" "$OUT"; : >"$IN"
cat >"$WORK/worker.properties" <<EOF
bootstrap.servers=$RN_BOOTSTRAP
group.id=runnel-connect
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
config.storage.topic=runnel-connect-configs
offset.storage.topic=runnel-connect-offsets
status.storage.topic=runnel-connect-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.flush.interval.ms=1000
session.timeout.ms=6000
heartbeat.interval.ms=1000
scheduled.rebalance.max.delay.ms=0
listeners=$REST
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$REST_PORT
plugin.path=$WORK/plugins
EOF
cat >"$WORK/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_ERR
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
# "Found previous offset, trying to skip to file offset N": the source's resumed position
logger.filesource.name = org.apache.kafka.connect.file.FileStreamSourceTask
logger.filesource.level = DEBUG
EOF

# start_worker N: ConnectDistributed in the background (java itself, so $! is the JVM).
start_worker() {
  java -Xmx512m -Dlog4j2.configurationFile="$WORK/log4j2.properties" -cp "$KT_LIB/*" \
       org.apache.kafka.connect.cli.ConnectDistributed "$WORK/worker.properties" >"$WORK/worker-$1.log" 2>&1 &
  WORKER_PID=$!
}
# rest METHOD PATH [JSON]: one bounded request; the body on stdout, fails on HTTP >= 400.
rest() {
  curl -sS -f --max-time 10 -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$REST$2"
}
# wait_worker SECONDS: the REST API answers and the worker has joined (GET /connectors answers
# 200 only once the herder has started).
wait_worker() {
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    kill -0 "$WORKER_PID" 2>/dev/null || return 1
    rest GET /connectors >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
# wait_running SECONDS NAME...: each connector and all its tasks RUNNING.
wait_running() {
  local deadline=$((SECONDS + $1)) name ok; shift
  while ((SECONDS < deadline)); do
    ok=true
    for name in "$@"; do
      rest GET "/connectors/$name/status" 2>/dev/null | python3 2>/dev/null -c '
import json, sys
s = json.load(sys.stdin)
states = [s["connector"]["state"]] + [t["state"] for t in s["tasks"]]
sys.exit(0 if s["tasks"] and all(x == "RUNNING" for x in states) else 1)' || ok=false
    done
    $ok && return 0
    sleep 0.5
  done
  return 1
}
out_lines() { if [[ -f "$OUT" ]]; then wc -l <"$OUT"; else echo 0; fi; }
worker_tail() { grep -E 'ERROR|Exception' "$WORK/worker-$1.log" | grep -v '^\s*at ' | tail -2 | tr '\n' ' ' | cut -c1-300; }

# finish: stop the worker (SIGTERM, 30 s) and the broker (rn_broker_stop), then exit.
finish() {
  local stopped=false
  if [[ -n "$WORKER_PID" ]]; then
    kill -TERM "$WORKER_PID" 2>/dev/null
    for _ in $(seq 1 300); do kill -0 "$WORKER_PID" 2>/dev/null || { stopped=true; break; }; sleep 0.1; done
    if $stopped; then pass worker.sigterm; else fail worker.sigterm "still running 30s after SIGTERM"; kill -9 "$WORKER_PID" 2>/dev/null; fi
    wait "$WORKER_PID" 2>/dev/null; WORKER_PID=
  fi
  if rn_broker_stop; then pass broker.sigterm_exit_0
  else fail broker.sigterm_exit_0 "no exit with status 0 within ${RN_STOP_SECS:-30}s of SIGTERM (see $RN_BROKER_LOG)"; fi
  exit 0
}

# 1. The first worker.
t0=$SECONDS
start_worker 1
if wait_worker 90; then
  pass worker.started
  info "worker 1 up in $((SECONDS - t0))s"
else
  fail worker.started "no REST answer within 90s: $(worker_tail 1)"
  finish
fi

# 2. The internal topics are compacted (Connect created them; ConfigCommand reads them back).
cfg=$(timeout 90 "$HERE/../kafka-tools.sh" run org.apache.kafka.tools.ConfigCommand --bootstrap-server "$RN_BOOTSTRAP" \
        --entity-type topics --describe 2>>"$RN_SUITE_LOG")
printf '%s\n' "$cfg" >>"$RN_SUITE_LOG"
bad=()
for t in runnel-connect-configs runnel-connect-offsets runnel-connect-status; do
  # "Dynamic configs for topic T are:" then indented KEY=VALUE lines
  policy=$(awk -v t="$t" '/^Dynamic configs for topic /{cur=$5} cur==t && $1 ~ /^cleanup.policy=/{split($1,a,"="); print a[2]}' <<<"$cfg")
  [[ $policy == compact ]] || bad+=("$t:cleanup.policy=${policy:-unset}")
done
if [[ ${#bad[@]} -eq 0 ]]; then pass internal_topics.compact
else fail internal_topics.compact "${bad[*]} (ConfigCommand --describe: $(tr '\n' ' ' <<<"$cfg" | cut -c1-200))"; fi

# 3. The connectors, and the writer that feeds in.txt while they run. The sink comes second,
# once the source has created the topic (3 partitions, topic.creation): a sink consumer that
# subscribed first would have the broker auto-create it with num.partitions (as Kafka does).
src=$(printf '{"name":"file-source","config":{"connector.class":"org.apache.kafka.connect.file.FileStreamSourceConnector","tasks.max":"1","file":"%s","topic":"%s","batch.size":"2000","topic.creation.default.partitions":"3","topic.creation.default.replication.factor":"1"}}' "$IN" "$TOPIC")
snk=$(printf '{"name":"file-sink","config":{"connector.class":"org.apache.kafka.connect.file.FileStreamSinkConnector","tasks.max":"1","file":"%s","topics":"%s"}}' "$OUT" "$TOPIC")
status() { rest GET "/connectors/$1/status" 2>&1 | cut -c1-200; }
if ! rest POST /connectors "$src" >>"$RN_SUITE_LOG" 2>&1 || ! wait_running 60 file-source; then
  fail connectors.running "file-source: $(status file-source); $(worker_tail 1)"
  finish
fi
# 100,000 lines in 100 chunks, one chunk each 0.1 s (bounded: 100 iterations).
python3 - "$IN" "$LINES" <<'EOF' &
import sys, time
path, total = sys.argv[1], int(sys.argv[2])
chunk = 1000
with open(path, "a") as f:
    for start in range(1, total + 1, chunk):
        f.write("".join(f"runnel-connect line {n:06d} of {total}\n" for n in range(start, min(start + chunk, total + 1))))
        f.flush()
        time.sleep(0.1)
EOF
WRITER_PID=$!
# The connector's active topics (KIP-558) name the topic once its task has written to it.
for _ in $(seq 1 60); do
  [[ $(rest GET /connectors/file-source/topics 2>/dev/null) == *"\"$TOPIC\""* ]] && break
  sleep 0.5
done
if rest POST /connectors "$snk" >>"$RN_SUITE_LOG" 2>&1 && wait_running 60 file-source file-sink; then
  pass connectors.running
else
  fail connectors.running "file-source: $(status file-source); file-sink: $(status file-sink); $(worker_tail 1)"
  finish
fi

# 4. SIGKILL the worker once out.txt holds KILL_AT lines (bounded: 90 s).
deadline=$((SECONDS + 90)) n=0
while ((SECONDS < deadline)); do
  n=$(out_lines)
  ((n >= KILL_AT)) && break
  kill -0 "$WORKER_PID" 2>/dev/null || break
  sleep 0.2
done
kill -9 "$WORKER_PID" 2>/dev/null; wait "$WORKER_PID" 2>/dev/null; WORKER_PID=
n=$(out_lines)
written=$(wc -l <"$IN") written_bytes=$(wc -c <"$IN")
info "worker 1 SIGKILLed with $n lines in out.txt, $written written to in.txt"
if ((n >= KILL_AT && n < LINES)); then pass worker.killed_midway
else fail worker.killed_midway "$n lines in out.txt at the kill (want $KILL_AT..$((LINES - 1))): $(worker_tail 1)"; fi

# 5. The second worker: same group and topics, the connectors come from the config topic.
t0=$SECONDS
start_worker 2
listed=
if wait_worker 90; then
  # the herder answers once it has joined and read the config topic; poll a little all the same
  for _ in $(seq 1 20); do
    listed=$(rest GET /connectors 2>&1)
    [[ $listed == *'"file-source"'* && $listed == *'"file-sink"'* ]] && break
    sleep 0.5
  done
fi
if [[ $listed == *'"file-source"'* && $listed == *'"file-sink"'* ]] && wait_running 60 file-source file-sink; then
  pass worker.restarted
  info "worker 2 running both connectors $((SECONDS - t0))s after its start"
else
  fail worker.restarted "connectors: ${listed:-no REST answer}; $(worker_tail 2)"
fi

# 6. Every input line reaches out.txt (bounded: 90 s after the restart).
wait "$WRITER_PID" 2>/dev/null; WRITER_PID=
check() {
  python3 - "$IN" "$OUT" <<'EOF'
import collections, os, sys
inp, out = sys.argv[1], sys.argv[2]
want = set(open(inp).read().splitlines())
got = collections.Counter(open(out).read().splitlines() if os.path.exists(out) else [])
missing = len(want - set(got))
dups = sum(c - 1 for line, c in got.items() if line in want)
foreign = sum(c for line, c in got.items() if line not in want)
print(len(want), missing, dups, foreign)
EOF
}
deadline=$((SECONDS + 90))
while ((SECONDS < deadline)); do
  read -r nin missing dups foreign < <(check)
  [[ $nin -eq $LINES && $missing -eq 0 ]] && break
  sleep 1
done
read -r nin missing dups foreign < <(check)
info "out.txt: $(out_lines) lines, $dups duplicates (at-least-once redelivery after the SIGKILL), $foreign not from in.txt, $missing missing"
if [[ $nin -eq $LINES && $missing -eq 0 ]]; then pass pipeline.no_line_lost
else fail pipeline.no_line_lost "$missing of $nin input lines never reached out.txt (out.txt: $(out_lines) lines)"; fi

# 7. Both tasks of worker 2 went on from what worker 1 had committed: the source from a file
# position read back from the offset topic, the sink from its group's committed offsets (not
# from the start: a lost commit would show here and as a duplicate count near 100,000).
pos=$(grep -oE 'Found previous offset, trying to skip to file offset [0-9]+' "$WORK/worker-2.log" | tail -1 | awk '{print $NF}')
if [[ ${pos:-0} -gt 0 && $pos -le $written_bytes ]]; then
  pass source.resumed_from_committed_offset
  info "source resumed at byte $pos of the $written_bytes written when worker 1 died"
else
  fail source.resumed_from_committed_offset "worker 2's source position: ${pos:-none logged} (in.txt had $written_bytes bytes at the kill)"
fi
committed=$(grep -oE "Setting offset for partition $TOPIC-[0-9]+ to the committed offset FetchPosition\{offset=[0-9]+" "$WORK/worker-2.log" \
              | sed -E 's/.*partition ([^ ]+) .*offset=([0-9]+)$/\1 \2/' | sort -u)
parts=$(awk 'END { print NR }' <<<"$committed") sum=$(awk '{ s += $2 } END { print s + 0 }' <<<"$committed")
if [[ -n $committed && $parts -eq 3 && $sum -gt 0 ]] && ! grep -q "Found no committed offset for partition $TOPIC" "$WORK/worker-2.log"; then
  pass sink.resumed_from_committed_offsets
  info "sink resumed at committed offsets summing to $sum ($n lines were in out.txt at the kill)"
else
  fail sink.resumed_from_committed_offsets "worker 2's sink positions: $(tr '\n' ' ' <<<"${committed:-none}")"
fi

# 8. The sink group's committed offsets reach the end of the topic (lag 0, bounded: 30 s).
lag=unknown
for _ in 1 2 3 4 5 6; do
  desc=$(timeout 60 "$HERE/../kafka-tools.sh" run org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
           --bootstrap-server "$RN_BOOTSTRAP" --describe --group connect-file-sink 2>>"$RN_SUITE_LOG")
  printf '%s\n' "$desc" >>"$RN_SUITE_LOG"
  # three partitions (Connect created the topic): the lag of each, summed
  lag=$(awk -v t=$TOPIC '$2 == t { parts++; if ($6 ~ /^[0-9]+$/) s += $6; else bad = 1 } END { if (parts != 3 || bad) print "unknown (" parts + 0 " partitions)"; else print s }' <<<"$desc")
  [[ $lag == 0 ]] && break
  sleep 3
done
if [[ $lag == 0 ]]; then pass sink.offsets_committed
else fail sink.offsets_committed "group connect-file-sink lag $lag: $(tr '\n' ' ' <<<"$desc" | cut -c1-300)"; fi

# 9. Clean stops.
finish
