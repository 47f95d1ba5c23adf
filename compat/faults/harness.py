"""compat/faults/harness.py -- the replicated cluster under faults (issue 6), with real clients.

Usage: python harness.py --runnel BIN --work DIR [--cycles 20 | --long] [--seed 1]
                         [--bound SECONDS] [--rate 400] [--no-namespaces] [--txn]

1. Starts three `runnel serve` nodes (broker and controller each), every one in its own network
   namespace when the machine allows (cluster.py), and creates topic `faults` with 3 partitions,
   replication factor 3 and min.insync.replicas=2.
2. Runs an idempotent acks=all producer (librdkafka, confluent-kafka) writing unique values at a
   bounded rate, a consumer reading every partition continuously, and a metadata watcher that
   logs every ISR change.
3. Injects one fault per cycle, in turn (reliability.md's names): F1 SIGKILL the leader of a
   partition and restart it; F2 SIGKILL and restart a follower; F4 SIGSTOP the leader past the
   session timeout, then SIGCONT; F5 isolate the leader from the other nodes (iptables in its
   namespace; clients still reach it), then heal; F11 SIGKILL both followers: no write may be
   acknowledged while they are down; F20 SIGKILL the active controller; F22 SIGKILL a node,
   wipe its data folder, restart it empty. After each fault: heal, then wait (bounded) for every
   partition to have a leader and a full ISR.
   With --txn (the compat suite passes it): the transactional workload (txn_workload.py: a
   transactional producer committing and deliberately aborting transactions over topic
   `txn-in`, a consume-transform-produce copier into `txn-out`, a read_committed observer) runs
   beside, and fault F23 joins the turn: SIGKILL the node that is the transaction coordinator of
   the producer's (or, every other time, the copier's) transactional.id (FindCoordinator key
   type 1), then restart it.
4. Stops the producer, reads every partition from its start to its high watermark, and checks
   with checker.py: lost-write, unseen, duplicate, inconsistent-offsets, non-monotonic. With
   --txn: lets the copier catch up, reads both transactional topics read_committed and
   read_uncommitted, and checks with txn_checker.py: aborted-read (G1a), intermediate-read
   (G1b), lost-write, duplicate, torn-transaction, inconsistent-offsets (cases `txn.*`).
5. Reports availability (time from a leader's SIGKILL to the next acknowledged write on each
   partition it led: p50/p99), the ISR shrinks and rejoins seen, `kafka-topics --describe`
   (Kafka's own tool) after healing, and stops the nodes with SIGTERM (exit status 0 expected).

Prints `PASS name` / `FAIL name: why` / `INFO ...` lines and exits 0 only when every check
passes. Every wait is bounded, the whole run by --bound; processes, namespaces and links are
removed on every exit path.
"""
import argparse
import atexit
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checker import check  # noqa: E402
from cluster import Cluster  # noqa: E402
import txn_checker  # noqa: E402
import txn_workload  # noqa: E402

TOPIC = "faults"
PARTITIONS = 3
SESSION_TIMEOUT_MS = 3000
FAULTS = ["F1", "F2", "F4", "F5", "F11", "F20", "F22"]

results = []


def say(kind, text):
    line = f"{kind} {text}"
    print(line, flush=True)
    if kind in ("PASS", "FAIL"):
        results.append(kind)


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


class Harness:
    def __init__(self, args):
        self.args = args
        os.makedirs(args.work, exist_ok=True)
        self.log = Log(os.path.join(args.work, "harness.log"))
        settings = {
            "broker.session.timeout.ms": SESSION_TIMEOUT_MS,
            "broker.heartbeat.interval.ms": 500,
            "replica.lag.time.max.ms": 4000,
            "offsets.topic.replication.factor": 3,
            "offsets.topic.num.partitions": 3,
            "num.partitions": PARTITIONS,
        }
        if args.txn:
            settings.update({
                "transaction.state.log.replication.factor": 3,
                "transaction.state.log.min.isr": 2,
                "transaction.state.log.num.partitions": 3,
            })
        self.cluster = Cluster(args.runnel, args.work, settings=settings,
                               use_namespaces=not args.no_namespaces, log=self.log)
        self.admin = None
        self.workload = None
        self.deadline = time.time() + args.bound
        self.availability = []
        self.faults = args.faults.split(",") if args.faults else FAULTS + (["F23"] if args.txn else [])
        self.txn = None
        self.coordinator_kills = 0

    def close_clients(self):
        """Stops every client before the network goes: a client left running would reconnect
        to the nodes' addresses after their namespaces are gone."""
        if self.workload is not None:
            self.workload.stop_producing.set()
            self.workload.stop_all.set()
            for t in self.workload.threads:
                t.join(timeout=150)
        if self.txn is not None:
            self.txn.stop_producing.set()
            self.txn.stop_copying.set()
            self.txn.stop_all.set()
            for t in self.txn.threads:
                t.join(timeout=150)
        self.admin = None
        import gc
        gc.collect()

    def remaining(self):
        return self.deadline - time.time()

    def metadata(self):
        md = self.admin.list_topics(TOPIC, timeout=3)
        return md.topics[TOPIC].partitions

    def leader_of(self, partition):
        for _ in range(40):
            try:
                leader = self.metadata()[partition].leader
                if leader >= 1:
                    return leader
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.25)
        raise RuntimeError(f"no leader for {TOPIC}-{partition}")

    def controller(self):
        for _ in range(40):
            try:
                described = self.admin.describe_cluster(request_timeout=3).result(timeout=5)
                if described.controller is not None and described.controller.id >= 1:
                    return described.controller.id
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.25)
        raise RuntimeError("no active controller")

    def wait_healthy(self, what, bound=90):
        end = time.time() + min(bound, max(1, self.remaining()))
        last = None
        while time.time() < end:
            try:
                partitions = self.metadata()
                last = {p: (pm.leader, sorted(pm.isrs)) for p, pm in partitions.items()}
                # A restarted node's registration takes it out of every ISR: until it has
                # registered, a full ISR may be the old incarnation's.
                if self.cluster.registered() and len(partitions) == PARTITIONS and all(
                        pm.leader >= 1 and len(pm.isrs) == 3 for pm in partitions.values()):
                    return True
            except Exception as e:  # noqa: BLE001
                last = str(e)
            time.sleep(0.3)
        say("FAIL", f"healthy after {what}: no full ISR within {bound}s (last {last})")
        return False

    def setup(self):
        self.cluster.setup_network()
        self.cluster.start_all()
        self.admin = AdminClient({"bootstrap.servers": self.cluster.bootstrap()})
        end = time.time() + 60
        while time.time() < end:
            try:
                futures = self.admin.create_topics(
                    [NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2"})],
                    request_timeout=10)
                futures[TOPIC].result(timeout=15)
                break
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" in str(e):
                    break
                time.sleep(0.5)
        else:
            raise RuntimeError("could not create the topic")
        if self.args.txn:
            txn_workload.create_topics(self.admin)
        mode = "network namespaces" if self.cluster.namespaces else "loopback"
        say("INFO", f"cluster of 3 nodes on {mode}: {self.cluster.bootstrap()}")
        return self.wait_healthy("start")

    # -- faults ---------------------------------------------------------------------------
    def fault(self, name, rng, workload):
        c = self.cluster
        partition = rng.randrange(PARTITIONS)
        if name == "F5" and not c.can_isolate:
            name = "F1"
        if name == "F1":
            leader = self.leader_of(partition)
            led = {p for p, pm in self.metadata().items() if pm.leader == leader}
            t = time.time()
            c.kill(leader)
            self.log(f"F1: SIGKILL leader {leader} of {sorted(led)}")
            time.sleep(SESSION_TIMEOUT_MS / 1000 + 1.5)
            c.start(leader)
            self.availability.append((t, led))
        elif name == "F2":
            leader = self.leader_of(partition)
            follower = rng.choice([i for i in c.ids if i != leader])
            c.kill(follower)
            self.log(f"F2: SIGKILL follower {follower}")
            time.sleep(2)
            c.start(follower)
        elif name == "F4":
            leader = self.leader_of(partition)
            c.pause(leader)
            self.log(f"F4: SIGSTOP leader {leader}")
            time.sleep(SESSION_TIMEOUT_MS / 1000 + 2)
            c.resume(leader)
        elif name == "F5":
            leader = self.leader_of(partition)
            c.isolate(leader)
            self.log(f"F5: isolate leader {leader} from the other nodes")
            time.sleep(SESSION_TIMEOUT_MS / 1000 + 3)
            c.heal(leader)
        elif name == "F11":
            leader = self.leader_of(partition)
            followers = [i for i in c.ids if i != leader]
            for f in followers:
                c.kill(f)
            t = time.time()
            self.log(f"F11: SIGKILL followers {followers}")
            time.sleep(5)
            # Nothing written after both followers died may be acknowledged (min ISR 2); one
            # second of grace covers acknowledgements already on the wire.
            late = [a for a in workload.acked_since(t + 1.0) if a[3] < time.time()]
            if late:
                say("FAIL", f"F11: {len(late)} writes acknowledged with two followers down, e.g. {late[:3]}")
            for f in followers:
                c.start(f)
            return "F11", not late
        elif name == "F20":
            controller = self.controller()
            c.kill(controller)
            self.log(f"F20: SIGKILL active controller {controller}")
            time.sleep(2)
            c.start(controller)
        elif name == "F22":
            leader = self.leader_of(partition)
            victim = rng.choice([i for i in c.ids if i != leader])
            c.kill(victim)
            c.wipe(victim)
            self.log(f"F22: node {victim} returns with an empty data folder")
            time.sleep(1)
            c.start(victim)
        elif name == "F23":
            txid = txn_workload.PRODUCER_ID if self.coordinator_kills % 2 == 0 else txn_workload.COPIER_ID
            self.coordinator_kills += 1
            node = self.txn_coordinator(txid)
            c.kill(node)
            self.log(f"F23: SIGKILL node {node}, transaction coordinator of {txid}")
            time.sleep(SESSION_TIMEOUT_MS / 1000 + 1.5)
            c.start(node)
        return name, True

    def txn_coordinator(self, txid):
        """The node FindCoordinator (key type 1) names for txid, asking each live node in turn."""
        last = None
        for _ in range(40):
            for i in self.cluster.ids:
                if not self.cluster.alive(i):
                    continue
                try:
                    error, node = txn_workload.find_coordinator(self.cluster.address(i), txid)
                    if error == 0 and node >= 1:
                        return node
                    last = f"error {error} node {node}"
                except OSError as e:
                    last = str(e)
            time.sleep(0.25)
        raise RuntimeError(f"no transaction coordinator for {txid} (last {last})")

    def tool(self, *args, timeout=120):
        """Runs one of Kafka's Java tools (compat/kafka-tools.sh); returns (status, stdout)."""
        tools = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kafka-tools.sh")
        out = subprocess.run([tools, "run", *args], capture_output=True, text=True, timeout=timeout)
        return out.returncode, out.stdout + out.stderr

    def java_clients(self):
        """Kafka's own tools against the healed cluster: describe, preferred leader election,
        and a Java producer and consumer on a new replicated topic."""
        if shutil.which("java") is None:
            say("SKIP", "java tools: java is not installed")
            return
        bootstrap = self.cluster.bootstrap()
        try:
            _, out = self.tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap,
                               "--describe", "--topic", TOPIC)
            described = [" ".join(l.split()) for l in out.splitlines() if "Partition:" in l]
            for line in described:
                say("INFO", "kafka-topics --describe: " + line)
            if len(described) == PARTITIONS and all("Isr: " in l for l in described):
                say("PASS", "kafka-topics --describe shows leader, replicas and ISR of every partition")
            else:
                say("FAIL", f"kafka-topics --describe: {out[-300:]}")
            status, out = self.tool("org.apache.kafka.tools.LeaderElectionCommand", "--bootstrap-server",
                                    bootstrap, "--election-type", "PREFERRED", "--all-topic-partitions")
            preferred = self.wait_preferred()
            if status == 0 and preferred:
                say("PASS", "kafka-leader-election moves every partition to its preferred replica")
            else:
                say("FAIL", f"kafka-leader-election: status {status}, preferred leaders {preferred}: "
                            f"{' '.join(out.split())[-300:]}")
            status, out = self.tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap,
                                    "--create", "--topic", "java-check", "--partitions", "3",
                                    "--replication-factor", "3", "--config", "min.insync.replicas=2")
            status, out = self.tool("org.apache.kafka.tools.ProducerPerformance", "--topic", "java-check",
                                    "--num-records", "20000", "--record-size", "100", "--throughput", "-1",
                                    "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
                                    "enable.idempotence=true")
            produced = "20000 records sent" in out
            status, out = self.tool("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
                                    bootstrap, "--topic", "java-check", "--from-beginning", "--group",
                                    "java-check", "--max-messages", "20000", "--timeout-ms", "30000")
            consumed = "Processed a total of 20000 messages" in out
            if produced and consumed:
                say("PASS", "Java producer (acks=all) and group consumer: 20,000 records through the cluster")
            else:
                say("FAIL", f"Java producer/consumer: produced={produced} consumed={consumed}: "
                            f"{' '.join(out.split())[-300:]}")
        except (subprocess.SubprocessError, OSError) as e:
            say("FAIL", f"java tools: {e}")

    def wait_preferred(self, bound=30):
        end = time.time() + bound
        while time.time() < end:
            try:
                if all(pm.leader == pm.replicas[0] for pm in self.metadata().values()):
                    return True
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.3)
        return False

    def final_read(self):
        consumer = Consumer({
            "bootstrap.servers": self.cluster.bootstrap(),
            "group.id": "faults-final",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        })
        highs = {}
        for p in range(PARTITIONS):
            _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
            highs[p] = high
        consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        final = []
        positions = {p: 0 for p in range(PARTITIONS)}
        end = time.time() + 120
        while any(positions[p] < highs[p] for p in positions) and time.time() < end:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            final.append((msg.partition(), msg.offset(), msg.value().decode()))
            positions[msg.partition()] = msg.offset() + 1
        consumer.close()
        return final, highs, positions

    def check_txn(self):
        """After healing: the copier catches up, both transactional topics are read to their
        end (read_committed, read_uncommitted) and txn_checker.py judges the history."""
        txn = self.txn
        caught_up = txn.wait_copied(90)
        txn.stop_copying.set()
        txn.threads[1].join(timeout=150)
        final_rc, rc_done = txn.final_read("read_committed")
        final_ru, ru_done = txn.final_read("read_uncommitted")
        time.sleep(2)
        txn.stop_all.set()
        txn.threads[2].join(timeout=30)
        txn.save(os.path.join(self.args.work, "txn-history.json"))
        with txn.lock:
            in_txns, out_txns = dict(txn.in_txns), dict(txn.out_txns)
            observed, reads = list(txn.observed), list(txn.reads)
        anomalies = txn_checker.check(in_txns, out_txns, observed, reads, final_rc, final_ru)
        outcomes = {}
        for t in in_txns.values():
            outcomes[t["outcome"]] = outcomes.get(t["outcome"], 0) + 1
        copier = {}
        for t in out_txns.values():
            copier[t["outcome"]] = copier.get(t["outcome"], 0) + 1
        committed = sum(len(t["values"]) for t in in_txns.values() if t["outcome"] == "committed")
        totals = " ".join(f"{k}={len(v)}" for k, v in anomalies.items())
        say("INFO", f"txn: input transactions {outcomes}, copier transactions {copier}, "
                    f"F23 coordinator kills={self.coordinator_kills}, producer sessions "
                    f"{txn.sessions}, read_committed {len(final_rc)} records, read_uncommitted "
                    f"{len(final_ru)}, observed {len(observed)}; {totals}")
        for who, errors in txn.errors.items():
            if errors:
                kinds = {}
                for _, where, text in errors:
                    key = text.split(":")[0] + ": " + text.split(":", 1)[-1].strip()[:80]
                    kinds[key] = kinds.get(key, 0) + 1
                say("INFO", f"txn {who} errors: {len(errors)} {dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:4])}")
        names = {"aborted-read": "aborted-read (G1a)", "intermediate-read": "intermediate-read (G1b)"}
        for kind, found in anomalies.items():
            if found:
                say("FAIL", f"txn.{names.get(kind, kind)}: {len(found)}, e.g. {found[:3]}")
            else:
                say("PASS", f"txn.{names.get(kind, kind)}: 0 over {len(in_txns)} input and "
                            f"{len(out_txns)} copier transactions ({committed} committed input records)")
        if not (rc_done and ru_done):
            say("FAIL", f"txn.final_read: did not reach the end (read_committed {rc_done}, "
                        f"read_uncommitted {ru_done})")
        if not caught_up:
            say("FAIL", "txn.copier: did not catch up within 90s after the producer stopped")
        if outcomes.get("committed", 0) < 10 or copier.get("committed", 0) < 5:
            say("FAIL", f"txn.progress: too few committed transactions (input {outcomes}, copier {copier})")

    def run(self):
        args = self.args
        rng = random.Random(args.seed)
        if not self.setup():
            return
        workload = Workload(self.cluster.bootstrap(), args.rate, self.log, args.work)
        self.workload = workload
        workload.start()
        if args.txn:
            self.txn = txn_workload.TxnWorkload(self.cluster.bootstrap(), self.log, args.work)
            self.txn.start()
        time.sleep(2)
        done = 0
        counts = {}
        f11_ok = True
        for cycle in range(args.cycles):
            if self.remaining() < 60:
                say("INFO", f"stopping after {done} cycles: the run's bound is near")
                break
            name = self.faults[cycle % len(self.faults)]
            name, ok = self.fault(name, rng, workload)
            f11_ok &= ok
            counts[name] = counts.get(name, 0) + 1
            if not self.wait_healthy(f"{name} (cycle {cycle + 1})"):
                break
            done += 1
            time.sleep(1)
        workload.stop_producing.set()
        if self.txn is not None:
            self.txn.stop_producing.set()
        for t in workload.threads[:1]:
            t.join(timeout=150)
        time.sleep(3)
        self.wait_healthy("the last fault")
        if self.txn is not None:
            self.txn.threads[0].join(timeout=150)
        final, highs, positions = self.final_read()
        if self.txn is not None:
            self.check_txn()
        time.sleep(2)
        workload.stop_all.set()
        for t in workload.threads[1:]:
            t.join(timeout=10)
        acked = [(p, o, v) for p, o, v, _ in workload.acked]
        anomalies = check(acked, list(workload.observed), final)
        totals = " ".join(f"{k}={len(v)}" for k, v in anomalies.items())
        say("INFO", f"cluster: cycles={done} faults={counts} sent={workload.sent} acked={len(acked)} "
                    f"failed={len(workload.failed)} final={len(final)} {totals}")
        for kind, found in anomalies.items():
            if found:
                say("FAIL", f"{kind}: {len(found)}, e.g. {found[:3]}")
            else:
                say("PASS", f"{kind}: 0 of {len(acked)} acknowledged writes")
        if any(positions[p] < highs[p] for p in positions):
            say("FAIL", f"final read stopped short: positions {positions}, high watermarks {highs}")
        if done >= args.cycles:
            say("PASS", f"{done} fault cycles, every one healed to a full ISR")
        else:
            say("FAIL", f"only {done} of {args.cycles} fault cycles completed")
        if counts.get("F11"):
            if f11_ok:
                say("PASS", "F11: no write acknowledged while two of three replicas were down")
        # Availability: from a leader's SIGKILL to the next acknowledged write on its partitions.
        waits = []
        for t, led in self.availability:
            for p in led:
                later = [a[3] for a in workload.acked if a[0] == p and a[3] >= t]
                if later:
                    waits.append(min(later) - t)
        if waits:
            waits.sort()
            p50 = waits[len(waits) // 2]
            p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
            say("INFO", f"availability after a leader SIGKILL: p50 {p50:.2f}s p99 {p99:.2f}s "
                        f"over {len(waits)} partition failovers")
        if workload.fatal:
            say("INFO", f"producer fatal errors: {len(workload.fatal)} (a new producer took over "
                        f"each time; known issue, see compat/FINDINGS.md), first: {workload.fatal[0][:300]}")
        say("INFO", f"ISR changes seen: {workload.isr_changes['shrink']} shrinks, "
                    f"{workload.isr_changes['expand']} rejoins (harness.log lists them)")
        self.java_clients()
        statuses = self.cluster.stop_all()
        bad = {i: s for i, s in statuses.items() if s != 0}
        if bad:
            say("FAIL", f"clean shutdown: exit statuses {bad}")
        else:
            say("PASS", "every node stopped cleanly on SIGTERM")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runnel", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--long", action="store_true", help="200 cycles")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=int, default=400, help="records per second")
    parser.add_argument("--bound", type=int, default=900, help="seconds for the whole run")
    parser.add_argument("--no-namespaces", action="store_true")
    parser.add_argument("--faults", help="comma-separated subset of F1,F2,F4,F5,F11,F20,F22 (F23 with --txn), in turn")
    parser.add_argument("--txn", action="store_true",
                        help="run the transactional workload (txn_workload.py) and fault F23 too")
    args = parser.parse_args()
    if args.long:
        args.cycles = max(args.cycles, 200)
        args.bound = max(args.bound, 200 * 20 + 300)
    harness = Harness(args)
    atexit.register(harness.cluster.destroy)
    atexit.register(harness.close_clients)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    alarm = threading.Timer(args.bound + 120, lambda: os.kill(os.getpid(), signal.SIGTERM))
    alarm.daemon = True
    alarm.start()
    try:
        harness.run()
    except Exception as e:  # noqa: BLE001 -- reported as a failure, cleanup still runs
        say("FAIL", f"harness error: {e!r}")
    finally:
        harness.close_clients()
        harness.cluster.destroy()
    sys.exit(0 if results and "FAIL" not in results else 1)


if __name__ == "__main__":
    main()
