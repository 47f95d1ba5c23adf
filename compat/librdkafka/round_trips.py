"""compat/librdkafka/round_trips.py -- round trips of librdkafka (PyPI confluent-kafka) against a
running broker. Owns the "librdkafka" suite of compat/run.sh.

Usage: python round_trips.py BOOTSTRAP
Every check is a named case printing `PASS name` or `FAIL name: reason`; the last line is
`N passed, N failed`; exit status 1 when any case failed.

Covers: AdminClient describe_cluster, create_topics (validate_only, already exists),
list_topics, describe_topics, describe_configs, incremental_alter_configs, alter_configs,
create_partitions, list_offsets, delete_records, delete_topics; an idempotent acks=all Producer
with every codec, keyed and unkeyed records and headers (duplicate keys, null values); a
Consumer by assign at an offset / OFFSET_BEGINNING checking every record, get_watermark_offsets,
offsets_for_times, OFFSET_OUT_OF_RANGE reset, a long-polling fetch woken by an append. Consumers never subscribe (consumer groups are not served yet): librdkafka
requires a group.id, which is set but unused.
"""
import sys
import time
import traceback

import confluent_kafka
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer,
                             TopicCollection, TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewPartitions, NewTopic, OffsetSpec, ResourceType)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
PER_CODEC = 150
RUN = str(int(time.time() * 1000) % 1_000_000_000)
TOPIC, TOPIC_TS, TOPIC_DEL = f"rdk-rt-{RUN}", f"rdk-ts-{RUN}", f"rdk-del-{RUN}"
T = 20  # seconds, bound of each admin call

results = {"passed": 0, "failed": 0}
expected = {}  # (partition, offset) -> (codec, key, value, headers)


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


def quiet_logger():
    import logging
    log = logging.getLogger("librdkafka")
    log.addHandler(logging.StreamHandler(sys.stderr))
    return log


def main():
    bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
    print(f"# librdkafka {confluent_kafka.libversion()[0]}, confluent-kafka {confluent_kafka.__version__}",
          flush=True)
    base = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000}
    admin = AdminClient(dict(base))
    state = {}

    def producer(codec, acks="all", idempotent=True):
        return Producer({**base, "acks": acks, "enable.idempotence": idempotent,
                         "compression.type": codec, "linger.ms": 5,
                         "message.timeout.ms": 30000, "message.max.bytes": 4 << 20})

    def consumer():
        return Consumer({**base, "group.id": f"rdk-unused-{RUN}", "enable.auto.commit": False,
                         "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
                         "fetch.wait.max.ms": 100}, logger=quiet_logger())

    def consume_n(c, n, secs=30):
        out, deadline = [], time.time() + secs
        while len(out) < n and time.time() < deadline:
            for m in c.consume(num_messages=min(500, n - len(out)), timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(m.error())
                out.append(m)
        return out

    def topic_config(name):
        res = ConfigResource(ResourceType.TOPIC, name)
        return admin.describe_configs([res])[res].result(T)

    @case("admin.describe_cluster")
    def _():
        d = admin.describe_cluster(request_timeout=T).result(T)
        require(len(d.nodes) == 1, f"nodes {d.nodes}")
        require(d.cluster_id, f"cluster id {d.cluster_id!r}")
        require(d.controller is not None, "no controller")
        state["node"] = d.nodes[0].id

    @case("admin.create_topics")
    def _():
        futs = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1), NewTopic(TOPIC_TS, 1, 1),
                                    NewTopic(TOPIC_DEL, 1, 1, config={"retention.ms": "7200000"})],
                                   request_timeout=T)
        for f in futs.values():
            f.result(T)

    @case("admin.create_topics.validate_only")
    def _():
        name = f"rdk-validate-{RUN}"
        admin.create_topics([NewTopic(name, 2, 1)], validate_only=True)[name].result(T)
        require(name not in admin.list_topics(timeout=T).topics, "validate_only created the topic")

    @case("admin.create_topics.already_exists")
    def _():
        try:
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(T)
            raise AssertionError("no error")
        except KafkaException as e:
            require(e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, f"got {e}")

    @case("admin.list_topics")
    def _():
        md = admin.list_topics(timeout=T)
        for t in (TOPIC, TOPIC_TS, TOPIC_DEL):
            require(t in md.topics, f"{t} not listed")
        require(len(md.topics[TOPIC].partitions) == PARTITIONS, "partition count")

    @case("admin.describe_topics")
    def _():
        d = admin.describe_topics(TopicCollection([TOPIC]), request_timeout=T)[TOPIC].result(T)
        require(len(d.partitions) == PARTITIONS, f"partitions {len(d.partitions)}")
        for p in d.partitions:
            require(p.leader is not None and p.leader.id == state.get("node"), f"leader {p.leader}")
            require(len(p.replicas) == 1 and len(p.isr) == 1, "replicas/isr")

    @case("admin.describe_configs")
    def _():
        c = topic_config(TOPIC)
        require(c["cleanup.policy"].value == "delete", f"cleanup.policy {c.get('cleanup.policy')}")
        require("retention.ms" in c, "no retention.ms")
        d = topic_config(TOPIC_DEL)["retention.ms"]
        require(d.value == "7200000" and d.source == confluent_kafka.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
                f"created config {d} source {d.source}")
        res = ConfigResource(ResourceType.BROKER, str(state.get("node", 1)))
        b = admin.describe_configs([res])[res].result(T)
        require("num.partitions" in b, "broker config has no num.partitions")

    @case("admin.incremental_alter_configs")
    def _():
        res = ConfigResource(ResourceType.TOPIC, TOPIC, incremental_configs=[
            ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([res])[res].result(T)
        require(topic_config(TOPIC)["retention.ms"].value == "3600000", "set not visible")
        res = ConfigResource(ResourceType.TOPIC, TOPIC, incremental_configs=[
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
        admin.incremental_alter_configs([res])[res].result(T)
        require(topic_config(TOPIC)["retention.ms"].value != "3600000", "delete not visible")

    @case("admin.alter_configs")
    def _():
        res = ConfigResource(ResourceType.TOPIC, TOPIC_TS, set_config={"retention.bytes": "1048576"})
        admin.alter_configs([res])[res].result(T)
        require(topic_config(TOPIC_TS)["retention.bytes"].value == "1048576", "alter not visible")

    for codec in CODECS:
        @case(f"produce.idempotent.acks_all.{codec}")
        def _(codec=codec):
            p, acked, errors = producer(codec), [], []

            def on_delivery(err, msg, sent):
                if err:
                    errors.append(err)
                else:
                    acked.append((msg.partition(), msg.offset(), sent))
            for i in range(PER_CODEC * 2):
                key = f"key-{i % 23}".encode() if i % 2 == 0 else None
                value = None if i % 37 == 5 else f"{codec}-value-{i}-{'x' * (i % 50)}".encode()
                headers = [] if i % 3 == 0 else [("trace", f"t{i}".encode()), ("dup", b"first"),
                                                 ("dup", b"second"), ("nullvalue", None)]
                sent = (codec, key, value, headers)
                p.produce(TOPIC, key=key, value=value, headers=headers,
                          on_delivery=lambda err, msg, sent=sent: on_delivery(err, msg, sent))
                p.poll(0)
            require(p.flush(40) == 0, "flush timed out")
            require(not errors, f"delivery errors: {errors[:3]}")
            for part, off, sent in acked:
                require((part, off) not in expected, f"offset {part}@{off} given twice")
                expected[(part, off)] = sent
            require(len(acked) == PER_CODEC * 2, f"acked {len(acked)}")

    @case("produce.keyed.same_partition")
    def _():
        where = {}
        for (part, _), (_, key, _, _) in expected.items():
            if key is not None:
                require(where.setdefault(key, part) == part, f"{key} on two partitions")
        require(len(where) == 23, f"keys {len(where)}")

    @case("produce.acks1")
    def _():
        p, out = producer("none", "1", False), []
        p.produce(TOPIC_DEL, value=b"acks1", on_delivery=lambda e, m: out.append((e, None if e else m.offset())))
        require(p.flush(30) == 0 and out and out[0][0] is None and out[0][1] >= 0, f"delivery {out}")

    @case("consume.assign.beginning.all")
    def _():
        require(expected, "nothing was produced")
        c = consumer()
        try:
            c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
            got = consume_n(c, len(expected))
            seen = set()
            for m in got:
                k = (m.partition(), m.offset())
                require(k not in seen, f"{k} delivered twice")
                seen.add(k)
                require(k in expected, f"unexpected record {k}")
                codec, key, value, headers = expected[k]
                require(m.key() == key, f"{k} ({codec}) key {m.key()!r} != {key!r}")
                require(m.value() == value, f"{k} ({codec}) value {m.value()!r} != {value!r}")
                require((m.headers() or []) == headers, f"{k} ({codec}) headers {m.headers()} != {headers}")
            require(len(got) == len(expected), f"read {len(got)} of {len(expected)}")
        finally:
            c.close()

    @case("consume.assign.at_offset")
    def _():
        require(expected, "nothing was produced")
        c = consumer()
        try:
            for part in range(PARTITIONS):
                offs = sorted(o for (p, o) in expected if p == part)
                if len(offs) < 3:
                    continue
                mid = offs[len(offs) // 2 + 1]
                c.assign([TopicPartition(TOPIC, part, mid)])
                got = consume_n(c, 1)
                require(got and got[0].offset() == mid, f"assign at {part}@{mid} gave {got and got[0].offset()}")
                require(got[0].value() == expected[(part, mid)][2], "value")
                c.unassign()
        finally:
            c.close()

    @case("consume.get_watermark_offsets")
    def _():
        c = consumer()
        try:
            for part in range(PARTITIONS):
                lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, part), timeout=T)
                n = sum(1 for (p, _) in expected if p == part)
                require((lo, hi) == (0, n), f"partition {part}: {(lo, hi)} != {(0, n)}")
        finally:
            c.close()

    @case("consume.out_of_range.reset_earliest")
    def _():
        require(expected, "nothing was produced")
        c = consumer()
        try:
            c.assign([TopicPartition(TOPIC, 0, 1_000_000)])
            got = consume_n(c, 1)
            require(got and got[0].offset() == 0, f"after OFFSET_OUT_OF_RANGE: {got and got[0].offset()}")
        finally:
            c.close()

    @case("consume.long_poll.woken_by_append")
    def _():
        c = Consumer({**base, "group.id": f"rdk-unused-{RUN}", "enable.auto.commit": False,
                      "fetch.wait.max.ms": 10000, "fetch.min.bytes": 1}, logger=quiet_logger())
        p, out = producer("none"), []
        try:
            lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC_DEL, 0), timeout=T)
            c.assign([TopicPartition(TOPIC_DEL, 0, hi)])
            c.consume(1, 1.0)  # the long-polling fetch is now parked at the broker
            sent = time.time()
            p.produce(TOPIC_DEL, value=b"wake", partition=0, on_delivery=lambda e, m: out.append(e))
            require(p.flush(30) == 0 and out == [None], f"delivery {out}")
            got = consume_n(c, 1)
            ms = (time.time() - sent) * 1000
            require(got and got[0].value() == b"wake", f"read {got}")
            require(ms < 5000, f"record arrived {ms:.0f} ms after the append (fetch.wait.max.ms=10000)")
        finally:
            c.close()

    base_ts = int(time.time() * 1000) - 3_600_000

    @case("produce.timestamps")
    def _():
        p, out = producer("zstd"), []
        for i in range(10):
            p.produce(TOPIC_TS, key=f"k{i}".encode(), value=f"ts{i}".encode(), partition=0,
                      timestamp=base_ts + i * 1000, on_delivery=lambda e, m: out.append((e, None if e else m.offset())))
        require(p.flush(30) == 0, "flush timed out")
        require([o for _, o in out] == list(range(10)) and all(e is None for e, _ in out), f"delivery {out}")

    @case("consume.offsets_for_times")
    def _():
        c = consumer()
        try:
            for ts, want in ((base_ts + 3000, 3), (base_ts + 3500, 4), (base_ts - 10, 0), (base_ts + 99_000, -1)):
                r = c.offsets_for_times([TopicPartition(TOPIC_TS, 0, ts)], timeout=T)[0]
                require(r.error is None and r.offset == want, f"for +{ts - base_ts}: {r}")
        finally:
            c.close()

    @case("admin.list_offsets")
    def _():
        tp = TopicPartition(TOPIC_TS, 0)
        for spec, want in ((OffsetSpec.earliest(), 0), (OffsetSpec.latest(), 10), (OffsetSpec.max_timestamp(), 9)):
            r = admin.list_offsets({tp: spec}, request_timeout=T)[tp].result(T)
            require(r.offset == want, f"{spec}: {r.offset} != {want}")

    @case("admin.delete_records")
    def _():
        tp = TopicPartition(TOPIC_TS, 0, 4)
        r = admin.delete_records([tp], request_timeout=T)[tp].result(T)
        require(r.low_watermark == 4, f"low watermark {r.low_watermark}")
        c = consumer()
        try:
            c.assign([TopicPartition(TOPIC_TS, 0, OFFSET_BEGINNING)])
            got = consume_n(c, 6)
            require(len(got) == 6 and got[0].offset() == 4 and got[0].value() == b"ts4",
                    f"read {len(got)} records from {got and got[0].offset()}")
        finally:
            c.close()

    @case("admin.create_partitions")
    def _():
        admin.create_partitions([NewPartitions(TOPIC, PARTITIONS + 1)], request_timeout=T)[TOPIC].result(T)
        d = admin.describe_topics(TopicCollection([TOPIC]))[TOPIC].result(T)
        require(len(d.partitions) == PARTITIONS + 1, f"partitions {len(d.partitions)}")
        p, out = producer("none"), []
        deadline = time.time() + 10
        while time.time() < deadline:  # the producer learns the new partition from Metadata
            if PARTITIONS in p.list_topics(TOPIC, timeout=T).topics[TOPIC].partitions:
                break
            time.sleep(0.2)
        p.produce(TOPIC, value=b"new", partition=PARTITIONS, on_delivery=lambda e, m: out.append((e, None if e else m.offset())))
        require(p.flush(30) == 0 and out == [(None, 0)], f"delivery {out}")

    @case("admin.delete_topics")
    def _():
        admin.delete_topics([TOPIC_DEL], request_timeout=T)[TOPIC_DEL].result(T)
        deadline = time.time() + 10
        while TOPIC_DEL in admin.list_topics(timeout=T).topics:
            require(time.time() < deadline, "still listed 10 s after deletion")
            time.sleep(0.2)

    print(f"{results['passed']} passed, {results['failed']} failed", flush=True)
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
