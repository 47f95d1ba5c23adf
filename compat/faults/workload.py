"""compat/faults/workload.py -- the harness's idempotent workload and its log.

`Workload`: the idempotent acks=all producer (librdkafka) writing unique values to the topic
`faults` at a bounded rate, the consumer reading every partition continuously, and the metadata
watcher that logs every ISR change; what they saw is what checker.py judges. `Log`: the
timestamped `harness.log` every part of the harness writes to. Split out of harness.py, which
runs the cycles and the checks.
"""
import logging
import os
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

TOPIC = "faults"
PARTITIONS = 3


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.RLock()   # see TxnWorkload.lock

    def __call__(self, text):
        with self.lock:
            self.f.write(f"{time.strftime('%H:%M:%S')} {text}\n")


class Workload:
    """The producer, the continuous consumer and the ISR watcher."""

    def __init__(self, bootstrap, rate, log, work):
        self.bootstrap = bootstrap
        self.rate = rate
        self.log = log
        self.stop_producing = threading.Event()
        self.stop_all = threading.Event()
        self.lock = threading.RLock()   # see TxnWorkload.lock
        self.acked = []          # (partition, offset, value, ack time)
        self.failed = []         # (value, error, time)
        self.observed = []       # (partition, offset, value)
        self.observed_last = {}  # partition -> last offset seen
        self.sent = 0
        self.fatal = []          # fatal producer errors
        self.next_seq = 0        # the next value to produce (unique across producers)
        self.isr_changes = {"shrink": 0, "expand": 0}
        self.producer_debug = os.environ.get("RUNNEL_FAULTS_PRODUCER_DEBUG")
        self.debug_logger = None
        if self.producer_debug:
            self.debug_logger = logging.getLogger("producer")
            handler = logging.FileHandler(os.path.join(work, "producer-debug.log"))
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            self.debug_logger.addHandler(handler)
            self.debug_logger.setLevel(logging.DEBUG)
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self.produce, self.consume, self.watch)]

    def start(self):
        for t in self.threads:
            t.start()

    def produce(self):
        """Produces until told to stop. A fatal producer error (librdkafka gives up on an
        idempotent producer) is recorded and reported, and a new producer takes over, as an
        application would, so every fault still runs under traffic."""
        start = time.time()
        while not self.stop_producing.is_set():
            try:
                self.produce_with_one_producer(start)
            except KafkaException as e:
                with self.lock:
                    self.fatal.append(str(e))
                self.log(f"producer: fatal error, starting a new producer: {e}")
        self.sent = self.next_seq

    def produce_with_one_producer(self, start):
        config = {
            "bootstrap.servers": self.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "delivery.timeout.ms": 120000,
            "request.timeout.ms": 10000,
            "queue.buffering.max.messages": 200000,
            "metadata.max.age.ms": 5000,
            "topic.metadata.refresh.interval.ms": 1000,
        }
        if self.producer_debug:
            # librdkafka's own trace (e.g. RUNNEL_FAULTS_PRODUCER_DEBUG=eos,msg,protocol), to
            # <work>/producer-debug.log: what the producer sent and was answered, per batch.
            config["debug"] = self.producer_debug
            config["logger"] = self.debug_logger
        producer = Producer(config)

        def delivered(err, msg):
            now = time.time()
            value = msg.value().decode()
            with self.lock:
                if err is None:
                    self.acked.append((msg.partition(), msg.offset(), value, now))
                else:
                    self.failed.append((value, err.name(), now))

        while not self.stop_producing.is_set():
            due = int((time.time() - start) * self.rate)
            while self.next_seq < due:
                seq = self.next_seq
                try:
                    producer.produce(TOPIC, value=str(seq).encode(), partition=seq % PARTITIONS,
                                     on_delivery=delivered)
                    self.next_seq += 1
                except BufferError:
                    break
            producer.poll(0.01)
        remaining = producer.flush(120)
        if remaining:
            self.log(f"producer: {remaining} messages undelivered at the end")

    def consume(self):
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": "faults-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 1000,
        })
        consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        while not self.stop_all.is_set():
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            with self.lock:
                p, o = msg.partition(), msg.offset()
                if self.observed_last.get(p, -1) >= o:
                    self.log(f"consumer: {TOPIC}-{p} offset {o} after {self.observed_last[p]}")
                self.observed_last[p] = o
                self.observed.append((p, o, msg.value().decode()))
        consumer.close()

    def watch(self):
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        last = {}
        while not self.stop_all.is_set():
            try:
                md = admin.list_topics(TOPIC, timeout=2)
                for p, pm in md.topics[TOPIC].partitions.items():
                    isr = sorted(pm.isrs)
                    if p in last and last[p] != isr:
                        kind = "shrink" if len(isr) < len(last[p]) else "expand"
                        with self.lock:
                            self.isr_changes[kind] += 1
                        self.log(f"ISR {TOPIC}-{p}: {last[p]} -> {isr} (leader {pm.leader})")
                    last[p] = isr
            except Exception as e:  # noqa: BLE001 -- a failed poll is retried
                self.log(f"watch: {e}")
            time.sleep(0.5)

    def acked_since(self, t, partitions=None):
        with self.lock:
            return [a for a in self.acked if a[3] >= t and (partitions is None or a[0] in partitions)]
