"""compat/librdkafka/transactions.py -- exactly-once (transactions) with librdkafka (PyPI
confluent-kafka) against a running broker, addressed by its bootstrap address only
(broker-agnostic: the same run passes on Apache Kafka 4.4.0). Owns the transaction cases of the
"librdkafka" suite of compat/run.sh.

Usage: python transactions.py BOOTSTRAP
Every check is a named case printing `PASS txn.name` or `FAIL txn.name: reason` (and `INFO`
lines with what the broker answered, e.g. the error the fenced producer got); the last line is
`N passed, N failed`; exit status 1 when any case failed.

Cases: init_transactions + commit (read_committed sees every record once), abort (read_committed
sees none, read_uncommitted sees the records and no control records), commit/abort/commit across
partitions, an open transaction holding read_committed at its first offset (list_offsets with
IsolationLevel.READ_COMMITTED is that LSO), fencing by a second producer with the same
transactional.id, a producer SIGKILLed mid-transaction aborted by the transaction timeout, and
consume-transform-produce in a read_committed group with
send_offsets_to_transaction (group offsets visible only after the commit, unchanged by an
abort, exactly-once output). Topic and transactional-id names carry a per-run suffix; every wait
is bounded.
"""
import sys
import time
import traceback

import confluent_kafka
from confluent_kafka import (OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, IsolationLevel,
                             KafkaError, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

P = 3  # partitions of the multi-partition topics
RUN = str(int(time.time() * 1000) % 1_000_000_000)
T = 30  # seconds, bound of each transactional call and admin call

results = {"passed": 0, "failed": 0}

# The child of the killed-producer case: opens a transaction (5 s timeout), sends 5 records,
# says "sent" and waits to be SIGKILLed.
KILLED_PRODUCER = """
import sys, time
from confluent_kafka import Producer
bootstrap, topic, txid = sys.argv[1:4]
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txid, "transaction.timeout.ms": 5000})
p.init_transactions(30)
p.begin_transaction()
for i in range(5):
    p.produce(topic, value=f"killed-{i}", partition=0)
p.flush(30)
print("sent", flush=True)
time.sleep(120)
"""


def case(name):
    def wrap(fn):
        t0 = time.time()
        try:
            fn()
            results["passed"] += 1
            print(f"PASS txn.{name}", flush=True)
        except Exception as e:  # noqa: BLE001 -- every failure is reported as the case's
            results["failed"] += 1
            msg = str(e).replace("\n", " ")
            print(f"FAIL txn.{name}: {type(e).__name__}: {msg}", flush=True)
            traceback.print_exc(file=sys.stderr)
        print(f"[txn] {name} took {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
        return fn
    return wrap


def require(ok, what):
    if not ok:
        raise AssertionError(what)


def wait_for(secs, cond):
    deadline = time.time() + secs
    while True:
        if cond():
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.2)


def main():
    bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
    print(f"# librdkafka {confluent_kafka.libversion()[0]}, confluent-kafka {confluent_kafka.__version__}",
          flush=True)
    base = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000}
    admin = AdminClient(dict(base))

    def producer(txid=None):
        conf = {**base, "acks": "all", "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 30000}
        if txid:
            conf["transactional.id"] = txid
        return Producer(conf)

    def consumer(isolation, group=None):
        return Consumer({**base, "group.id": group or f"rdk-txn-unused-{RUN}", "isolation.level": isolation,
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "auto.offset.reset": "earliest", "enable.partition.eof": True,
                         "fetch.wait.max.ms": 100})

    def create(topic, parts):
        admin.create_topics([NewTopic(topic, parts, 1)], request_timeout=T)[topic].result(T)

    def send_each(p, topic, parts, prefix, count):
        """count records to each partition (values prefix-pN-i), flushed; raises on a failed delivery."""
        sent, errors = [], []
        for i in range(count):
            for part in range(parts):
                v = f"{prefix}-p{part}-{i}"
                p.produce(topic, key=f"k{i}", value=v, partition=part,
                          on_delivery=lambda e, m: e and errors.append(e))
                sent.append(v)
        left = p.flush(T)
        if errors:
            raise KafkaException(errors[0])
        require(left == 0, f"{left} records not delivered within {T} s")
        return sent

    def by_partition(values):
        out = {}
        for v in values:
            out.setdefault(int(v.rsplit("-p", 1)[1].split("-")[0]), []).append(v)
        return out

    def end_offsets(topic, parts, level):
        req = {TopicPartition(topic, i): OffsetSpec.latest() for i in range(parts)}
        res = admin.list_offsets(req, isolation_level=level, request_timeout=T)
        return {tp.partition: f.result(T).offset for tp, f in res.items()}

    def read(topic, parts, isolation, secs=30):
        """Reads from the beginning until every partition reports EOF; [(partition, offset, value)]."""
        c = consumer(isolation)
        try:
            c.assign([TopicPartition(topic, i, OFFSET_BEGINNING) for i in range(parts)])
            out, eof, deadline = [], set(), time.time() + secs
            while len(eof) < parts:
                require(time.time() < deadline, f"{isolation} read of {topic}: EOF on {sorted(eof)} only after {secs} s")
                for m in c.consume(num_messages=500, timeout=0.5):
                    if m.error():
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            eof.add(m.partition())
                            continue
                        raise KafkaException(m.error())
                    eof.discard(m.partition())
                    out.append((m.partition(), m.offset(), m.value().decode()))
            return out
        finally:
            c.close()

    def values(recs):
        return [v for _, _, v in recs]

    @case("init_commit")
    def _():
        topic = f"rdk-txn-commit-{RUN}"
        create(topic, P)
        p = producer(f"rdk-txn-commit-{RUN}")
        p.init_transactions(T)
        p.begin_transaction()
        sent = send_each(p, topic, P, "c", 10)
        p.commit_transaction(T)
        got = read(topic, P, "read_committed")
        require(by_partition(values(got)) == by_partition(sent), f"read_committed got {by_partition(values(got))}")
        require(all(o < 10 for _, o, _ in got), f"offsets {[o for _, o, _ in got]}")
        for level in (IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED):
            ends = end_offsets(topic, P, level)
            require(ends == {i: 11 for i in range(P)}, f"{level} end offsets {ends}, wanted 11 each (10 + the marker)")

    @case("abort")
    def _():
        topic = f"rdk-txn-abort-{RUN}"
        create(topic, P)
        p = producer(f"rdk-txn-abort-{RUN}")
        p.init_transactions(T)
        p.begin_transaction()
        sent = send_each(p, topic, P, "a", 10)
        p.abort_transaction(T)
        got = read(topic, P, "read_committed")
        require(got == [], f"read_committed got {len(got)} aborted records")
        allrecs = read(topic, P, "read_uncommitted")
        require(by_partition(values(allrecs)) == by_partition(sent), f"read_uncommitted got {by_partition(values(allrecs))}")
        require(sorted(o for _, o, _ in allrecs) == sorted(list(range(10)) * P),
                f"read_uncommitted offsets {sorted(o for _, o, _ in allrecs)}: a control record surfaced?")
        ends = end_offsets(topic, P, IsolationLevel.READ_COMMITTED)
        require(ends == {i: 11 for i in range(P)}, f"read_committed end offsets {ends} after the abort, wanted 11 each")

    @case("commit_abort_commit")
    def _():
        topic = f"rdk-txn-mixed-{RUN}"
        create(topic, P)
        p = producer(f"rdk-txn-mixed-{RUN}")
        p.init_transactions(T)
        p.begin_transaction()
        one = send_each(p, topic, 2, "one", 3)  # partitions 0 and 1
        p.commit_transaction(T)
        p.begin_transaction()
        send_each(p, topic, P, "two", 3)
        p.abort_transaction(T)
        p.begin_transaction()
        three = send_each(p, topic, P, "three", 2)
        p.commit_transaction(T)
        got = by_partition(values(read(topic, P, "read_committed")))
        want = by_partition(one + three)
        require(got == want, f"read_committed got {got}, wanted {want}")

    @case("read_committed.open_transaction")
    def _():
        topic = f"rdk-txn-lso-{RUN}"
        create(topic, 1)
        plain, tx = producer(), producer(f"rdk-txn-lso-{RUN}")
        before = send_each(plain, topic, 1, "before", 3)  # offsets 0-2
        tx.init_transactions(T)
        tx.begin_transaction()
        opened = send_each(tx, topic, 1, "open", 3)      # 3-5, open
        after = send_each(plain, topic, 1, "after", 3)   # 6-8
        lso = end_offsets(topic, 1, IsolationLevel.READ_COMMITTED)
        hw = end_offsets(topic, 1, IsolationLevel.READ_UNCOMMITTED)
        require(lso == {0: 3} and hw == {0: 9}, f"open transaction at 3: read_committed end {lso} (want 3), "
                                                f"read_uncommitted {hw} (want 9)")
        c = consumer("read_committed")
        try:
            c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
            got, deadline = [], time.time() + 4  # a while: nothing past offset 3 may come
            while time.time() < deadline:
                for m in c.consume(num_messages=100, timeout=0.3):
                    if not m.error():
                        require(m.offset() < 3, f"read_committed got offset {m.offset()} past the LSO 3")
                        got.append(m.value().decode())
            require(got == before, f"read_committed before the commit got {got}, wanted {before}")
            tx.commit_transaction(T)
            rest, deadline = [], time.time() + 15
            while len(rest) < 6 and time.time() < deadline:
                for m in c.consume(num_messages=100, timeout=0.3):
                    if not m.error():
                        rest.append(m.value().decode())
            require(rest == opened + after, f"read_committed after the commit got {rest}, wanted {opened + after}")
        finally:
            c.close()

    @case("killed_producer_aborted_by_timeout")
    def _():
        # A producer SIGKILLed mid-transaction never ends it: the coordinator aborts it once
        # transaction.timeout.ms passes (Kafka checks every 10 s), the LSO moves past it and
        # read_committed never sees its records.
        import signal
        import subprocess
        topic = f"rdk-txn-killed-{RUN}"
        create(topic, 1)
        child = subprocess.Popen([sys.executable, "-c", KILLED_PRODUCER, bootstrap, topic, f"rdk-txn-killed-{RUN}"],
                                 stdout=subprocess.PIPE, text=True)
        try:
            line = child.stdout.readline().strip()
            require(line == "sent", f"the child producer did not send its records: {line!r}")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(T)
        held = end_offsets(topic, 1, IsolationLevel.READ_COMMITTED)[0]
        end = end_offsets(topic, 1, IsolationLevel.READ_UNCOMMITTED)[0]
        require((held, end) == (0, 5), f"read_committed end {held}, read_uncommitted end {end}: want 0 and 5")
        require(wait_for(60, lambda: end_offsets(topic, 1, IsolationLevel.READ_COMMITTED)[0] == 6),
                "the killed producer's transaction was not aborted within 60 s (timeout 5 s)")
        seen = values(read(topic, 1, "read_committed"))
        require(seen == [], f"read_committed saw the killed producer's records: {seen}")

    @case("fencing")
    def _():
        topic, txid = f"rdk-txn-fence-{RUN}", f"rdk-txn-fence-{RUN}"
        create(topic, P)
        first = producer(txid)
        first.init_transactions(T)
        first.begin_transaction()
        send_each(first, topic, P, "first", 2)
        second = producer(txid)
        second.init_transactions(T)  # aborts the first producer's transaction and fences it
        err = None
        try:
            send_each(first, topic, 1, "late", 1)
            first.commit_transaction(T)
        except KafkaException as e:
            err = e.args[0]
        require(err is not None, "the fenced producer's produce and commit succeeded")
        print(f"INFO txn.fencing: the fenced producer got {err.name()} (fatal={err.fatal()}): {err.str()}", flush=True)
        fenced_codes = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
        require(err.code() in fenced_codes, f"the fenced producer got {err.name()}, wanted _FENCED, PRODUCER_FENCED "
                                            f"or INVALID_PRODUCER_EPOCH: {err.str()}")
        second.begin_transaction()
        sent2 = send_each(second, topic, P, "second", 2)
        second.commit_transaction(T)
        got = by_partition(values(read(topic, P, "read_committed")))
        require(got == by_partition(sent2), f"read_committed got {got}, wanted only the second producer's")

    @case("consume_transform_produce")
    def _():
        src, dst, group = f"rdk-txn-ctp-in-{RUN}", f"rdk-txn-ctp-out-{RUN}", f"rdk-txn-ctp-{RUN}"
        create(src, P)
        create(dst, P)
        seed, tx = producer(), producer(f"rdk-txn-ctp-{RUN}")
        inputs = send_each(seed, src, P, "in1", 5)
        tx.init_transactions(T)
        c = consumer("read_committed", group)

        def group_offsets():
            r = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=T)
            tps = r[group].result(T).topic_partitions or []
            return {tp.partition: tp.offset for tp in tps if tp.topic == src and tp.offset >= 0}

        def round_(n):
            """Consumes n records, sends outputs and offsets in a new transaction, left open."""
            got, deadline = [], time.time() + 40
            while len(got) < n and time.time() < deadline:
                for m in c.consume(num_messages=n - len(got), timeout=0.5):
                    if m.error():
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            continue
                        raise KafkaException(m.error())
                    got.append(m)
            require(len(got) == n, f"consumed {len(got)} records, wanted {n}")
            tx.begin_transaction()
            nxt = {}
            for m in got:
                tx.produce(dst, key=m.key(), value=b"out:" + m.value(), partition=m.partition())
                nxt[m.partition()] = max(nxt.get(m.partition(), 0), m.offset() + 1)
            tx.send_offsets_to_transaction([TopicPartition(src, part, off) for part, off in nxt.items()],
                                           c.consumer_group_metadata(), T)
            require(tx.flush(T) == 0, "outputs not delivered")

        try:
            c.subscribe([src])
            round_(15)
            require(group_offsets() == {}, f"group offsets before the first commit: {group_offsets()}")
            tx.commit_transaction(T)
            five = {i: 5 for i in range(P)}
            require(wait_for(10, lambda: group_offsets() == five), f"group offsets after the commit: {group_offsets()}")
            inputs += send_each(seed, src, P, "in2", 5)
            round_(15)
            require(group_offsets() == five, f"group offsets with the transaction open: {group_offsets()}")
            tx.abort_transaction(T)
            time.sleep(1)
            require(group_offsets() == five, f"group offsets after the abort: {group_offsets()}")
            for tp in c.committed(c.assignment(), timeout=T):  # rewind to the committed offsets
                c.seek(tp)
            round_(15)
            tx.commit_transaction(T)
            ten = {i: 10 for i in range(P)}
            require(wait_for(10, lambda: group_offsets() == ten), f"group offsets after the second commit: {group_offsets()}")
        finally:
            c.close()
        out = values(read(dst, P, "read_committed"))
        want = ["out:" + v for v in inputs]
        require(sorted(out) == sorted(want), f"output has {len(out)} records ({len(set(out))} distinct), wanted {len(want)}")

    print(f"{results['passed']} passed, {results['failed']} failed", flush=True)
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
