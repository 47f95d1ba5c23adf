#!/usr/bin/env bash
# compat/tools.sh -- Kafka 4.4.0's own command-line tools against a running broker. Owns the
# "tools" suite of compat/run.sh.
#
#   compat/tools.sh BOOTSTRAP        (e.g. 127.0.0.1:9092; the broker must be running)
#
# Cases (each prints `PASS name` / `FAIL name: why`; last line `N passed, N failed`):
#   BrokerApiVersionsCommand; TopicCommand create / list / describe / --alter --partitions /
#   delete; ConfigCommand (kafka.admin.ConfigCommand in 4.3.1) alter, describe, describe --all
#   for a topic and a broker; ConsoleProducer -> ConsoleConsumer round trip (keys, 200 lines,
#   the consumer by --partition 0 --offset earliest, no consumer group needed); GetOffsetShell
#   (latest, earliest); ClientCompatibilityTest.
#
# ClientCompatibilityTest (tests/kafkatest client_compatibility_features_test.py's probe) needs
# no consumer group: its consumer uses assign + seekToBeginning without a group.id. Flags:
# all true but expect-record-too-large-exception (DescribeAcls is served; without an authorizer
# it answers SECURITY_DISABLED, which the test counts as supported, as against Kafka). It creates the topic "newtopic", so it
# runs against a broker where that topic does not exist yet (a fresh log dir per run).
# Each tool runs with a 90 s bound. Output of every command goes to stderr.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kafka-tools.sh
source "$HERE/kafka-tools.sh"
B=${1:?usage: compat/tools.sh BOOTSTRAP}
RUN=$(( $(date +%s%N) / 1000000 % 1000000000 ))
T=tools-$RUN C=console-$RUN CC=compat-$RUN
WORK=$(mktemp -d "${TMPDIR:-/tmp}/runnel-tools.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
passed=0 failed=0

# kt CLASS ARGS...: run a tool, output to $WORK/out (and stderr), bounded.
kt() { timeout 90 "$HERE/kafka-tools.sh" run "$@" >"$WORK/out" 2>"$WORK/err"; local rc=$?
       cat "$WORK/out" "$WORK/err" >&2; return $rc; }
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
# expect NAME PATTERN CLASS ARGS...: the tool exits 0 and its stdout matches the ERE PATTERN.
expect() {
  local name=$1 pat=$2; shift 2
  kt "$@"; local rc=$?
  if [[ $rc -ne 0 ]]; then
    fail "$name" "exit $rc: $(cat "$WORK/err" "$WORK/out" | grep -v '^\s*at ' | grep -E 'Exception|Error|error' | head -2 | tr '\n' ' ' | cut -c1-300)"
  elif [[ -n $pat ]] && ! grep -Eq -- "$pat" "$WORK/out"; then
    fail "$name" "output does not match /$pat/: $(head -c 300 "$WORK/out" | tr '\n' ' ')"
  else
    pass "$name"
  fi
}
TOPIC=org.apache.kafka.tools.TopicCommand
CONFIG=kafka.admin.ConfigCommand
for j in "$KT_LIB"/kafka-tools-*.jar; do   # ConfigCommand moves to tools in later releases
  # unzip matches the member itself: no pipe into `grep -q`, whose early exit made unzip die of
  # SIGPIPE now and then, which pipefail turned into "not found" (the suite then ran the old
  # class name and failed five cases).
  unzip -l "$j" org/apache/kafka/tools/ConfigCommand.class >/dev/null 2>&1 && CONFIG=org.apache.kafka.tools.ConfigCommand
done

expect apiversions 'Produce\(0\): 0 to [0-9]+' org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$B"
expect topics.create "Created topic $T" $TOPIC --bootstrap-server "$B" --create --topic "$T" --partitions 3 --replication-factor 1
expect topics.create.config "Created topic $C" $TOPIC --bootstrap-server "$B" --create --topic "$C" --partitions 1 --replication-factor 1 --config max.message.bytes=2000000
expect topics.list "^$T\$" $TOPIC --bootstrap-server "$B" --list
expect topics.describe "PartitionCount: 3" $TOPIC --bootstrap-server "$B" --describe --topic "$T"
expect topics.alter.partitions '' $TOPIC --bootstrap-server "$B" --alter --topic "$T" --partitions 5
expect topics.describe.after_alter "PartitionCount: 5" $TOPIC --bootstrap-server "$B" --describe --topic "$T"
expect configs.alter.topic "Completed updating config" $CONFIG --bootstrap-server "$B" --entity-type topics --entity-name "$T" --alter --add-config retention.ms=3600000,cleanup.policy=delete
expect configs.describe.topic "retention.ms=3600000" $CONFIG --bootstrap-server "$B" --entity-type topics --entity-name "$T" --describe
expect configs.describe.topic.all "segment.bytes=" $CONFIG --bootstrap-server "$B" --entity-type topics --entity-name "$T" --describe --all
expect configs.alter.delete "Completed updating config" $CONFIG --bootstrap-server "$B" --entity-type topics --entity-name "$T" --alter --delete-config retention.ms
expect configs.describe.broker.all "num.partitions=" $CONFIG --bootstrap-server "$B" --entity-type brokers --entity-name 1 --describe --all

# console round trip: 200 keyed lines in, the same 200 out (one partition keeps the order)
for i in $(seq 1 200); do echo "key$((i % 7)):value $i $(printf 'x%.0s' $(seq 1 $((i % 13))))"; done >"$WORK/in.txt"
if timeout 90 "$HERE/kafka-tools.sh" run org.apache.kafka.tools.ConsoleProducer \
     --bootstrap-server "$B" --topic "$C" --reader-property parse.key=true --reader-property key.separator=: \
     --command-property acks=all --command-property enable.idempotence=true \
     --command-property compression.type=lz4 <"$WORK/in.txt" >"$WORK/err" 2>&1; then
  pass console.produce
else
  fail console.produce "ConsoleProducer exit $?: $(grep -E 'Exception|ERROR' "$WORK/err" | head -2 | tr '\n' ' ' | cut -c1-300)"
fi
cat "$WORK/err" >&2
kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$B" --topic "$C" --partition 0 \
     --offset earliest --max-messages 200 --timeout-ms 20000 --formatter-property print.key=true --formatter-property key.separator=:
rc=$?
if [[ $rc -eq 0 ]]; then
  if diff -q "$WORK/in.txt" "$WORK/out" >/dev/null; then pass console.consume
  else fail console.consume "read $(wc -l <"$WORK/out") lines, differing from the 200 written: $(diff "$WORK/in.txt" "$WORK/out" | head -3 | tr '\n' ' ')"; fi
else
  fail console.consume "ConsoleConsumer exit $rc, read $(wc -l <"$WORK/out") lines: $(grep -E 'Exception|ERROR' "$WORK/err" | head -2 | tr '\n' ' ' | cut -c1-300)"
fi
expect getoffsets.latest "^$C:0:200\$" org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$B" --topic "$C" --time -1
expect getoffsets.earliest "^$C:0:0\$" org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$B" --topic "$C" --time -2
expect getoffsets.all_partitions "^$T:4:0\$" org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$B" --topic "$T"

if ! kt $TOPIC --bootstrap-server "$B" --delete --topic "$T"; then
  fail topics.delete "exit: $(cat "$WORK/out" "$WORK/err" | grep -E 'Exception|Error' | head -2 | tr '\n' ' ' | cut -c1-300)"
elif ! kt $TOPIC --bootstrap-server "$B" --list || grep -q "^$T\$" "$WORK/out"; then
  fail topics.delete "$T still listed after --delete (or --list failed)"
else
  pass topics.delete
fi

expect client_compatibility "SUCCESS" org.apache.kafka.tools.ClientCompatibilityTest --bootstrap-server "$B" \
  --topic "$CC" --num-cluster-nodes 1 --create-topics-supported true --offsets-for-times-supported true \
  --cluster-id-supported true --expect-record-too-large-exception false --describe-acls-supported true \
  --describe-configs-supported true --idempotent-producer-supported true

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
