"""librdkafka (PyPI confluent-kafka) workload for the golden-vector capture.

Usage: python capture_client.py BOOTSTRAP TOPIC GROUP
Creates TOPIC (AdminClient), produces a few keyed records with a header (idempotent, acks=all,
no compression unless CAPTURE_COMPRESSION is set), then consumes them in a consumer group (subscribe, synchronous commit).
"""
import os
import sys
import time

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

RECORDS = 3
# CAPTURE_COMPRESSION=gzip makes the producer compress (capture.sh's librdkafka-gzip case).
COMPRESSION = os.environ.get("CAPTURE_COMPRESSION", "none")


def main() -> int:
    bootstrap, topic, group = sys.argv[1:4]
    print(f"client (compression {COMPRESSION}): librdkafka {confluent_kafka.libversion()[0]} "
          f"(confluent-kafka-python {confluent_kafka.__version__})", file=sys.stderr)

    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "runnel-capture-rdkafka-admin"})
    for t, fut in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).items():
        try:
            fut.result(30)
        except KafkaException as e:
            if e.args[0].code() != confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    p = Producer({
        "bootstrap.servers": bootstrap,
        "client.id": "runnel-capture-rdkafka-producer",
        "enable.idempotence": True,
        "acks": "all",
        "compression.codec": COMPRESSION,
        "linger.ms": 5,
    })
    errors = []
    for i in range(RECORDS):
        p.produce(topic, key=f"key-{i}", value=f"value-{i}", headers=[("h", f"hv-{i}".encode())],
                  on_delivery=lambda err, msg: err and errors.append(err))
    if p.flush(30) != 0 or errors:
        raise SystemExit(f"produce failed: {errors}")

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "client.id": "runnel-capture-rdkafka-consumer",
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "heartbeat.interval.ms": 200,
        "session.timeout.ms": 10000,
    })
    c.subscribe([topic])
    got = 0
    deadline = time.time() + 30
    while got < RECORDS and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            print(f"  consumer error: {m.error()}", file=sys.stderr)
            continue
        got += 1
        print(f"  {m.topic()}@{m.offset()} {m.key()!r}={m.value()!r} headers={m.headers()}", file=sys.stderr)
    c.commit(asynchronous=False)
    until = time.time() + 1.5
    while time.time() < until:
        c.poll(0.2)
    c.close()
    if got < RECORDS:
        raise SystemExit(f"consumer got only {got} records")
    print("librdkafka client done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
