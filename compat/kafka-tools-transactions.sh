#!/usr/bin/env bash
# compat/kafka-tools-transactions.sh -- Kafka 4.4.0's own kafka-transactions.sh
# (org.apache.kafka.tools.TransactionsCommand, from the jars compat/kafka-tools.sh installs)
# against a running broker. Owns the transaction cases of the "tools" suite of compat/run.sh.
#
#   compat/kafka-tools-transactions.sh BOOTSTRAP     (e.g. 127.0.0.1:9092; the broker must run)
#
# A small Java producer (written to a temp dir, run as a single-file source) opens a transaction
# of 5 records on partition 0 of a new topic (transaction.timeout.ms 300000), writes 3 plain
# records after it, and halts without committing or aborting: a transaction left open by a dead
# producer. Then, each printing `PASS txn_tools.name` / `FAIL txn_tools.name: why` (last line
# `N passed, N failed`):
#   list (the id is Ongoing), describe --transactional-id (Ongoing, the partition, the timeout;
#   an unknown id fails), describe-producers --topic --partition (the producer's
#   CurrentTransactionStartOffset is 0, LastSequence 4), a read_committed ConsoleConsumer gets
#   nothing (the open transaction holds the LSO at 0), find-hanging --broker-id and --topic
#   --partition --max-transaction-timeout 0 (the coordinator knows the transaction: not hanging),
#   abort --topic --partition --start-offset 0 (the tool writes the ABORT marker itself), then
#   describe-producers shows no open transaction, read_committed gets exactly the 3 plain
#   records, and a second abort fails (no open transaction at that offset).
# The broker id for find-hanging is the partition's leader from TopicCommand --describe.
# Each tool runs with a 90 s bound. Output of every command goes to stderr.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B=${1:?usage: compat/kafka-tools-transactions.sh BOOTSTRAP}
RUN=$(( $(date +%s%N) / 1000000 % 1000000000 ))
TOPIC=tools-txn-$RUN TXID=tools-txn-$RUN
WORK=$(mktemp -d "${TMPDIR:-/tmp}/runnel-tools-txn.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
passed=0 failed=0
TXN=org.apache.kafka.tools.TransactionsCommand

# kt CLASS ARGS...: run a tool, output to $WORK/out and $WORK/err (and both to stderr), bounded.
kt() { timeout 90 "$HERE/kafka-tools.sh" run "$@" >"$WORK/out" 2>"$WORK/err"; local rc=$?
       cat "$WORK/out" "$WORK/err" >&2; return $rc; }
pass() { passed=$((passed + 1)); echo "PASS txn_tools.$1"; }
fail() { failed=$((failed + 1)); echo "FAIL txn_tools.$1: $2"; }
errs() { cat "$WORK/err" "$WORK/out" | grep -v '^\s*at ' | grep -E 'Exception|Error|error|Failed|Could not' | head -2 | tr '\n' ' ' | cut -c1-300; }
flat() { head -c 400 "$WORK/out" | tr '\n\t' '  ' | tr -s ' '; }
# txn NAME CHECK ARGS...: run kafka-transactions with ARGS; it must exit 0 and CHECK (a shell
# function reading $WORK/out, printing why on failure) must succeed.
txn() {
  local name=$1 check=$2 rc; shift 2
  kt $TXN --bootstrap-server "$B" "$@"; rc=$?
  if [[ $rc -ne 0 ]]; then fail "$name" "exit status $rc: $(errs)"; return; fi
  # not in $(...): a check may set variables (check_list sets PID)
  if $check >"$WORK/why"; then pass "$name"; else fail "$name" "$(cat "$WORK/why"); output: $(flat)"; fi
}
# read_committed SECS: partition 0 from the beginning with isolation.level=read_committed for
# SECS seconds (ConsoleConsumer ends with a TimeoutException when no record comes: exit 0).
read_committed() {
  kt org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$B" --topic "$TOPIC" --partition 0 \
     --offset earliest --isolation-level read_committed --timeout-ms "$(($1 * 1000))"
}

cat >"$WORK/OpenTransaction.java" <<'EOF'
// A producer that opens a transaction, writes plain records after it and dies without ending it.
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import java.util.Properties;

public class OpenTransaction {
    public static void main(String[] args) throws Exception {
        Properties plainProps = new Properties();
        plainProps.put("bootstrap.servers", args[0]);
        plainProps.put("acks", "all");
        plainProps.put("max.block.ms", "30000");
        Properties txProps = (Properties) plainProps.clone();
        txProps.put("transactional.id", args[2]);
        txProps.put("transaction.timeout.ms", "300000");
        KafkaProducer<String, String> tx = new KafkaProducer<>(txProps, new StringSerializer(), new StringSerializer());
        tx.initTransactions();
        tx.beginTransaction();
        for (int i = 0; i < 5; i++) tx.send(new ProducerRecord<>(args[1], 0, "k", "open-" + i)).get();
        KafkaProducer<String, String> plain = new KafkaProducer<>(plainProps, new StringSerializer(), new StringSerializer());
        for (int i = 0; i < 3; i++) plain.send(new ProducerRecord<>(args[1], 0, "k", "after-" + i)).get();
        System.out.println("open transaction left at offset 0");
        System.out.flush();
        Runtime.getRuntime().halt(0);   // no commit, no abort, no close
    }
}
EOF

if kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --create --topic "$TOPIC" --partitions 1 --replication-factor 1 \
   && kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --describe --topic "$TOPIC"; then
  BROKER=$(grep -oE 'Leader: [0-9]+' "$WORK/out" | head -1 | awk '{print $2}')
fi
if [[ -z ${BROKER:-} ]]; then
  fail setup "could not create and describe topic $TOPIC: $(errs)"
elif ! kt "$WORK/OpenTransaction.java" "$B" "$TOPIC" "$TXID" || ! grep -q '^open transaction' "$WORK/out"; then
  fail setup "the producer did not leave an open transaction: $(errs)"
else
  pass setup
fi

PID=
check_list() {
  local row; row=$(awk -v t="$TXID" '$1 == t' "$WORK/out")
  [[ -n $row ]] || { echo "$TXID not listed"; return 1; }
  [[ $(awk '{print $4}' <<<"$row") == Ongoing ]] || { echo "state of $TXID: $row"; return 1; }
  PID=$(awk '{print $3}' <<<"$row")
}
txn list check_list list
[[ -n $PID ]] || PID=unknown

check_describe() {
  local row; row=$(awk -v t="$TXID" '$2 == t' "$WORK/out")
  [[ -n $row ]] || { echo "no row for $TXID"; return 1; }
  # CoordinatorId TransactionalId ProducerId ProducerEpoch TransactionState TransactionTimeoutMs
  # CurrentTransactionStartTimeMs TransactionDurationMs TopicPartitions
  awk -v pid="$PID" -v tp="$TOPIC-0" '$3 == pid && $5 == "Ongoing" && $6 == 300000 && $9 == tp {ok = 1} END {exit !ok}' <<<"$row" \
    || { echo "want ProducerId $PID, Ongoing, timeout 300000, partition $TOPIC-0"; return 1; }
}
txn describe check_describe describe --transactional-id "$TXID"

if kt $TXN --bootstrap-server "$B" describe --transactional-id "unknown-$TXID"; then
  fail describe.unknown_id "exit status 0 for an id that never existed: $(flat)"
elif ! grep -q 'could not be found' "$WORK/err"; then
  fail describe.unknown_id "no 'could not be found' (TRANSACTIONAL_ID_NOT_FOUND): $(errs)"
else
  pass describe.unknown_id
fi

# producer_row WANT_START: the transactional producer's row, CurrentTransactionStartOffset WANT_START.
producer_row() {
  # ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset
  local row; row=$(awk -v pid="$PID" '$1 == pid' "$WORK/out")
  [[ -n $row ]] || { echo "no row for producer $PID"; return 1; }
  awk -v s="$1" '$4 == 4 && $6 == s {ok = 1} END {exit !ok}' <<<"$row" \
    || { echo "producer $PID: want LastSequence 4, CurrentTransactionStartOffset $1"; return 1; }
  [[ $(awk 'NR > 1 && NF > 0' "$WORK/out" | wc -l) -eq 2 ]] || { echo "want 2 producers (the plain one too)"; return 1; }
}
check_producers_open() { producer_row 0; }
txn describe_producers check_producers_open describe-producers --topic "$TOPIC" --partition 0

if read_committed 5; then
  if [[ -s $WORK/out ]]; then fail read_committed.open "read_committed got $(wc -l <"$WORK/out") records past an open transaction at 0: $(flat)"
  else pass read_committed.open; fi
else
  fail read_committed.open "ConsoleConsumer exit status $?: $(errs)"
fi

check_not_hanging() {
  grep -qE '^Topic[[:space:]]+Partition[[:space:]]+ProducerId' "$WORK/out" || { echo "no table header"; return 1; }
  ! grep -q "^${TOPIC}[[:space:]]" "$WORK/out" || { echo "the open transaction (known to its coordinator) is reported hanging"; return 1; }
}
txn find_hanging.broker check_not_hanging find-hanging --broker-id "${BROKER:-1}"
txn find_hanging.partition check_not_hanging find-hanging --topic "$TOPIC" --partition 0 --max-transaction-timeout 0

check_quiet() { return 0; }
txn abort check_quiet abort --topic "$TOPIC" --partition 0 --start-offset 0

check_producers_closed() { producer_row None; }
txn describe_producers.after_abort check_producers_closed describe-producers --topic "$TOPIC" --partition 0

if read_committed 10; then
  printf 'after-%s\n' 0 1 2 >"$WORK/want"
  if diff -q "$WORK/want" "$WORK/out" >/dev/null; then pass read_committed.after_abort
  else fail read_committed.after_abort "read_committed got [$(flat)], want only the 3 plain records after the aborted ones"; fi
else
  fail read_committed.after_abort "ConsoleConsumer exit status $?: $(errs)"
fi

if kt $TXN --bootstrap-server "$B" abort --topic "$TOPIC" --partition 0 --start-offset 0; then
  fail abort.again "a second abort at offset 0 exited 0"
elif ! grep -q 'Could not find any open transactions starting at offset 0' "$WORK/err" "$WORK/out"; then
  fail abort.again "not the tool's 'no open transaction' answer: $(errs)"
else
  pass abort.again
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
