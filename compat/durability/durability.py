"""compat/durability/durability.py -- crash durability of the real `runnel` binary under an
idempotent acks=all producer (librdkafka via PyPI confluent-kafka). Owns the "durability" suite of
compat/run.sh.

Usage: python durability.py --runnel BIN --work DIR [--client librdkafka|java] [--records 200000]
                            [--partitions 6] [--kills 6] [--produce-secs 70] [--bound 300]

1. Starts `BIN serve` on a free 127.0.0.1 port with log.dirs=DIR/data (log in DIR/broker.log)
   and creates a topic with --partitions partitions (AdminClient).
2. Produces --records keyed records (1000 keys; value = the record's sequence number), paced
   over --produce-secs, with enable.idempotence=true, acks=all, and a delivery timeout long
   enough to ride out restarts: with librdkafka (confluent-kafka Producer, delivery reports) or
   with Java kafka-clients (Kafka's VerifiableProducer via compat/kafka-tools.sh, whose JSON
   events say what was acknowledged where). Meanwhile a driver thread SIGKILLs the broker --kills times,
   spread over the run, and restarts it on the same port and data dir after 0.2-1.5 s.
3. Flushes, then reads every partition back from the beginning with Consumer.assign up to the
   high watermark, and counts: acknowledged records lost (not at their acknowledged partition
   and offset with their value), duplicates (a sequence number stored more than once),
   per-partition order violations (sequence numbers not increasing with the offset), keys on
   more than one partition, records not acknowledged.
4. Stops the broker with SIGTERM and expects exit status 0 within 30 s.
Prints `PASS name` / `FAIL name: why` per check and one `durability: ...` line with the figures.
Everything is bounded by --bound seconds; DIR/data is removed at the end when all checks pass.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Broker:
    def __init__(self, binary, work, port):
        self.binary, self.work, self.port, self.proc = binary, work, port, None
        self.log = open(os.path.join(work, "broker.log"), "ab")
        self.starts, self.kills, self.start_secs = 0, 0, []

    def start(self):
        t0 = time.time()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
             "--override", f"log.dirs={os.path.join(self.work, 'data')}"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
            # runnel reads RUNNEL_* variables as configuration: pass none but RUNNEL_LOG
            env={k: v for k, v in os.environ.items() if not k.startswith("RUNNEL_") or k == "RUNNEL_LOG"})
        self.starts += 1
        if not wait_port(self.port, 30):
            raise RuntimeError(f"broker start #{self.starts} did not listen within 30 s")
        self.start_secs.append(time.time() - t0)

    def kill(self):
        self.log.write(f"\n=== durability.py: SIGKILL #{self.kills + 1} at {time.time():.3f}\n".encode())
        self.log.flush()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self):
        """SIGTERM; returns the exit status, or None when it did not exit within 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None


def produce_librdkafka(args, bootstrap, topic, t_start, deadline):
    """Paced idempotent produce with confluent-kafka; returns (acked, errors, produced, unflushed)
    where acked maps a sequence number to its (partition, offset)."""
    acked, errors = {}, []
    producer = Producer({
        "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
        "linger.ms": 5, "compression.type": "lz4", "message.timeout.ms": 150_000,
        "queue.buffering.max.messages": 500_000, "reconnect.backoff.max.ms": 200,
        "socket.timeout.ms": 10_000})

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked[int(msg.value())] = (msg.partition(), msg.offset())

    chunk, produced = 500, 0
    for base in range(0, args.records, chunk):
        due = t_start + args.produce_secs * base / args.records
        while time.time() < due:
            producer.poll(0.01)
        for seq in range(base, min(base + chunk, args.records)):
            while True:
                try:
                    producer.produce(topic, key=f"key-{seq % 1000}".encode(), value=str(seq).encode(),
                                     on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            produced = seq + 1
        producer.poll(0)
        if time.time() > deadline - 60:
            break
    remaining = producer.flush(max(5.0, min(150.0, deadline - time.time() - 45)))
    return acked, errors, produced, remaining


def produce_java(args, bootstrap, topic, t_start, deadline):
    """Kafka's VerifiableProducer (Java kafka-clients 4.4.0), paced with --throughput, keys from
    --repeating-keys 1000; its JSON events give what was acknowledged where."""
    props = os.path.join(args.work, "producer.properties")
    with open(props, "w") as f:
        f.write("enable.idempotence=true\nacks=all\nlinger.ms=5\ncompression.type=lz4\n"
                "retries=2147483647\ndelivery.timeout.ms=150000\nrequest.timeout.ms=10000\nreconnect.backoff.max.ms=200\n")
    events = os.path.join(args.work, "verifiable-producer.jsonl")
    tools = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka-tools.sh")
    with open(events, "w") as out, open(os.path.join(args.work, "verifiable-producer.err"), "w") as err:
        proc = subprocess.Popen(
            [tools, "run", "org.apache.kafka.tools.VerifiableProducer", "--bootstrap-server", bootstrap,
             "--topic", topic, "--max-messages", str(args.records),
             "--throughput", str(int(args.records / args.produce_secs)), "--acks", "-1",
             "--repeating-keys", "1000", "--producer.config", props],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(max(10.0, deadline - time.time() - 45))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    acked, errors, produced = {}, [], 0
    with open(events) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("name") == "producer_send_success":
                acked[int(e["value"])] = (e["partition"], e["offset"])
                produced += 1
            elif e.get("name") == "producer_send_error":
                errors.append(e.get("message") or e.get("exception"))
                produced += 1
    remaining = args.records - produced
    return acked, errors, args.records, remaining


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runnel", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--produce-secs", type=float, default=70)
    ap.add_argument("--bound", type=float, default=300)
    ap.add_argument("--client", choices=["librdkafka", "java"], default="librdkafka")
    args = ap.parse_args()
    deadline = time.time() + args.bound
    os.makedirs(args.work, exist_ok=True)
    shutil.rmtree(os.path.join(args.work, "data"), ignore_errors=True)
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = Broker(args.runnel, args.work, port)
    results = {"pass": 0, "fail": 0}
    prefix = f"durability.{args.client}"

    def check(name, ok, why):
        results["pass" if ok else "fail"] += 1
        print(f"PASS {name}" if ok else f"FAIL {name}: {why}", flush=True)

    topic = "durability"
    try:
        broker.start()
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic].result(20)

        # the driver: kills spread over the produce phase, the first after ~8% of it
        stop_driver = threading.Event()
        driver_error = []
        t_start = time.time()

        def driver():
            try:
                for k in range(args.kills):
                    at = t_start + args.produce_secs * (k + 0.6) / (args.kills + 0.5)
                    while time.time() < at:
                        if stop_driver.wait(0.05):
                            return
                    broker.kill()
                    time.sleep(random.uniform(0.2, 1.5))
                    broker.start()
            except Exception as e:  # noqa: BLE001 -- reported as a failed check
                driver_error.append(e)

        thread = threading.Thread(target=driver, daemon=True)
        thread.start()
        produce = produce_java if args.client == "java" else produce_librdkafka
        acked, errors, produced, remaining = produce(args, bootstrap, topic, t_start, deadline)
        thread.join(max(0.0, args.produce_secs + 30 - (time.time() - t_start)))
        stop_driver.set()
        produce_secs = time.time() - t_start
        check(f"{prefix}.kills", broker.kills >= 5 and not driver_error,
              f"{broker.kills} kills, driver error {driver_error}")

        # read everything back
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "durability-unused",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        high = {}
        for p in range(args.partitions):
            high[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(args.partitions)])
        stored = {p: [] for p in range(args.partitions)}  # partition -> [(offset, seq, key)]
        want = sum(high.values())
        got = 0
        read_deadline = min(deadline - 10, time.time() + 90)
        while got < want and time.time() < read_deadline:
            for m in consumer.consume(1000, 0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(m.error())
                if m.offset() < high[m.partition()]:
                    stored[m.partition()].append((m.offset(), int(m.value()), m.key()))
                    got += 1
        consumer.close()

        at = {}
        seqs_seen = {}
        order_violations = 0
        key_partition = {}
        key_conflicts = 0
        for p, recs in stored.items():
            last = -1
            for off, seq, key in recs:
                at[(p, off)] = seq
                seqs_seen[seq] = seqs_seen.get(seq, 0) + 1
                if seq <= last:
                    order_violations += 1
                last = seq
                if key_partition.setdefault(key, p) != p:
                    key_conflicts += 1
        lost = sum(1 for seq, po in acked.items() if at.get(po) != seq)
        duplicates = sum(c - 1 for c in seqs_seen.values() if c > 1)
        unacked_stored = sum(1 for seq in seqs_seen if seq not in acked)
        print(f"INFO {prefix}: records={produced} acked={len(acked)} send_errors={len(errors)} "
              f"unflushed={remaining} kills={broker.kills} restarts={broker.starts - 1} "
              f"stored={sum(len(r) for r in stored.values())} high_watermarks={sum(high.values())} "
              f"lost_acked={lost} duplicates={duplicates} order_violations={order_violations} "
              f"key_on_two_partitions={key_conflicts} stored_unacked={unacked_stored} "
              f"produce_secs={produce_secs:.1f} "
              f"max_restart_secs={max(broker.start_secs):.2f}", flush=True)
        check(f"{prefix}.records_200k", produced >= 200_000 or args.records < 200_000, f"only {produced} produced")
        check(f"{prefix}.read_to_high_watermark", got == want, f"read {got} of {want}")
        check(f"{prefix}.no_acked_record_lost", lost == 0 and len(acked) > 0, f"{lost} lost of {len(acked)} acked")
        check(f"{prefix}.no_duplicates", duplicates == 0, f"{duplicates} duplicates")
        check(f"{prefix}.partition_order", order_violations == 0 and key_conflicts == 0,
              f"{order_violations} order violations, {key_conflicts} keys on two partitions")
        check(f"{prefix}.all_acknowledged", len(acked) == produced and remaining == 0,
              f"{len(acked)} of {produced} acknowledged, {len(errors)} errors "
              f"({errors[:2]}), {remaining} undelivered")
    except Exception as e:  # noqa: BLE001 -- the suite reports, it does not crash
        check(f"{prefix}.run", False, f"{type(e).__name__}: {e}")
    finally:
        rc = broker.stop()
        check(f"{prefix}.broker.sigterm_exit_0", rc == 0, f"exit status {rc} (None: no exit in 30 s)")
    if results["fail"] == 0:
        shutil.rmtree(os.path.join(args.work, "data"), ignore_errors=True)
    print(f"{results['pass']} passed, {results['fail']} failed", flush=True)
    return 0 if results["fail"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
