#!/usr/bin/env bash
# compat/share/run.sh -- share groups (KIP-932) with real clients. Owns the "share" suite of
# compat/run.sh (issue 13). Starts its own broker with group.share.record.lock.duration.ms=5000
# (so a SIGKILLed consumer's records come back within seconds) and a 1 s share heartbeat.
#
#   compat/share/run.sh RUNNEL_BIN WORK_DIR
#
# Cases (each prints `PASS name` / `FAIL name: why`):
#   java.share.*: ShareGroups.java (KafkaShareConsumer 4.4.0: parallel, release, limit, lock,
#     admin; see its header);
#   tools.*: Kafka's kafka-share-groups (ShareGroupCommand) --list, --describe (offsets and
#     members), --reset-offsets --to-earliest --execute on the emptied group, --delete;
#   java.share.restart: 60 of 100 records accepted, the broker SIGKILLed and restarted, then
#     the 40 others come back and none of the 60 (ShareGroups.java restart1 / restart2);
#   cluster.share.failover: the same across a SIGKILL of the partition's leader in a three-node
#     cluster (cluster_failover.py).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
RUNNEL_BIN=${1:?usage: run.sh RUNNEL_BIN WORK_DIR}
WORK=${2:?usage: run.sh RUNNEL_BIN WORK_DIR}
mkdir -p "$WORK"
RN_SUITE_LOG="$WORK/cases.log"
OVERRIDES=(group.share.record.lock.duration.ms=5000 group.share.heartbeat.interval.ms=1000)
trap '[[ -n "${RN_PID:-}" ]] && kill -9 "$RN_PID" 2>/dev/null' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
kt() { timeout 90 "$HERE/../kafka-tools.sh" run "$@" 2>>"$RN_SUITE_LOG"; }
sg() { kt org.apache.kafka.tools.consumer.group.ShareGroupCommand --bootstrap-server "$RN_BOOTSTRAP" "$@"; }

rn_broker_start "$WORK/b1" "${OVERRIDES[@]}" || { fail broker_start "see $WORK/b1/broker.log"; exit 1; }

# 1. The Java share consumer.
timeout 400 "$HERE/../kafka-tools.sh" run "$HERE/ShareGroups.java" "$HERE/ShareGroups.java" "$RN_BOOTSTRAP" \
  2>>"$WORK/java.err" | sed -n 's/^\(PASS\|FAIL\|INFO\) /\1 java./p'

# 2. kafka-share-groups against a group that read 100 of 300 records.
T=sgtool G=sgtool-group
kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$RN_BOOTSTRAP" --create --topic $T --partitions 1 >/dev/null
kt org.apache.kafka.tools.ConfigCommand --bootstrap-server "$RN_BOOTSTRAP" --alter --entity-type groups \
   --entity-name $G --add-config share.auto.offset.reset=earliest >/dev/null
seq 1 300 | kt org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$RN_BOOTSTRAP" --topic $T >/dev/null
got=$(kt org.apache.kafka.tools.consumer.ConsoleShareConsumer --bootstrap-server "$RN_BOOTSTRAP" --topic $T \
   --group $G --max-messages 100 --timeout-ms 30000 | wc -l)
[[ $got -eq 100 ]] && pass tools.console_share_consumer || fail tools.console_share_consumer "read $got records, want 100"
out=$(sg --list)
grep -qx "$G" <<<"$out" && pass tools.list || fail tools.list "$G not in: $(tr '\n' ' ' <<<"$out")"
out=$(sg --describe --group $G)
echo "INFO tools.describe: $(tr -s ' \n' ' ' <<<"$out" | cut -c1-300)"
start=$(awk -v t=$T '$2 == t { print $4 }' <<<"$out" | head -1)
lag=$(awk -v t=$T '$2 == t { print $5 }' <<<"$out" | head -1)
if [[ "$start" =~ ^[0-9]+$ && $start -ge 100 && "$lag" =~ ^[0-9]+$ && $((start + lag)) -eq 300 ]]; then
  pass tools.describe_offsets
else
  fail tools.describe_offsets "start offset '$start' and lag '$lag' do not add up to 300: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
fi
out=$(sg --reset-offsets --group $G --topic $T --to-earliest --execute)
out2=$(sg --describe --group $G)
start=$(awk -v t=$T '$2 == t { print $4 }' <<<"$out2" | head -1)
[[ "$start" == 0 ]] && pass tools.reset_offsets || fail tools.reset_offsets "start offset '$start' after --to-earliest: $(tr '\n' ' ' <<<"$out $out2" | cut -c1-300)"
out=$(sg --delete --group $G 2>&1)
out2=$(sg --list)
grep -qx "$G" <<<"$out2" && fail tools.delete "$G still listed after --delete: $(tr '\n' ' ' <<<"$out" | cut -c1-200)" || pass tools.delete

# 3. Acknowledged state survives a SIGKILL of the broker (share state in __share_group_state).
RT=share-restart RG=share-restart-g
out=$(timeout 90 "$HERE/../kafka-tools.sh" run "$HERE/ShareGroups.java" restart1 "$RN_BOOTSTRAP" $RT $RG 2>>"$WORK/java.err")
if grep -q "^ACCEPTED 60" <<<"$out"; then
  kill -9 "$RN_PID"; wait "$RN_PID" 2>/dev/null; RN_PID=
  if rn_broker_restart "$WORK/b1" "${OVERRIDES[@]}"; then
    timeout 120 "$HERE/../kafka-tools.sh" run "$HERE/ShareGroups.java" restart2 "$RN_BOOTSTRAP" $RT $RG \
      2>>"$WORK/java.err" | sed -n 's/^\(PASS\|FAIL\|INFO\) /\1 java./p'
  else
    fail java.share.restart "the broker did not start again (see $WORK/b1/broker.log)"
  fi
else
  fail java.share.restart "the first consumer did not accept 60 records: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"
fi

rn_broker_stop || fail broker.sigterm_exit_0 "no exit with status 0 within 30 s of SIGTERM"

# 4. Three nodes: the partition's leader SIGKILLed after 60 of 100 records were accepted.
if [[ -x "$RN_PY" ]]; then
  timeout 320 "$RN_PY" "$HERE/cluster_failover.py" --runnel "$RUNNEL_BIN" --work "$WORK/cluster" \
    --tools "$HERE/../kafka-tools.sh" 2>>"$WORK/cluster.err" | grep -E '^(PASS|FAIL|INFO) '
else
  echo "SKIP cluster.share.failover: no Python venv"
fi
