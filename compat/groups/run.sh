#!/usr/bin/env bash
# compat/groups/run.sh -- consumer groups with real clients, both group protocols. Owns the
# "groups" suite of compat/run.sh (issue 5). Starts, SIGKILLs and restarts its own brokers.
#
#   compat/groups/run.sh RUNNEL_BIN WORK_DIR
#
# Cases (each prints `PASS name` / `FAIL name: why`):
#   java.{classic,consumer}.{no_two_owners,stable_covers_all,none_skipped}: GroupMembership.java
#     (3 members on a 6-partition topic, members added and removed while a producer writes);
#   librdkafka.*: compat/groups/groups.py (eager range, cooperative-sticky, static members
#     restarting within the session timeout without a rebalance);
#   tools.*: Kafka's ConsumerGroupCommand --list, --describe with lag, --describe of a live
#     KIP-848 group (--members), --reset-offsets --to-earliest --execute, --delete;
#   restart.*: offsets committed by a console consumer survive a broker SIGKILL and restart, and
#     the resumed group continues exactly from them.
# Brokers run with group.consumer.heartbeat.interval.ms=1000 and no initial rebalance delay so
# the suite stays within about 3 minutes.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
RUNNEL_BIN=${1:?usage: run.sh RUNNEL_BIN WORK_DIR}
WORK=${2:?usage: run.sh RUNNEL_BIN WORK_DIR}
mkdir -p "$WORK"
RN_SUITE_LOG="$WORK/cases.log"
OVERRIDES=(group.consumer.heartbeat.interval.ms=1000 group.initial.rebalance.delay.ms=0)
trap '[[ -n "${RN_PID:-}" ]] && kill -9 "$RN_PID" 2>/dev/null' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
kt() { timeout 90 "$HERE/../kafka-tools.sh" run "$@" 2>>"$RN_SUITE_LOG"; }
cg() { kt org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$RN_BOOTSTRAP" "$@"; }

rn_broker_start "$WORK/b1" "${OVERRIDES[@]}" || { fail broker_start "see $WORK/b1/broker.log"; exit 1; }

# 1. Java consumers, both protocols.
for protocol in classic consumer; do
  timeout 150 "$HERE/../kafka-tools.sh" run "$HERE/GroupMembership.java" "$protocol" "$RN_BOOTSTRAP" \
    2>>"$WORK/java-$protocol.err" | sed -n 's/^\(PASS\|FAIL\|INFO\) /\1 java./p'
done

# 2. librdkafka.
if [[ -x "$RN_PY" ]]; then
  timeout 150 "$RN_PY" "$HERE/groups.py" "$RN_BOOTSTRAP" 2>>"$WORK/librdkafka.err" | sed -n 's/^\(PASS\|FAIL\|INFO\) /\1 librdkafka./p'
else
  echo "SKIP librdkafka: no confluent-kafka venv"
fi

# 3. ConsumerGroupCommand.
T=cgtool G=cgtool-group
kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$RN_BOOTSTRAP" --create --topic $T --partitions 3 >/dev/null
seq 1 300 | kt org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$RN_BOOTSTRAP" --topic $T >/dev/null
kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$RN_BOOTSTRAP" --topic $T --group $G \
   --from-beginning --max-messages 100 --timeout-ms 30000 >/dev/null
out=$(cg --list)
grep -qx "$G" <<<"$out" && pass tools.list || fail tools.list "$G not in: $(tr '\n' ' ' <<<"$out")"
out=$(cg --describe --group $G)
lag=$(awk -v t=$T '$2 == t { s += $6 } END { print s + 0 }' <<<"$out")
[[ $lag -eq 200 ]] && pass tools.describe_lag || fail tools.describe_lag "total lag $lag, want 200: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
out=$(cg --reset-offsets --group $G --topic $T --to-earliest --execute)
out=$(cg --describe --group $G)
cur=$(awk -v t=$T '$2 == t { s += $4 } END { print s + 0 }' <<<"$out")
[[ $cur -eq 0 ]] && pass tools.reset_to_earliest || fail tools.reset_to_earliest "current offsets sum to $cur: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
# A live KIP-848 group, described while its member runs.
timeout 120 "$HERE/../kafka-tools.sh" run org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$RN_BOOTSTRAP" \
   --topic $T --group kip848-live --consumer-property group.protocol=consumer --from-beginning >/dev/null 2>>"$RN_SUITE_LOG" &
live=$!
ok=false
for _ in $(seq 1 15); do
  sleep 1
  out=$(cg --describe --group kip848-live --members)
  if grep -Eq '^kip848-live +[A-Za-z0-9_-]{22} .*console-consumer +3 *$' <<<"$out"; then ok=true; break; fi
done
$ok && pass tools.describe_kip848_group || fail tools.describe_kip848_group "$(tr '\n' ' ' <<<"$out" | cut -c1-300)"
out=$(cg --describe --group kip848-live --state)
grep -Eq 'kip848-live .*(Stable|Reconciling|Assigning)' <<<"$out" && pass tools.describe_kip848_state || fail tools.describe_kip848_state "$(tr '\n' ' ' <<<"$out" | cut -c1-300)"
kill "$live" 2>/dev/null; wait "$live" 2>/dev/null
out=$(cg --delete --group $G)
if grep -q "successful" <<<"$out" && ! cg --list | grep -x "$G" >/dev/null; then pass tools.delete; else fail tools.delete "$(tr '\n' ' ' <<<"$out" | cut -c1-300)"; fi

# 4. Offsets survive SIGKILL; the resumed group continues exactly from them.
R=resume
kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$RN_BOOTSTRAP" --create --topic $R --partitions 1 >/dev/null
seq 0 99 | kt org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$RN_BOOTSTRAP" --topic $R >/dev/null
kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$RN_BOOTSTRAP" --topic $R --group resume-group \
   --from-beginning --max-messages 40 --timeout-ms 30000 >"$WORK/first.txt"
kill -9 "$RN_PID"; wait "$RN_PID" 2>/dev/null; RN_PID=
rn_broker_start "$WORK/b1" "${OVERRIDES[@]}" || { fail restart.broker_start "see $WORK/b1/broker.log"; exit 1; }
out=$(cg --describe --group resume-group)
cur=$(awk -v t=$R '$2 == t { print $4 }' <<<"$out")
[[ $cur == 40 ]] && pass restart.committed_offset_survives_sigkill || fail restart.committed_offset_survives_sigkill "offset '$cur', want 40"
kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$RN_BOOTSTRAP" --topic $R --group resume-group \
   --max-messages 60 --timeout-ms 30000 >"$WORK/second.txt"
if [[ "$(cat "$WORK/first.txt" "$WORK/second.txt" | tr '\n' ' ')" == "$(seq 0 99 | tr '\n' ' ')" ]]; then
  pass restart.resumes_exactly
else
  fail restart.resumes_exactly "first: $(head -1 "$WORK/first.txt")..$(tail -1 "$WORK/first.txt"), second: $(head -1 "$WORK/second.txt")..$(tail -1 "$WORK/second.txt")"
fi
rn_broker_stop || fail broker.sigterm_exit_0 "no clean exit"
