#!/usr/bin/env bash
# compat/cli/run.sh -- the `runnel` client subcommands against a Runnel broker AND a reference
# Apache Kafka 4.4.0 broker (KRaft, from the Maven jars: compat/kafka-tools.sh). Owns the "cli"
# suite of compat/run.sh.
#
#   compat/cli/run.sh RUNNEL_BIN WORKDIR
#
# Starts its own brokers on free 127.0.0.1 ports (runnel serve with a fresh log dir; Kafka with
# kt_broker_start) and runs the same round trips against each, with RUNNEL_BIN as the client:
#   cluster; topic create / list / describe / alter-config; produce (keys, headers, lz4) and
#   consume --from-beginning --max-messages --format json (every record back, in the partition
#   Kafka's murmur2 partitioner picks); consume --group (KIP-848) then group list / describe
#   (lag 0), reset-offsets --to-earliest (lag = records), group delete; topic delete; an unknown
#   topic (UNKNOWN_TOPIC_OR_PARTITION, exit 1); bench produce of $BENCH_RECORDS 100-byte records into
#   a 3-partition topic and bench consume of as many (--format json: counts, bytes, latency
#   percentiles), the topic's end offsets summing to the records produced with every partition
#   written (group reset-offsets --to-latest --dry-run), the text report, and bench produce to an
#   unknown topic (UNKNOWN_TOPIC_OR_PARTITION, exit 1). Once, without a broker: bad arguments
#   (bench's too) exit 2.
# Cases print `PASS target.name` / `FAIL target.name: why`. Command output goes to
# WORKDIR/<target>.log; broker logs stay in WORKDIR.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
source "$HERE/../common.sh"
RUNNEL_BIN=${1:?usage: compat/cli/run.sh RUNNEL_BIN WORKDIR}
WORK=${2:?usage: compat/cli/run.sh RUNNEL_BIN WORKDIR}
RECORDS=50
BENCH_RECORDS=20000
rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
KAFKA_DIR="$WORK/kafka"
cleanup() {
  rn_broker_stop 2>/dev/null
  [[ -f "$KAFKA_DIR/broker.pid" ]] && kt_broker_stop "$KAFKA_DIR" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# rc TARGET ARGS...: run the client against TARGET's broker; stdout in $OUT, stderr in $ERR.
rc() {
  local target=$1; shift
  timeout 60 "$RUNNEL_BIN" "$@" --bootstrap-server "$B" >"$WORK/out" 2>"$WORK/err" <"${STDIN:-/dev/null}"
  local status=$?
  OUT=$(cat "$WORK/out"); ERR=$(cat "$WORK/err")
  { echo "\$ runnel $* (exit $status)"; cat "$WORK/out" "$WORK/err"; } >>"$WORK/$target.log"
  return $status
}
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2" | cut -c1-400; }
# check NAME CONDITION-COMMAND...: PASS when it succeeds, else FAIL with the last output.
check() {
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name" "$(printf '%s %s' "$OUT" "$ERR" | tr '\n' ' ')"; fi
}
has() { grep -Eq -- "$1" <<<"$OUT"; }

# lag_sum TOPIC: sum of the LAG column of `group describe` in $OUT ("-" counts as a failure).
lag_sum() {
  awk -v t="$1" '$1 == t && NF >= 5 { if ($5 == "-") bad = 1; s += $5; n++ }
                 END { if (bad || n == 0) print "none"; else print s }' <<<"$OUT"
}

# report_is OP RECORDS: $OUT is one JSON report of OP with RECORDS records of 100 bytes, and
# latency percentiles in order.
report_is() {
  python3 - "$1" "$2" "$OUT" <<'EOF'
import json, sys
op, records, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = json.loads(out)
assert r["operation"] == op and r["records"] == records, r
assert r["bytes"] == records * 100 and r["seconds"] > 0 and r["requests"] > 0, r
l = r["latency_ms"]
assert 0 <= l["p50"] <= l["p90"] <= l["p99"] <= l["p99_9"] <= l["max"], l
EOF
}

# end_offsets_are TOPIC PARTITIONS RECORDS: in $OUT (group reset-offsets --dry-run), TOPIC has
# PARTITIONS rows whose NEW-OFFSET sum to RECORDS, none of them 0.
end_offsets_are() {
  awk -v t="$1" -v parts="$2" -v records="$3" '$2 == t { n++; s += $4; if ($4 == 0) empty++ }
    END { exit !(n == parts && s == records && !empty) }' <<<"$OUT"
}

# text_report_is RECORDS: $OUT is bench's text report of RECORDS records.
text_report_is() {
  grep -Eq "^  records +$1\$" <<<"$OUT" && grep -Eq '^  MB/s +[0-9.]+$' <<<"$OUT" \
    && grep -Eq '^  latency ms +p50 [0-9.]+  p90 [0-9.]+  p99 [0-9.]+  p99\.9 [0-9.]+  max [0-9.]+' <<<"$OUT"
}

# bench_cases TARGET: runnel bench produce and consume through a 3-partition topic.
bench_cases() {
  local t=$1 topic=cli-bench
  rc "$t" topic create "$topic" --partitions 3; check "$t.bench.topic" has "^Created topic $topic\.$"
  rc "$t" bench produce "$topic" --num-records "$BENCH_RECORDS" --record-size 100 --format json
  check "$t.bench.produce.json" report_is produce "$BENCH_RECORDS"
  rc "$t" bench consume "$topic" --num-records "$BENCH_RECORDS" --format json
  check "$t.bench.consume.json" report_is consume "$BENCH_RECORDS"
  # What a reset to the latest would commit: the end offsets, which round-robin batches spread
  # over every partition.
  rc "$t" group reset-offsets cli-bench-probe --topic "$topic" --to-latest --dry-run
  check "$t.bench.end_offsets" end_offsets_are "$topic" 3 "$BENCH_RECORDS"
  # The text report; small batches, one request in flight at a time, acks=1.
  rc "$t" bench produce "$topic" --num-records 1000 --batch-size 1000 --max-in-flight 1 --acks 1
  check "$t.bench.produce.text" text_report_is 1000
  rc "$t" bench produce cli-bench-missing --num-records 10
  check "$t.bench.unknown_topic" bash -c '[[ $1 -eq 1 && $2 == *UNKNOWN_TOPIC_OR_PARTITION* ]]' _ $? "$ERR"
  rc "$t" topic delete "$topic"
}

# round_trips TARGET: every case against the broker at $B.
round_trips() {
  local t=$1 topic=cli-orders group=cli-group
  rc "$t" cluster; check "$t.cluster" has "^  1 +127\.0\.0\.1:${B##*:}"
  rc "$t" topic create "$topic" --partitions 3 --config retention.ms=3600000
  check "$t.topic.create" has "^Created topic $topic\.$"
  rc "$t" topic list; check "$t.topic.list" has "^$topic\$"
  rc "$t" topic alter-config "$topic" --config segment.bytes=1048576
  check "$t.topic.alter_config" has "^Updated the configs of topic $topic\.$"
  rc "$t" topic describe "$topic"
  check "$t.topic.describe" bash -c '
    grep -q "PartitionCount: 3" <<<"$1" && grep -q "retention.ms=3600000" <<<"$1" \
      && grep -q "segment.bytes=1048576" <<<"$1" && [[ $(grep -c "Leader: 1" <<<"$1") -eq 3 ]]' _ "$OUT"

  seq 1 "$RECORDS" | awk '{ print "key-" $1 ":value " $1 }' >"$WORK/in.txt"
  STDIN="$WORK/in.txt" rc "$t" produce "$topic" --key-separator : --header source=compat \
      --header n=1 --compression lz4
  check "$t.produce" test $? -eq 0
  rc "$t" consume "$topic" --from-beginning --max-messages "$RECORDS" --format json
  printf '%s\n' "$OUT" >"$WORK/$t.json"
  check "$t.consume.json" python3 "$WORK/check_json.py" "$WORK/in.txt" "$WORK/$t.json"
  # Kafka's own partitioner placed the same keys in the same partitions on both brokers.
  rc "$t" consume "$topic" --from-beginning --max-messages "$RECORDS" --format '{key} {partition}'
  sort <<<"$OUT" >"$WORK/$t.placement"
  check "$t.consume.template" test "$(wc -l <"$WORK/$t.placement")" -eq "$RECORDS"

  rc "$t" consume "$topic" --group "$group" --from-beginning --max-messages "$RECORDS"
  check "$t.consume.group" test "$(grep -c '^value ' <<<"$OUT")" -eq "$RECORDS"
  rc "$t" group list; check "$t.group.list" has "^$group +consumer +Empty"
  rc "$t" group describe "$group"; check "$t.group.describe.lag0" test "$(lag_sum "$topic")" = 0
  rc "$t" group reset-offsets "$group" --topic "$topic" --to-earliest
  check "$t.group.reset_offsets" has "^$group +$topic +0 +0"
  rc "$t" group describe "$group"
  check "$t.group.describe.lag_all" test "$(lag_sum "$topic")" = "$RECORDS"
  rc "$t" group delete "$group"; check "$t.group.delete" has "^Deleted group $group\.$"
  bench_cases "$t"
  rc "$t" topic delete "$topic"; check "$t.topic.delete" has "^Deleted topic $topic\.$"
  # Deletion settles asynchronously in Kafka: ask until the topic is gone (bounded).
  local i
  for ((i = 0; i < 20; i++)); do rc "$t" topic describe "$topic" && sleep 0.5 || break; done
  rc "$t" consume "$topic" --max-messages 1
  check "$t.unknown_topic" bash -c '[[ $1 -eq 1 && $2 == *UNKNOWN_TOPIC_OR_PARTITION* ]]' _ $? "$ERR"
}

# check_json.py EXPECTED JSON_LINES: every produced record came back once, headers and all.
cat >"$WORK/check_json.py" <<'EOF'
import json, sys
expected = dict(line.rstrip("\n").split(":", 1) for line in open(sys.argv[1]))
got = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    assert r["headers"] == [{"key": "source", "value": "compat"}, {"key": "n", "value": "1"}], r
    assert r["topic"] == "cli-orders" and r["timestamp"] > 0, r
    assert r["key"] not in got, "a record twice: " + line
    got[r["key"]] = r["value"]
assert got == expected, "records differ"
EOF

# bad arguments: clap's usage or reason, exit 2 (no broker needed).
bad=0
for args in "topic create t" "consume t --bogus" "consume t --format {nope}" \
            "consume t --group g --offset 3" "group reset-offsets g --topic t" "produce t --compression brotli" \
            "bench produce t --acks 2" "bench produce t --throughput 0" "bench consume t --num-records 0" \
            "bench produce t --max-in-flight 101" "bench"; do
  # shellcheck disable=SC2086
  "$RUNNEL_BIN" $args >/dev/null 2>&1; [[ $? -eq 2 ]] || { bad=1; fail cli.bad_arguments "runnel $args did not exit 2"; }
done
[[ $bad -eq 0 ]] && pass cli.bad_arguments

# Runnel
if rn_broker_start "$WORK/runnel" http.listeners= offsets.topic.num.partitions=3; then
  B=$RN_BOOTSTRAP
  round_trips runnel
  rn_broker_stop || fail runnel.broker.sigterm_exit_0 "no clean exit after SIGTERM"
else
  fail runnel.broker_start "see $WORK/runnel/broker.log"
fi

# Apache Kafka 4.4.0
kport=$(rn_free_port) && cport=$(rn_free_port)
if KT_BROKER_PORT=$kport KT_CONTROLLER_PORT=$cport KT_NUM_PARTITIONS=1 kt_broker_start "$KAFKA_DIR" >/dev/null; then
  B=127.0.0.1:$kport
  # The port opens before the broker serves clients: wait for an answer.
  for ((i = 0; i < 60; i++)); do rc kafka cluster && break; sleep 0.5; done
  round_trips kafka
  kt_broker_stop "$KAFKA_DIR"
  if [[ -f "$WORK/runnel.placement" && -f "$WORK/kafka.placement" ]]; then
    if cmp -s "$WORK/runnel.placement" "$WORK/kafka.placement"; then pass cli.same_partitions
    else fail cli.same_partitions "keys landed in other partitions on runnel than on kafka"; fi
  fi
else
  fail kafka.broker_start "see $KAFKA_DIR/broker.log"
fi
