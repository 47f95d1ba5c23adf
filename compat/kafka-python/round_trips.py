"""compat/kafka-python/round_trips.py -- round trips of kafka-python (PyPI, a pure-Python client
with its own protocol code, unlike confluent-kafka) against a running broker. Owns the
"kafka-python" suite of compat/run.sh.

Usage: python round_trips.py BOOTSTRAP
Every check is a named case printing `PASS name` or `FAIL name: reason`; the last line is
`N passed, N failed`; exit status 1 when any case failed.

Covers: the API versions kafka-python negotiates; KafkaAdminClient create_topics,
list_topics, describe_topics, describe_configs, create_partitions, delete_topics,
list_groups, describe_groups, list_group_offsets; an idempotent acks=all KafkaProducer with no
compression and gzip, keys, null values and headers; a KafkaConsumer by assignment from the
beginning checking every record in order, beginning/end offsets and offsets_for_times; a
consumer group (subscribe, poll, commit, committed) whose offsets the admin client reads back.
"""
import sys
import time
import traceback

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic

RUN = str(int(time.time() * 1000) % 1_000_000_000)
TOPIC, TOPIC_DEL, GROUP = f"kp-rt-{RUN}", f"kp-del-{RUN}", f"kp-group-{RUN}"
PARTITIONS = 3
PER_CODEC = 120
T_MS = 20_000  # bound of each client call

results = {"passed": 0, "failed": 0}
sent = {}  # (partition, offset) -> (key, value, headers)


def case(name):
    def wrap(fn):
        try:
            fn()
            results["passed"] += 1
            print(f"PASS {name}", flush=True)
        except Exception as e:  # noqa: BLE001 -- every failure is reported as the case's
            results["failed"] += 1
            msg = str(e).replace("\n", " ")
            print(f"FAIL {name}: {type(e).__name__}: {msg}", flush=True)
            traceback.print_exc(file=sys.stderr)
        return fn
    return wrap


def require(ok, what):
    if not ok:
        raise AssertionError(what)


def main(bootstrap):
    print(f"kafka-python {kafka.__version__} against {bootstrap}", file=sys.stderr)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kp-admin",
                             request_timeout_ms=T_MS)

    @case("admin.api_versions")
    def _():
        versions = admin.api_versions()
        require(bool(versions), f"no version data: {versions}")

    @case("admin.create_topics")
    def _():
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1), NewTopic(TOPIC_DEL, 1, 1)],
                            timeout_ms=T_MS)
        deadline = time.time() + 20
        while not {TOPIC, TOPIC_DEL} <= set(admin.list_topics()):
            require(time.time() < deadline, "topics not listed")
            time.sleep(0.1)

    @case("admin.describe_topics")
    def _():
        described = admin.describe_topics([TOPIC])
        require(len(described) == 1, f"{described}")
        require(len(described[0]["partitions"]) == PARTITIONS, f"{described}")

    @case("admin.describe_configs")
    def _():
        answer = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC)],
                                        config_filter="all")
        text = str(answer)
        require("retention.ms" in text and "cleanup.policy" in text, text[:300])

    @case("produce.idempotent_acks_all")
    def _():
        for codec in (None, "gzip"):
            producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                     enable_idempotence=True, compression_type=codec,
                                     linger_ms=5, request_timeout_ms=T_MS)
            futures = []
            for i in range(PER_CODEC):
                # kafka-python refuses a record with neither; a null value is a tombstone.
                key = None if i % 5 == 0 else f"k{i}".encode()
                value = None if i % 17 == 1 and key is not None else f"{codec}-{i}".encode()
                headers = [("h", b"1"), ("h", b"2")] if i % 3 == 0 else []
                future = producer.send(TOPIC, key=key, value=value, headers=headers,
                                       partition=i % PARTITIONS)
                futures.append((future, key, value, headers))
            producer.flush(timeout=20)
            for future, key, value, headers in futures:
                meta = future.get(timeout=20)
                sent[(meta.partition, meta.offset)] = (key, value, headers)
            producer.close(timeout=10)
        require(len(sent) == 2 * PER_CODEC, f"{len(sent)} distinct offsets")

    @case("consume.assign_from_beginning_in_order")
    def _():
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                 consumer_timeout_ms=10_000, request_timeout_ms=T_MS + 10_000)
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        require(sent, "nothing was produced")
        got = {}
        last = {}
        for record in consumer:
            require(record.offset > last.get(record.partition, -1), "offsets go backwards")
            last[record.partition] = record.offset
            got[(record.partition, record.offset)] = (
                record.key, record.value, [(k, v) for k, v in record.headers])
            if len(got) >= len(sent):
                break
        consumer.close()
        require(got == sent, f"read {len(got)} records, sent {len(sent)}; "
                             f"first difference {next((k for k in sent if got.get(k) != sent[k]), None)}")

    @case("consume.offsets")
    def _():
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=T_MS + 10_000)
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        for tp in tps:
            count = sum(1 for (p, _) in sent if p == tp.partition)
            require(begin[tp] == 0 and end[tp] == count, f"{tp}: {begin[tp]}..{end[tp]}, sent {count}")
        by_time = consumer.offsets_for_times({tp: 0 for tp in tps})
        for tp in tps:
            require(by_time[tp] is not None and by_time[tp].offset == 0, f"{tp}: {by_time[tp]}")
        consumer.close()

    @case("group.subscribe_commit_committed")
    def _():
        consumer = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=GROUP,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=15_000, request_timeout_ms=T_MS + 10_000)
        require(sent, "nothing was produced")
        count = 0
        for _record in consumer:
            count += 1
            if count >= len(sent):
                break
        require(count == len(sent), f"the group read {count} of {len(sent)}")
        consumer.commit()
        for p in range(PARTITIONS):
            want = sum(1 for (q, _) in sent if q == p)
            committed = consumer.committed(TopicPartition(TOPIC, p))
            require(committed == want, f"partition {p} committed {committed}, want {want}")
        consumer.close()

    @case("admin.groups")
    def _():
        groups = [g["group_id"] for g in admin.list_groups()]
        require(GROUP in groups, f"{GROUP} not in {groups}")
        offsets = admin.list_group_offsets(GROUP)
        total = sum(o.offset for o in offsets[GROUP].values())
        require(total == len(sent), f"committed {total}, want {len(sent)}")
        described = admin.describe_groups([GROUP])
        require(len(described) == 1, f"{described}")

    @case("admin.create_partitions")
    def _():
        admin.create_partitions({TOPIC: NewPartitions(PARTITIONS + 1)}, timeout_ms=T_MS)
        deadline = time.time() + 20
        while len(admin.describe_topics([TOPIC])[0]["partitions"]) != PARTITIONS + 1:
            require(time.time() < deadline, "the partition count did not grow")
            time.sleep(0.1)

    @case("admin.delete_topics")
    def _():
        admin.delete_topics([TOPIC_DEL], timeout_ms=T_MS)
        deadline = time.time() + 20
        while TOPIC_DEL in set(admin.list_topics()):
            require(time.time() < deadline, "the topic is still listed")
            time.sleep(0.1)

    admin.close()
    print(f"{results['passed']} passed, {results['failed']} failed", flush=True)
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
