"""compat/faults/last_replica.py -- F14 of reliability.md, "last replica standing" (the KIP-966
sequence) with an unclean shutdown, as a standalone run.

    sudo python last_replica.py --runnel BIN --work DIR [--fsync] [--clean]

Five nodes (brokers and controller voters) in namespaces (cluster.py), so that two of them can
be down while the metadata quorum still decides; topic t with one partition on nodes 1-3 (RF 3,
min ISR 2) and an idempotent acks=all producer writing to it all along. Then: follower A is
SIGKILLed (the ISR shrinks to {L, B}), follower B is SIGKILLed (the ISR shrinks to {L}: nothing
is acknowledged any more), the leader L loses power (SIGKILL, then every byte of t's segments
it had not fsynced is cut, from the sync journal: power_loss.py). L comes back, then A and B.

What must hold (reliability.md F14): no acknowledged write is lost; the partition may instead
stay unavailable. Kafka 4.4 (docs/internals/kafka-facts/elr-unclean-shutdown.md) gets there only
when B stopped cleanly (`--clean`: A and B are stopped with SIGTERM, a controlled shutdown): B,
out of the ISR while it was below min ISR, is an eligible leader replica (KIP-966), L loses its
place at its unclean restart, and B leads with everything acknowledged. After crashes (the
default) Kafka 4.4 takes B out of the ELR too at its unclean restart and elects L again through
LastKnownElr, losing what L lost. A broker without ELR elects L, the last ISR member, with the
tail it lost, either way, and A and B truncate to it.

Prints each step and the acknowledged offsets read back. Exit status 1 when an acknowledged
write is lost (REPRODUCED), 0 when every one is read back or the partition stays unavailable
without a loss, 2 on a setup failure. `--fsync` (log.flush.on.ack=true) must never lose one.
"""
import argparse
import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import Cluster  # noqa: E402
import power_loss  # noqa: E402

BOUND_S = 600


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runnel", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--fsync", action="store_true")
    parser.add_argument("--clean", action="store_true", help="stop the followers with SIGTERM")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    settings = {"broker.session.timeout.ms": 3000, "broker.heartbeat.interval.ms": 500,
                "replica.lag.time.max.ms": 4000, "offsets.topic.replication.factor": 3,
                "offsets.topic.num.partitions": 1}
    if args.fsync:
        settings["log.flush.on.ack"] = "true"
    c = Cluster(args.runnel, args.work, nodes=5, settings=settings, log=lambda _: None)
    if not c.namespaces:
        print("needs root and network namespaces", file=sys.stderr)
        sys.exit(2)
    alarm = threading.Timer(BOUND_S, lambda: os._exit(2))
    alarm.daemon = True
    alarm.start()
    # A SIGTERM (an outer `timeout`) still removes the namespaces and stops the nodes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    try:
        sys.exit(run(c, args.clean))
    finally:
        c.destroy()


class Writer:
    """An idempotent acks=all producer writing numbered values to t-0 until stopped."""

    def __init__(self, bootstrap):
        self.acked = {}   # offset -> value
        self.stop = threading.Event()
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": 120000})
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def delivered(self, err, msg):
        if err is None:
            self.acked[msg.offset()] = msg.value()

    def run(self):
        i = 0
        end = time.time() + BOUND_S
        while not self.stop.is_set() and time.time() < end and i < 2_000_000:
            try:
                self.producer.produce("t", value=f"{i:010d}".encode(), partition=0,
                                      on_delivery=self.delivered)
                i += 1
            except BufferError:
                pass
            self.producer.poll(0.002)
        self.producer.flush(30)


def run(c, clean):
    c.setup_network()
    c.start_all()
    admin = AdminClient({"bootstrap.servers": c.bootstrap()})

    def state():
        try:
            p = admin.list_topics(timeout=3).topics["t"].partitions[0]
            return p.leader, sorted(p.isrs)
        except Exception:  # noqa: BLE001 -- not created or not led yet
            return None, []

    def wait(what, check, bound=30):
        end = time.time() + bound
        while time.time() < end:
            s = state()
            if check(*s):
                print(f"{time.strftime('%H:%M:%S')} {what}: leader {s[0]}, ISR {s[1]}", flush=True)
                return True
            time.sleep(0.3)
        print(f"{time.strftime('%H:%M:%S')} {what}: not within {bound} s (leader {state()[0]}, "
              f"ISR {state()[1]})", flush=True)
        return False

    for _ in range(120):
        if c.registered():
            break
        time.sleep(0.5)
    for _ in range(60):
        try:
            admin.create_topics([NewTopic("t", num_partitions=1, replica_assignment=[[1, 2, 3]],
                                          config={"min.insync.replicas": "2"})])["t"].result(15)
            break
        except Exception as e:  # noqa: BLE001
            if "ALREADY" in str(e):
                break
            print(f"creating t: {e}", flush=True)
            time.sleep(1)
    if not wait("t-0 created", lambda leader, isr: leader in (1, 2, 3) and isr == [1, 2, 3], 90):
        return 2
    writer = Writer(c.bootstrap())
    time.sleep(4)
    leader, _ = state()
    a, b = [i for i in (1, 2, 3) if i != leader]
    stop = c.terminate if clean else c.kill
    how = "stopped (SIGTERM)" if clean else "SIGKILLed"
    stop(a)
    print(f"follower {a} {how} ({len(writer.acked)} acknowledged so far)", flush=True)
    if not wait(f"ISR without {a}", lambda l, isr: isr == sorted([leader, b])):
        return 2
    time.sleep(2)
    stop(b)
    print(f"follower {b} {how} ({len(writer.acked)} acknowledged so far)", flush=True)
    if not wait("ISR of the leader alone", lambda l, isr: isr == [leader]):
        return 2
    time.sleep(2)
    acked_before_cut = len(writer.acked)
    c.kill(leader)
    dropped = power_loss.lose_unsynced(c.journal(leader), c.data_dir(leader), ["t"])
    print(f"leader {leader} lost power: {dropped.get('t-0', 0)} unsynced bytes of t-0 cut; "
          f"{acked_before_cut} writes acknowledged in all", flush=True)
    time.sleep(4)
    c.start(leader)
    # Three of the five voters were down: the quorum decides again once the leader's node is
    # back, and fences it and registers it anew. Metadata before that is stale, so look later.
    time.sleep(10)
    led_by, isr_then = state()
    print(f"{time.strftime('%H:%M:%S')} 10 s after node {leader}'s return: leader {led_by}, ISR {isr_then} "
          f"({'led by it' if led_by == leader else 'not led by it'})", flush=True)
    c.start(a)
    c.start(b)
    wait("nodes back", lambda l, isr: l in (1, 2, 3) and len(isr) >= 2, 60)
    writer.stop.set()
    writer.thread.join(timeout=60)
    leader_now, isr_now = state()
    if leader_now not in (1, 2, 3):
        print(f"t-0 stays unavailable (leader {leader_now}, ISR {isr_now}): not lossy, as F14 allows")
        return 0
    consumer = Consumer({"bootstrap.servers": c.bootstrap(), "group.id": "f14", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition("t", 0, 0)])
    seen, end = {}, time.time() + 60
    high = max(writer.acked, default=-1)
    while time.time() < end and (not seen or max(seen) < high):
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seen[msg.offset()] = msg.value()
    consumer.close()
    lost = sorted(o for o, v in writer.acked.items() if seen.get(o) != v)
    print(f"read back from leader {leader_now}: {len(seen)} records; acknowledged {len(writer.acked)}, "
          f"lost or changed {len(lost)}" + (f" (offsets {lost[0]}-{lost[-1]})" if lost else ""))
    if lost:
        print("REPRODUCED: the last replica standing came back from an unclean shutdown as leader "
              "and acknowledged writes were lost")
        return 1
    print("no acknowledged write lost")
    return 0


if __name__ == "__main__":
    main()
