"""compat/faults/txn_workload.py -- the fault harness's transactional workload (exactly-once).

Owns: topics `txn-in` and `txn-out` (3 partitions, replication factor 3, min.insync.replicas 2),
three client threads and the final reads that txn_checker.py checks:

  producer  transactional.id `faults-txn-producer`: transactions of K=4 records "txn-<n>-<i>"
            over the three partitions of txn-in; every 5th one is flushed (the records reach the
            log) and then aborted on purpose. Each transaction's outcome is logged: committed
            (commit_transaction returned), aborted (abort_transaction returned, or the
            transaction ended before commit_transaction was called), unknown (the commit call
            failed: a fatal error or retries exhausted). Error handling as confluent-kafka
            documents it: retriable -> call again, txn_requires_abort -> abort_transaction,
            fatal -> a new producer with the same transactional.id (init_transactions fences the
            old one and ends its transaction).
  copier    consume-transform-produce: a read_committed consumer of txn-in (group
            `faults-txn-copier`, partitions assigned at the group's committed offsets), a
            transactional producer (`faults-txn-copier`) writing "<input>|c<c>|<size>" to the
            same partition of txn-out with send_offsets_to_transaction, then commit. After an
            abort, an unknown outcome or a new producer it rewinds to the committed offsets.
  observer  a read_committed consumer of both topics from their start, logging every record
            with the time it arrived (for G1b and the offsets checks).

Every call is bounded (timeouts, a bounded number of retries); threads stop on `stop_*` events.
"""
import json
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

IN = "txn-in"
OUT = "txn-out"
PARTITIONS = 3
K = 4
ABORT_EVERY = 5
PRODUCER_ID = "faults-txn-producer"
COPIER_ID = "faults-txn-copier"
GROUP = "faults-txn-copier"
CALL_TIMEOUT = 20
RETRIES = 10


class Fatal(Exception):
    """The producer must be replaced (fatal error, or retries exhausted)."""


def classify(e):
    err = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
    if err is None:
        return "fatal", str(e)
    if err.fatal():
        return "fatal", err.str()
    if err.txn_requires_abort():
        return "abort", err.str()
    if err.retriable():
        return "retry", err.str()
    return "other", err.str()


def retrying(what, fn, log):
    """Calls fn until it succeeds; retriable errors are retried (bounded); others raise the
    KafkaException back."""
    for attempt in range(RETRIES):
        try:
            return fn()
        except KafkaException as e:
            kind, text = classify(e)
            if kind != "retry":
                raise
            log(f"txn: {what}: retriable ({text}), attempt {attempt + 1}")
            time.sleep(0.5)
    raise Fatal(f"{what}: still retriable after {RETRIES} attempts")


def create_topics(admin, bound=60):
    end = time.time() + bound
    pending = [IN, OUT]
    while pending and time.time() < end:
        futures = admin.create_topics([NewTopic(t, PARTITIONS, 3, config={"min.insync.replicas": "2"})
                                       for t in pending], request_timeout=10)
        for t, f in futures.items():
            try:
                f.result(timeout=15)
                pending.remove(t)
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" in str(e):
                    pending.remove(t)
        if pending:
            time.sleep(0.5)
    if pending:
        raise RuntimeError(f"could not create {pending}")


class TxnWorkload:
    def __init__(self, bootstrap, log, work):
        self.bootstrap = bootstrap
        self.log = log
        self.work = work
        # Re-entrant: a replaced producer may be freed by the cyclic garbage collector on
        # whichever thread allocates next, perhaps one inside `with self.lock`, and freeing it
        # serves its pending delivery reports there.
        self.lock = threading.RLock()
        self.stop_producing = threading.Event()
        self.stop_copying = threading.Event()
        self.stop_all = threading.Event()
        self.in_txns = {}
        self.out_txns = {}
        self.observed = []      # (topic, p, o, value, time)
        self.reads = []         # (topic, p, o, value): the copier's reads
        self.errors = {"producer": [], "copier": []}   # (time, where, text) of every failed call
        self.sessions = {"producer": 0, "copier": 0}
        self.next_c = 0
        self.copier_last_activity = time.time()
        self.copier_polled_at = 0.0
        self.threads = [threading.Thread(target=f, daemon=True, name=f.__name__)
                        for f in (self.produce, self.copy, self.observe)]

    def start(self):
        for t in self.threads:
            t.start()

    def note(self, who, where, e):
        text = f"{classify(e)[0]}: {classify(e)[1]}" if isinstance(e, KafkaException) else str(e)
        with self.lock:
            self.errors[who].append((time.time(), where, text))
        self.log(f"txn {who}: {where}: {text}")

    def producer_config(self, txid):
        return {
            "bootstrap.servers": self.bootstrap,
            "transactional.id": txid,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "transaction.timeout.ms": 30000,
            "message.timeout.ms": 25000,
            "request.timeout.ms": 10000,
            "socket.timeout.ms": 10000,
            "metadata.max.age.ms": 5000,
            "topic.metadata.refresh.interval.ms": 1000,
        }

    def new_producer(self, who, txid):
        self.sessions[who] += 1
        producer = Producer(self.producer_config(txid))
        retrying(f"{who} init_transactions", lambda: producer.init_transactions(CALL_TIMEOUT), self.log)
        return producer

    # -- the input producer ---------------------------------------------------------------
    def produce(self):
        n = 0
        while not self.stop_producing.is_set():
            try:
                producer = self.new_producer("producer", PRODUCER_ID)
            except (KafkaException, Fatal) as e:
                self.note("producer", "init_transactions", e)
                time.sleep(1)
                continue
            try:
                while not self.stop_producing.is_set():
                    self.one_input_txn(producer, n)
                    n += 1
                    time.sleep(0.02)
            except (KafkaException, Fatal) as e:
                self.note("producer", f"transaction {n}", e)
                n += 1
                time.sleep(0.5)
        self.close_out("producer", PRODUCER_ID)
        self.log(f"txn producer: stopped after {n} transactions")

    def close_out(self, who, txid):
        """A last init_transactions with the same transactional.id: a transaction left open by
        a producer that failed is aborted now, not at its timeout (the final read_committed read
        stops at the last stable offset)."""
        for _ in range(3):
            try:
                self.new_producer(who, txid)
                return
            except (KafkaException, Fatal) as e:
                self.note(who, "closing init_transactions", e)
                time.sleep(1)

    def one_input_txn(self, producer, n):
        values = [f"txn-{n}-{i}" for i in range(K)]
        txn = {"values": values, "outcome": "aborted", "commit_at": None, "acked": {}}
        with self.lock:
            self.in_txns[n] = txn

        def delivered(err, msg):
            # No lock: one dict store is atomic, and a callback that waits for a lock can
            # stall the thread freeing an old producer (seen: every thread blocked on it).
            if err is None:
                txn["acked"][msg.value().decode()] = (msg.partition(), msg.offset())

        producer.begin_transaction()
        try:
            for i, v in enumerate(values):
                producer.produce(IN, value=v.encode(), partition=(n + i) % PARTITIONS, on_delivery=delivered)
            producer.flush(CALL_TIMEOUT)
            if n % ABORT_EVERY == ABORT_EVERY - 1:
                self.abort(producer, "producer")
                return
            txn["commit_at"] = time.time()
            txn["outcome"] = "unknown"
            self.commit(producer, "producer")
            txn["outcome"] = "committed"
        except KafkaException as e:
            if classify(e)[0] != "abort":
                raise
            self.note("producer", f"transaction {n} (aborting)", e)
            self.abort(producer, "producer")
            txn["outcome"] = "aborted"

    def commit(self, producer, who):
        retrying(f"{who} commit_transaction", lambda: producer.commit_transaction(CALL_TIMEOUT), self.log)

    def abort(self, producer, who):
        retrying(f"{who} abort_transaction", lambda: producer.abort_transaction(CALL_TIMEOUT), self.log)

    # -- the copier -----------------------------------------------------------------------
    def rewind(self, consumer):
        """Assigns every input partition at the group's committed offset (read_committed)."""
        parts = [TopicPartition(IN, p) for p in range(PARTITIONS)]
        committed = retrying("copier committed", lambda: consumer.committed(parts, timeout=CALL_TIMEOUT), self.log)
        for tp in committed:
            if tp.error is not None:
                raise Fatal(f"committed offset of {IN}-{tp.partition}: {tp.error}")
            if tp.offset < 0:
                tp.offset = OFFSET_BEGINNING
        consumer.assign(committed)
        self.log("txn copier: at " + " ".join(f"{IN}-{tp.partition}@{tp.offset}" for tp in committed))

    def copy(self):
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": GROUP,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 1000,
        })
        try:
            while not self.stop_copying.is_set():
                try:
                    producer = self.new_producer("copier", COPIER_ID)
                    self.rewind(consumer)
                except (KafkaException, Fatal) as e:
                    self.note("copier", "init_transactions/rewind", e)
                    time.sleep(1)
                    continue
                try:
                    while not self.stop_copying.is_set():
                        if not self.one_copy_txn(producer, consumer):
                            self.rewind(consumer)
                except (KafkaException, Fatal) as e:
                    self.note("copier", "transaction", e)
                    time.sleep(0.5)
        finally:
            consumer.close()
        self.close_out("copier", COPIER_ID)

    def one_copy_txn(self, producer, consumer):
        """One consume-transform-produce transaction; False when it aborted (rewind)."""
        msgs = [m for m in consumer.consume(200, 0.3) if m.error() is None]
        self.copier_polled_at = time.time()
        if not msgs:
            return True
        with self.lock:
            self.copier_last_activity = time.time()
            for m in msgs:
                self.reads.append((IN, m.partition(), m.offset(), m.value().decode()))
            c = self.next_c
            self.next_c += 1
        values = [f"{m.value().decode()}|c{c}|{len(msgs)}" for m in msgs]
        txn = {"values": values, "outcome": "aborted", "commit_at": None}
        with self.lock:
            self.out_txns[c] = txn
        offsets = {}
        for m in msgs:
            offsets[m.partition()] = max(offsets.get(m.partition(), 0), m.offset() + 1)
        producer.begin_transaction()
        try:
            for m, v in zip(msgs, values):
                producer.produce(OUT, value=v.encode(), partition=m.partition())
            retrying("copier send_offsets_to_transaction", lambda: producer.send_offsets_to_transaction(
                [TopicPartition(IN, p, o) for p, o in sorted(offsets.items())],
                consumer.consumer_group_metadata(), CALL_TIMEOUT), self.log)
            txn["commit_at"] = time.time()
            txn["outcome"] = "unknown"
            self.commit(producer, "copier")
            txn["outcome"] = "committed"
            with self.lock:
                self.copier_last_activity = time.time()
            return True
        except KafkaException as e:
            if classify(e)[0] != "abort":
                raise
            self.note("copier", f"transaction c{c} (aborting)", e)
            self.abort(producer, "copier")
            txn["outcome"] = "aborted"
            return False

    # -- the observer ---------------------------------------------------------------------
    def observe(self):
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": "faults-txn-observer",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 1000,
        })
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in (IN, OUT) for p in range(PARTITIONS)])
        while not self.stop_all.is_set():
            for m in consumer.consume(500, 0.2):
                if m.error() is None:
                    now = time.time()
                    with self.lock:
                        self.observed.append((m.topic(), m.partition(), m.offset(), m.value().decode(), now))
        consumer.close()

    # -- the end --------------------------------------------------------------------------
    def wait_copied(self, bound):
        """After the producer stopped: until the copier has copied every record it can see
        (idle 5 s with nothing consumed while polling), bounded. Returns whether it went idle."""
        end = time.time() + bound
        while time.time() < end:
            with self.lock:
                idle = time.time() - self.copier_last_activity
            if idle > 5 and time.time() - self.copier_polled_at < 2:
                return True
            time.sleep(0.5)
        return False

    def final_read(self, isolation, bound=120):
        """Every record of both topics, from the start to the end (partition EOF)."""
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": f"faults-txn-final-{isolation}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        })
        parts = [(t, p) for t in (IN, OUT) for p in range(PARTITIONS)]
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in parts])
        records, eof = [], set()
        end = time.time() + bound
        while len(eof) < len(parts) and time.time() < end:
            for m in consumer.consume(1000, 0.5):
                if m.error() is None:
                    records.append((m.topic(), m.partition(), m.offset(), m.value().decode()))
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add((m.topic(), m.partition()))
        consumer.close()
        return records, len(eof) == len(parts)

    def save(self, path):
        """The history, for a post-mortem (txn-history.json beside the node logs)."""
        with self.lock:
            history = {"in_txns": self.in_txns, "out_txns": self.out_txns, "errors": self.errors,
                       "sessions": self.sessions}
            with open(path, "w") as f:
                json.dump(history, f, default=str)


def find_coordinator(address, key, key_type=1, timeout=5):
    """FindCoordinator v1 (key type 1: a transactional id) to one node, by hand (confluent-kafka
    has no call for it). Returns (error code, node id)."""
    import socket
    import struct

    def string(s):
        b = s.encode()
        return struct.pack(">h", len(b)) + b

    body = struct.pack(">hhi", 10, 1, 1) + string("faults-harness") + string(key) + struct.pack(">b", key_type)
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)

        def exactly(n):
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    raise OSError("connection closed")
                data += chunk
            return data

        size = struct.unpack(">i", exactly(4))[0]
        resp = exactly(size)
    # correlation id, throttle time, error code, error message (nullable), node id, host, port
    _, _, error = struct.unpack(">iih", resp[:10])
    msg_len = struct.unpack(">h", resp[10:12])[0]
    pos = 12 + max(msg_len, 0)
    node = struct.unpack(">i", resp[pos:pos + 4])[0]
    return error, node
