"""compat/ops/follower_fetch.py -- fetch from the closest replica (KIP-392) with a real client:
librdkafka (confluent-kafka) with `client.rack` against three Runnel processes on 127.0.0.1
(compat/faults/cluster.py) in racks r1, r2, r3 with the rack-aware replica selector; part of the
"ops" suite.

    python follower_fetch.py --runnel BIN --work DIR

Which node served the consumer is read from each node's /metrics
(`kafka_server_brokertopicmetrics_bytesout_total{topic="near"}`: record bytes read by consumer
fetches, not by followers).

Cases (each prints `PASS name` / `FAIL name: why`):
  follower_fetch.rack_follower  a consumer with client.rack=r2 reads 20,000 records of `near`
                                (leader 1, replicas 1,2,3), served by node 2, not by the leader.
  follower_fetch.fallback       node 2 is stopped: the same consumer reads 5,000 more records,
                                now from the leader, every record once and in order.
Exit status 1 when a case failed.
"""
import re
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import opslib
from opslib import create_topic, free_port, result, wait_for

BOUND_S = 240
SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
def bytes_out(http_port):
    """Record bytes node's consumers read from `near` (0 when the node is down)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0
    m = re.search(r'^kafka_server_brokertopicmetrics_bytesout_total\{topic="near"\} (\d+)',
                  text, re.M)
    return int(m.group(1)) if m else 0


def produce(bootstrap, start, count):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 10})
    for i in range(start, start + count):
        while True:
            try:
                producer.produce("near", value=f"{i:08d}".encode(), partition=0)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    return producer.flush(60) == 0


def consume(consumer, until, seen):
    """Reads until `until` records are in `seen` (offset -> value) or 60 s pass."""
    deadline = time.time() + 60
    while len(seen) < until and time.time() < deadline:
        for m in consumer.consume(500, 1.0):
            if m.error() is None:
                seen[m.offset()] = m.value()


def run(c, http):
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})
    create_topic(admin, NewTopic("near", num_partitions=1, replica_assignment=[[1, 2, 3]]))

    def in_sync():
        try:
            p = admin.list_topics("near", timeout=5).topics["near"].partitions[0]
            return p.leader == 1 and sorted(p.isrs) == [1, 2, 3]
        except Exception:  # noqa: BLE001
            return False
    if not wait_for(in_sync, 60) or not produce(c.bootstrap(), 0, 20_000):
        return result("follower_fetch.setup", False, "near-0 not in sync or not written")
    before = {i: bytes_out(http[i]) for i in c.ids}
    consumer = Consumer({"bootstrap.servers": c.bootstrap(), "group.id": "near-readers",
                         "client.rack": "r2", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "topic.metadata.refresh.interval.ms": 2000})
    consumer.assign([TopicPartition("near", 0, 0)])
    seen = {}
    consume(consumer, 20_000, seen)
    served = {i: bytes_out(http[i]) - before[i] for i in c.ids}
    result("follower_fetch.rack_follower",
           len(seen) == 20_000 and served[2] > 0 and served[2] > served[1] * 10,
           f"read {len(seen)} of 20000; record bytes served per node {served}")
    print(f"INFO follower_fetch: record bytes served per node with client.rack=r2: {served}",
          flush=True)

    c.terminate(2)
    before = {i: bytes_out(http[i]) for i in (1, 3)}
    ok = produce(c.bootstrap(), 20_000, 5_000)
    consume(consumer, 25_000, seen)
    consumer.close()
    served = {i: bytes_out(http[i]) - before[i] for i in (1, 3)}
    in_order = all(seen.get(o) == f"{o:08d}".encode() for o in range(25_000))
    result("follower_fetch.fallback", ok and len(seen) == 25_000 and in_order and served[1] > 0,
           f"read {len(seen)} of 25000 (every one at its offset: {in_order}); record bytes "
           f"served after node 2 stopped {served}")
    return 0


if __name__ == "__main__":
    HTTP = {i: free_port() for i in (1, 2, 3)}
    opslib.main(lambda c, args: run(c, HTTP), BOUND_S,
                settings={"replica.selector.class": SELECTOR},
                node_settings=lambda i: {"broker.rack": f"r{i}",
                                         "http.listeners": f"http://127.0.0.1:{HTTP[i]}"})
