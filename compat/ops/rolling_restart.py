"""compat/ops/rolling_restart.py -- a rolling restart of a three-node Runnel cluster (real
processes on 127.0.0.1, compat/faults/cluster.py; every node a broker and a controller voter)
under an idempotent acks=all producer (librdkafka, confluent-kafka); part of the "ops" suite.

    python rolling_restart.py --runnel BIN --work DIR

Each node in turn is stopped with SIGTERM (a controlled shutdown: leadership moves away first),
must exit 0, is started again, and the next one waits until every partition of `rolling` (three
partitions, RF 3, min.insync.replicas 2) has its full ISR back.

Cases (each prints `PASS name` / `FAIL name: why`):
  rolling.clean_exits     every node exits 0 on SIGTERM and comes back with a full ISR.
  rolling.no_error        the producer sees no delivery error and no fatal error (transient
                          connection errors librdkafka retries are counted in the INFO line).
  rolling.no_loss         every acknowledged record is read back once, at its offset.
INFO rolling: the longest pause in acknowledgements during the restarts, and the counts.
Exit status 1 when a case failed.
"""
import time

from confluent_kafka.admin import AdminClient, NewTopic

import opslib
from opslib import Writer, create_topic, read_back, result, wait_for

BOUND_S = 420
PARTITIONS = 3
def full_isr(admin):
    try:
        topic = admin.list_topics("rolling", timeout=5).topics["rolling"]
        return len(topic.partitions) == PARTITIONS and all(
            sorted(p.isrs) == [1, 2, 3] and p.leader > 0 for p in topic.partitions.values())
    except Exception:  # noqa: BLE001 -- not created yet, or a node is away
        return False


def run(c, args):
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})
    create_topic(admin, NewTopic("rolling", num_partitions=PARTITIONS, replication_factor=3,
                                 config={"min.insync.replicas": "2"}))
    if not wait_for(lambda: full_isr(admin), 60):
        return result("rolling.setup", False, "rolling never had a full ISR")
    writer = Writer(c.bootstrap(), "rolling", BOUND_S)
    wait_for(lambda: len(writer.acked) >= 10_000, 60)
    started = time.monotonic()
    exits = {}
    healed = True
    for node in c.ids:
        exits[node] = c.terminate(node)
        c.start(node)
        healed = wait_for(lambda: c.registered() and full_isr(admin), 90) and healed
        print(f"{time.strftime('%H:%M:%S')} node {node} restarted (exit {exits[node]}), "
              f"{len(writer.acked)} acknowledged so far", flush=True)
    ended = time.monotonic()
    time.sleep(2)
    writer.finish()
    result("rolling.clean_exits", all(code == 0 for code in exits.values()) and healed,
           f"exit statuses {exits}, every ISR full again after each restart: {healed}")
    print(f"INFO rolling: {len(writer.acked)} acknowledged, restarts took {ended - started:.1f} s, "
          f"longest pause in acknowledgements {writer.pause_during(started, ended + 1):.0f} ms, "
          f"{writer.transient} transient client errors, {len(writer.errors)} delivery errors",
          flush=True)
    result("rolling.no_error", not writer.errors and not writer.fatal,
           f"delivery errors {writer.errors[:3]}, fatal {writer.fatal[:3]}")
    acked = dict(writer.acked)
    seen = read_back(c.bootstrap(), "rolling", acked)
    lost = [k for k, v in acked.items() if seen.get(k) != v]
    values = list(seen.values())
    duplicates = len(values) - len(set(values))
    result("rolling.no_loss", acked and not lost and duplicates == 0,
           f"{len(lost)} of {len(acked)} acknowledged not read back (first {sorted(lost)[:3]}), "
           f"{duplicates} duplicates")
    return 0


if __name__ == "__main__":
    opslib.main(run, BOUND_S)
