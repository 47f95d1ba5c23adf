#!/usr/bin/env bash
# compat/compaction.sh -- log compaction seen through Kafka 4.4.0's own tools and Java consumer.
# Owns the "compaction" suite of compat/run.sh.
#
#   compat/compaction.sh RUNNEL_BIN WORKDIR
#
# Starts its own broker (a 200 ms cleaner backoff), then: creates a topic with the delete
# policy and segments that roll every 100 ms (Kafka 4's tools refuse segment.bytes below
# 1 MiB); ConsoleProducer writes 3,000 keyed lines (100 keys, 30 versions
# each); kafka-log-dirs reports its size; ConfigCommand --alter --add-config
# cleanup.policy=compact (and min.cleanable.dirty.ratio) on the live topic, --describe shows it;
# kafka-log-dirs shows the size shrink once the cleaner ran; ConsoleConsumer (the Java
# consumer) reads the topic from the earliest offset through the gaps compaction left and sees
# the latest value of every key, and far fewer lines than were written. Each tool runs with a
# 90 s bound; the broker is stopped with SIGTERM (a non-zero exit fails a case).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
RUNNEL_BIN=${1:?usage: compat/compaction.sh RUNNEL_BIN WORKDIR}
WORK=${2:?usage: compat/compaction.sh RUNNEL_BIN WORKDIR}
rm -rf "$WORK"; mkdir -p "$WORK"
trap 'if [[ -n "${RN_PID:-}" ]]; then kill -9 "$RN_PID" 2>/dev/null; fi' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
kt() { timeout 90 "$HERE/kafka-tools.sh" run "$@" >"$WORK/out" 2>"$WORK/err"; local rc=$?
       cat "$WORK/out" "$WORK/err" >&2; return $rc; }
CONFIG=kafka.admin.ConfigCommand
for j in "$KT_LIB"/kafka-tools-*.jar; do
  unzip -l "$j" org/apache/kafka/tools/ConfigCommand.class >/dev/null 2>&1 && CONFIG=org.apache.kafka.tools.ConfigCommand
done

if ! rn_broker_start "$WORK/broker" log.cleaner.backoff.ms=200; then
  echo "FAIL compaction.broker_start: see $WORK/broker/broker.log"; exit 1
fi
B=$RN_BOOTSTRAP T=compacted-$RANDOM

# size_of: the topic's partition size in bytes from kafka-log-dirs' JSON answer.
size_of() {
  kt org.apache.kafka.tools.LogDirsCommand --bootstrap-server "$B" --describe --topic-list "$T" || return 1
  grep '^{' "$WORK/out" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(sum(p["size"] for b in doc["brokers"] for d in b["logDirs"] for p in d["partitions"]))'
}

if kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --create --topic "$T" --partitions 1 \
     --replication-factor 1 --config segment.ms=100; then pass topic.create
else fail topic.create "exit: $(grep -E 'Exception|Error' "$WORK/err" | head -2 | tr '\n' ' ' | cut -c1-300)"; fi

for v in $(seq 1 30); do
  for k in $(seq 1 100); do echo "key$k:value $v of key $k $(printf 'x%.0s' $(seq 1 40))"; done
done >"$WORK/in.txt"
if timeout 90 "$HERE/kafka-tools.sh" run org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$B" \
     --topic "$T" --reader-property parse.key=true --reader-property key.separator=: \
     --command-property acks=all <"$WORK/in.txt" >"$WORK/err" 2>&1; then pass console.produce
else fail console.produce "exit: $(grep -E 'Exception|ERROR' "$WORK/err" | head -2 | tr '\n' ' ' | cut -c1-300)"; fi

# One more record a little later rolls the segment the burst above ended in, so every record
# of the burst lies in a closed segment the cleaner may compact.
sleep 1
echo "key0:tail" | timeout 90 "$HERE/kafka-tools.sh" run org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$B" \
     --topic "$T" --reader-property parse.key=true --reader-property key.separator=: >>"$WORK/err" 2>&1

before=$(size_of) || before=
if [[ -n $before && $before -gt 100000 ]]; then pass log_dirs.size; echo "INFO size before compaction: $before bytes"
else fail log_dirs.size "kafka-log-dirs gave '${before}' bytes for 3,000 records"; fi

if kt $CONFIG --bootstrap-server "$B" --entity-type topics --entity-name "$T" --alter \
     --add-config cleanup.policy=compact,min.cleanable.dirty.ratio=0.01 && grep -q "Completed updating config" "$WORK/out"; then
  pass configs.alter.compact
else fail configs.alter.compact "$(grep -E 'Exception|Error' "$WORK/err" "$WORK/out" | head -2 | tr '\n' ' ' | cut -c1-300)"; fi
if kt $CONFIG --bootstrap-server "$B" --entity-type topics --entity-name "$T" --describe && grep -Eq "cleanup.policy=compact" "$WORK/out"; then
  pass configs.describe.compact
else fail configs.describe.compact "$(head -c 300 "$WORK/out" | tr '\n' ' ')"; fi

after=$before
for _ in $(seq 1 30); do
  sleep 2
  after=$(size_of) || continue
  [[ -n $before && -n $after && $after -lt $((before / 3)) ]] && break
done
if [[ -n $before && -n $after && $after -lt $((before / 3)) ]]; then
  pass log_dirs.shrink; echo "INFO size after compaction: $after bytes (from $before)"
else fail log_dirs.shrink "size ${after} bytes after 60 s, from ${before}"; fi

kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$B" --topic "$T" --partition 0 \
   --offset earliest --timeout-ms 15000 --formatter-property print.key=true --formatter-property key.separator=:
lines=$(wc -l <"$WORK/out")
# The last line of each key is its latest value (version 30), and compaction left few lines.
missing=$(python3 - "$WORK/out" <<'EOF'
import sys
latest = {}
for line in open(sys.argv[1]):
    key, _, value = line.rstrip("\n").partition(":")
    latest[key] = value
bad = [k for k in (f"key{i}" for i in range(1, 101)) if not latest.get(k, "").startswith(f"value 30 of key {k[3:]} ")]
print(len(bad))
EOF
)
if [[ $missing -eq 0 && $lines -lt 400 ]]; then
  pass consume.latest_values; echo "INFO Java consumer read $lines lines of the 3000 written"
else fail consume.latest_values "$missing keys without their latest value; $lines lines read"; fi

if rn_broker_stop; then pass broker.sigterm_exit_0
else fail broker.sigterm_exit_0 "no clean exit after SIGTERM (see $WORK/broker/broker.log)"; fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
