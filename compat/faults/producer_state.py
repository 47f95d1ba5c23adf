"""compat/faults/producer_state.py -- F25: an idempotent producer's state across segment deletion
and leader changes (Redpanda #5355).

The broker keeps, per partition, each producer's last sequence numbers; it is how a retried
batch is recognised as a duplicate and a gap as out of order. That state is rebuilt from the log
(snapshots plus a replay) on every replica that restarts. Once DeleteRecords (or retention) has
removed every batch a producer wrote, a replica rebuilt afterwards cannot find the producer in
its log; if it then leads, the producer's next batch (sequence far from 0) must still be
accepted (Kafka accepts a producer it does not know, KIP-360) and retries must not be written
twice. Redpanda lost exactly this (OUT_OF_ORDER_SEQUENCE after a leader change).

Each cycle, on a topic of its own (`f25`: one partition, three replicas, min ISR 2, 32 KiB
segments), with its own idempotent acks=all producer (librdkafka) writing unique values all
along: DeleteRecords to the high watermark (every batch the producer wrote so far goes), each
follower SIGKILLed and restarted in turn (rebuilt from a log without the producer) and caught up,
then the leader SIGKILLed so that a rebuilt follower leads, restarted. The producer writes for
2 s more. Checks: the producer reported no error (a fatal idempotence error, an
OUT_OF_ORDER_SEQUENCE, a failed delivery), every write acknowledged at or above the log start
offset is read back once at its offset, no value is stored twice, the log start is still at or
past what DeleteRecords answered (deleted records stay deleted after the leader change: they
came back before followers took the leader's log start), and the partition healed to a full
ISR.
"""
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

TOPIC = "f25"
RATE = 200  # records a second


class Writer:
    """The cycle's idempotent producer, in a thread of its own, bounded by `seconds_max`."""

    def __init__(self, bootstrap, prefix, seconds_max):
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
            "linger.ms": 5, "request.timeout.ms": 10000, "delivery.timeout.ms": 60000,
            # Batches well under the topic's segment size (a larger one is refused, as by Kafka).
            "batch.size": 8192,
        })
        self.prefix, self.deadline = prefix, time.time() + seconds_max
        self.acked, self.errors, self.sent = [], [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def delivered(self, err, msg):
        if err is not None:
            self.errors.append(f"{err.name()}: {err.str()}"[:300])
        else:
            self.acked.append((msg.offset(), msg.value().decode()))

    def run(self):
        while not self.stop.is_set() and time.time() < self.deadline:
            try:
                self.producer.produce(TOPIC, f"{self.prefix}-{self.sent}".encode(), partition=0,
                                      on_delivery=self.delivered)
                self.sent += 1
            except BufferError:
                pass
            self.producer.poll(1.0 / RATE)
        self.producer.flush(60)

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=90)


def ensure_topic(h):
    if getattr(h, "f25_topic", False):
        return
    futures = h.admin.create_topics([NewTopic(TOPIC, 1, 3, config={
        "min.insync.replicas": "2", "segment.bytes": "32768"})], request_timeout=10)
    try:
        futures[TOPIC].result(timeout=15)
    except KafkaException as e:
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            raise
    h.f25_topic = True


def state(h):
    """(leader, isr) of f25-0, or (None, []) while unknown."""
    try:
        md = h.admin.list_topics(TOPIC, timeout=5)
        pm = md.topics[TOPIC].partitions.get(0)
        return (pm.leader, sorted(pm.isrs)) if pm else (None, [])
    except KafkaException:
        return None, []


def wait_full_isr(h, bound=60):
    end = time.time() + bound
    while time.time() < end:
        leader, isr = state(h)
        if h.cluster.registered() and leader is not None and leader >= 1 and len(isr) == 3:
            return leader
        time.sleep(0.3)
    return None


def watermarks(bootstrap):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "f25-check"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    finally:
        consumer.close()


def read_back(bootstrap):
    """(log start, every (offset, value) from it to the high watermark)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "f25-check",
                         "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
        consumer.assign([TopicPartition(TOPIC, 0, low)])
        records, end = [], time.time() + 60
        while time.time() < end and (not records or records[-1][0] < high - 1) and high > low:
            msg = consumer.poll(1)
            if msg is not None and not msg.error():
                records.append((msg.offset(), msg.value().decode()))
        return low, high, records
    finally:
        consumer.close()


def f25(h, rng, k, variant):
    c = h.cluster
    ensure_topic(h)
    leader = wait_full_isr(h)
    if leader is None:
        h.say("FAIL", "F25: f25-0 has no full ISR before the cycle")
        return False
    writer = Writer(c.bootstrap(), f"f25-{k}", seconds_max=150)
    writer.thread.start()
    time.sleep(3)
    problems = []
    _, high = watermarks(c.bootstrap())
    try:
        result = h.admin.delete_records([TopicPartition(TOPIC, 0, high)], request_timeout=15)
        deleted_to = list(result.values())[0].result(timeout=20).low_watermark
    except KafkaException as e:
        deleted_to = None
        problems.append(f"DeleteRecords to {high} failed: {e}")
    h.log(f"F25: DeleteRecords f25-0 to {high}: log start {deleted_to}")
    for follower in [i for i in c.ids if i != leader]:
        c.kill(follower)
        time.sleep(1)
        c.start(follower)
        if wait_full_isr(h) is None:
            problems.append(f"f25-0 no full ISR after node {follower}'s restart")
    leader_now = state(h)[0] or leader
    c.kill(leader_now)
    time.sleep(h.session_timeout_s + 1.5)
    new_leader, end = state(h)[0], time.time() + 15
    while new_leader in (None, leader_now) and time.time() < end:
        time.sleep(0.3)
        new_leader = state(h)[0]
    c.start(leader_now)
    if wait_full_isr(h) is None:
        problems.append(f"f25-0 no full ISR after node {leader_now}'s restart")
    time.sleep(2)
    writer.finish()
    low, high, records = read_back(c.bootstrap())
    at = dict(records)
    values = [v for _, v in records]
    duplicates = len(values) - len(set(values))
    kept = [(o, v) for o, v in writer.acked if o >= low]
    lost = [(o, v) for o, v in kept if at.get(o) != v]
    h.note("F25", f"DeleteRecords to {deleted_to}, followers restarted, leader {leader_now} killed "
                  f"(new leader {new_leader}): {writer.sent} sent, {len(writer.acked)} acknowledged, "
                  f"{len(kept)} of them at or above the log start {low}, {len(records)} read back to {high}, "
                  f"{len(writer.errors)} producer errors")
    if deleted_to is not None and low < deleted_to:
        problems.append(f"records DeleteRecords removed are back: log start {low} after the leader change, "
                        f"{deleted_to} when DeleteRecords answered")
    if writer.errors:
        problems.append(f"producer errors: {len(writer.errors)}, first: {writer.errors[0]}")
    if lost:
        problems.append(f"{len(lost)} acknowledged writes not read back at their offset, first {lost[:3]}")
    if duplicates:
        problems.append(f"{duplicates} values stored twice")
    if problems:
        h.say("FAIL", "F25: " + "; ".join(problems))
    return not problems

