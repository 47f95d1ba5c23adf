"""compat/faults/harness.py -- the replicated cluster under faults (issue 6), with real clients.

Usage: python harness.py --runnel BIN --work DIR [--cycles 20 | --rounds N | --long] [--seed 1]
                         [--faults F1,F6:bridge,...] [--f9 auto|tc|nfqueue] [--bound SECONDS]
                         [--rate 400] [--no-namespaces] [--txn] [--fsync]

1. Checks --faults before anything starts: an unknown fault or variant, or a fault this machine
   cannot run (network faults without namespaces, F9 without tc netem or NFQUEUE, F26 without
   --txn, F15 without --fsync) exits 2 with the reason. Without --faults the default rotation
   (faults.ROTATION, F26 with --txn, F15 with --fsync) runs, and what cannot run here is printed
   as SKIP and left out, never replaced. --fsync starts the nodes with log.flush.on.ack=true.
2. Starts three `runnel serve` nodes (broker and controller each), every one in its own network
   namespace when the machine allows (cluster.py), and creates topic `faults` with 3 partitions,
   replication factor 3, min.insync.replicas=2 and 128 KiB segments (so segments roll under
   faults).
3. Runs an idempotent acks=all producer (librdkafka, confluent-kafka) writing unique values at a
   bounded rate, a consumer reading every partition continuously (assign), a metadata watcher
   logging every ISR change, and a consumer group of three member processes (subscribe, manual
   commits; group_workload.py) whose committed offsets are watched. With --txn (the compat suite
   passes it) the transactional workload (txn_workload.py) runs beside.
4. Injects one fault per cycle, in turn (faults.py: mechanisms and the reasons for them; --rounds N
   runs each N times): F1 leader SIGKILL, F2 follower SIGKILL, F3 clean rolling restart, F4
   SIGSTOP leader, F5 leader isolated, F6 minority split / bridge, F7 one-way partition, F9 netem
   (netem.py), F11 both followers down, F12 / F13 / F15 (--fsync) power loss on one node, on a
   minority with pauses, on every node (power.py), F16 segment bit flips / truncation (corrupt.py), F17
   index and snapshot files deleted / corrupt / stale, F20 active controller SIGKILL, F22 empty
   data folder, F23 consumer bounces, F24 group coordinator failover, F26 (--txn) transaction
   coordinator SIGKILL. After each: heal, then wait (bounded) for every partition to have a
   leader and a full ISR.
5. Stops the producer, reads every partition from its start to its high watermark, and checks
   with checker.py: lost-write, unseen, duplicate, inconsistent-offsets, non-monotonic; the
   group's (group_workload.py): committed-monotonic, lag, unseen, inconsistent-offsets,
   nonmonotonic-poll, poll-skip; with --txn, txn_checker.py's `txn.*` cases.
6. Reports availability (time from a leader's SIGKILL to the next acknowledged write on each
   partition it led: p50/p99), what each fault did and what the nodes logged about damaged files,
   the ISR shrinks and rejoins seen, `kafka-topics --describe` (Kafka's own tool) after healing,
   stops the nodes with SIGTERM (exit status 0 expected), then compares the replicas' files
   (corrupt.py): replica-divergence (every replica of every non-compacted partition
   byte-identical) and index-consistency (every index entry names a batch of its log), and reads
   the node logs for restart-stale-roles (no restarted node led a partition from an image part-way
   through its metadata replay).

Prints `PASS name` / `FAIL name: why` / `SKIP name: why` / `INFO ...` lines and exits 0 only when
every check passes. Every wait and loop is bounded, the whole run by --bound (an alarm at
--bound + 120 s); processes (nodes, group members, the F9 delayer), namespaces, links, rules and
queueing disciplines are removed on every exit path (SIGKILL of the harness itself excepted:
members and the delayer then exit on their own bound or when they see their parent gone).
Measured results and known failures: compat/faults/README.md and docs/RELIABILITY.md.
"""
import argparse
import atexit
import datetime
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checker import check  # noqa: E402
from cluster import Cluster, capabilities  # noqa: E402
import corrupt  # noqa: E402
import disk  # noqa: E402
import faults  # noqa: E402
import group_workload  # noqa: E402
import quorum  # noqa: E402
import txn_checker  # noqa: E402
import txn_workload  # noqa: E402
from workload import PARTITIONS, TOPIC, Log, Workload  # noqa: E402

SESSION_TIMEOUT_MS = 3000
# Small segments so that every run rolls segments under faults and F16 finds sealed ones.
SEGMENT_BYTES = 131072
KNOWN_DIRTY = (" -- known broker bug: OffsetFetch answers from the coordinator's memory, where a commit "
               "lands before it reaches the ISR; see compat/faults/README.md")
KNOWN_STALE = (" -- acknowledged commits read back older: a coordinator served a group state that lacks "
               "them (seen before the fix of known bug 2: a coordinator reused the shard it had loaded "
               "at an older leader epoch); see compat/faults/README.md")
KNOWN_SEALED = faults.KNOWN.get("F16:sealed", "the damage F16:sealed left")

results = []


def say(kind, text):
    line = f"{kind} {text}"
    print(line, flush=True)
    if kind in ("PASS", "FAIL"):
        results.append(kind)


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
            # Damage at rest below the recovery point (F16:sealed) is found at start and cut,
            # the replica re-fetching it (off by default: it reads the whole log at start).
            "log.verify.on.start": "true",
        }
        if args.fsync:
            settings["log.flush.on.ack"] = "true"
        if args.txn:
            settings.update({
                "transaction.state.log.replication.factor": 3,
                "transaction.state.log.min.isr": 2,
                "transaction.state.log.num.partitions": 3,
            })
        self.cluster = Cluster(args.runnel, args.work, settings=settings,
                               use_namespaces=not args.no_namespaces, log=self.log)
        self.cluster.fake_clock = any(name == "F10" for name, _ in args.selected)
        self.cluster.dynamic_quorum = args.dynamic_quorum
        if any(name in ("F18", "F19") for name, _ in args.selected):
            os.makedirs(args.work, exist_ok=True)
            why = disk.build(args.work)
            if why:
                raise RuntimeError(f"F18/F19: {why}")
            self.cluster.disk_faults = True
        self.admin = None
        self.workload = None
        self.deadline = time.time() + args.bound
        self.availability = []
        self.faults = args.selected
        self.txn = None
        self.group = None
        self.coordinator_kills = 0
        # What faults.py reads: the topic, the timeouts, the chosen F9 mechanism, what F16 left.
        self.topic, self.partitions = TOPIC, PARTITIONS
        self.session_timeout_s = SESSION_TIMEOUT_MS / 1000
        self.f9_mechanism = args.f9_mechanism
        self.sealed_damage = []
        self.damaged_files = {}   # path -> (size, mtime) right after F17 damaged it
        self.notes = []
        self.say = say

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
        if self.group is not None:
            self.group.stop.set()
            self.group.thread.join(timeout=30)
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
                    [NewTopic(TOPIC, PARTITIONS, 3, config={"min.insync.replicas": "2",
                                                            "segment.bytes": str(SEGMENT_BYTES)})],
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
        if self.args.dynamic_quorum:
            if not quorum.form(self):
                say("FAIL", "dynamic quorum: nodes 2 and 3 could not be added as voters")
                return False
            say("INFO", "dynamic controller quorum: voters 1, 2, 3 (node 1 formed it standalone)")
        return self.wait_healthy("start")

    # -- faults (faults.py) -----------------------------------------------------------------
    def fault(self, name, variant, rng, occurrence):
        """Injects, holds and heals one fault (faults.FAULTS); False when its own check failed."""
        return faults.FAULTS[name].run(self, rng, occurrence, variant)

    def note(self, fault, text):
        """A fact about one cycle of a fault, reported as INFO at the end."""
        self.notes.append((fault, text))
        self.log(f"{fault}: {text}")

    def coordinator(self, key, key_type):
        """The node FindCoordinator names for key (0: a group, 1: a transactional id), asking each
        live node in turn."""
        last = None
        for _ in range(40):
            for i in self.cluster.ids:
                if not self.cluster.alive(i):
                    continue
                try:
                    error, node = txn_workload.find_coordinator(self.cluster.address(i), key, key_type)
                    if error == 0 and node >= 1:
                        return node
                    last = f"error {error} node {node}"
                except OSError as e:
                    last = str(e)
            time.sleep(0.25)
        raise RuntimeError(f"no coordinator for {key} (last {last})")

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
        # What the copier's transaction looked like while it was stuck (before closing it out).
        stall_state = None if caught_up else self.describe_transactions()
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
                    f"F26 coordinator kills={self.coordinator_kills}, producer sessions "
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
            say("FAIL", "txn.copier: did not catch up within 90s after the producer stopped; "
                        + self.copier_stall_evidence(stall_state))
        if outcomes.get("committed", 0) < 10 or copier.get("committed", 0) < 5:
            say("FAIL", f"txn.progress: too few committed transactions (input {outcomes}, copier {copier})")

    def describe_transactions(self):
        """kafka-transactions describe of both transactional ids (Kafka's own tool): their
        coordinator, state and partitions, one line each."""
        if shutil.which("java") is None:
            return "java is not installed"
        lines = []
        for txid in (txn_workload.PRODUCER_ID, txn_workload.COPIER_ID):
            try:
                _, out = self.tool("org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server",
                                   self.cluster.bootstrap(), "describe", "--transactional-id", txid,
                                   timeout=60)
            except subprocess.TimeoutExpired:
                out = "timed out"
            lines.append(f"{txid}: " + " | ".join(" ".join(l.split()) for l in out.splitlines()[-2:]))
        return "; ".join(lines)

    def copier_stall_evidence(self, described):
        """The copier's last errors, the transactions' state and the brokers' warnings about
        transactions: what a post-mortem of a stuck copier needs, in the FAIL line itself."""
        with self.txn.lock:
            errors = list(self.txn.errors["copier"])[-3:]
            idle = time.time() - self.txn.copier_last_activity
        now = time.time()
        said = {}
        for i in self.cluster.ids:
            for line in self.cluster.log_since(i, 0).splitlines():
                if "WARN" in line and ("transaction" in line or "marker" in line):
                    key = f"node {i}: " + line.split("WARN", 1)[1].strip()[:120]
                    said[key] = said.get(key, 0) + 1
        warnings = "; ".join(f"{n}x {k}" for k, n in list(said.items())[-6:])
        return (f"idle {idle:.0f}s; last copier errors "
                f"{[(round(now - t), where, text[:100]) for t, where, text in errors]}; "
                f"transactions: {described}; broker warnings: {warnings or 'none'}")

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
        self.group = group_workload.GroupWorkload(self.cluster, self.log, args.work)
        self.group.start(bound=args.bound + 180)
        if not self.group.wait_stable(60):
            say("FAIL", f"group: {group_workload.MEMBERS} members did not settle within 60s of their start "
                        f"({self.group.assignments()})")
        time.sleep(2)
        done = 0
        counts, occurrences, fault_ok, times = {}, {}, {}, {}
        for cycle in range(args.cycles):
            if self.remaining() < 60:
                say("INFO", f"stopping after {done} cycles: the run's bound is near")
                break
            name, pinned = self.faults[cycle % len(self.faults)]
            fault = faults.FAULTS[name]
            k = occurrences.get(name, 0)
            occurrences[name] = k + 1
            # The default turn leaves out the variants of known open bugs (faults.KNOWN): they
            # fail every time and run when pinned (--faults F16:sealed), not in CI.
            turn = [v for v in fault.variants if f"{name}:{v}" not in faults.KNOWN] or list(fault.variants)
            variant = pinned or turn[k % len(turn)]
            label = f"{name}:{variant}" if variant else name
            self.log(f"cycle {cycle + 1}: {label} ({fault.what})")
            t0 = time.time()
            ok = self.fault(name, variant, rng, k)
            counts[label] = counts.get(label, 0) + 1
            fault_ok[name] = fault_ok.get(name, True) and ok
            if not self.wait_healthy(f"{label} (cycle {cycle + 1})"):
                break
            times.setdefault(name, []).append(time.time() - t0)
            done += 1
            time.sleep(1)
        workload.stop_producing.set()
        if self.txn is not None:
            self.txn.stop_producing.set()
        for t in workload.threads[:1]:
            t.join(timeout=150)
        stopped = time.time()
        time.sleep(3)
        self.wait_healthy("the last fault")
        if self.txn is not None:
            self.txn.threads[0].join(timeout=150)
        final, highs, positions = self.final_read()
        if self.txn is not None:
            self.check_txn()
        acked = [(p, o, v) for p, o, v, _ in workload.acked]
        self.check_group(acked, final, highs, stopped)
        time.sleep(2)
        workload.stop_all.set()
        for t in workload.threads[1:]:
            t.join(timeout=10)
        anomalies = check(acked, list(workload.observed), final)
        totals = " ".join(f"{k}={len(v)}" for k, v in anomalies.items())
        say("INFO", f"cluster: cycles={done} faults={counts} sent={workload.sent} acked={len(acked)} "
                    f"failed={len(workload.failed)} final={len(final)} {totals}")
        for fault, text in self.notes:
            say("INFO", f"{fault}: {text}")
        say("INFO", "seconds per cycle (fault, hold, heal, full ISR): " + ", ".join(
            f"{n} {sum(ts) / len(ts):.1f}" for n, ts in times.items()))
        for kind, found in anomalies.items():
            if found:
                say("FAIL", f"{kind}: {len(found)}, e.g. {found[:3]}{self.attribute(found)}")
            else:
                say("PASS", f"{kind}: 0 of {len(acked)} acknowledged writes")
        if any(positions[p] < highs[p] for p in positions):
            say("FAIL", f"final read stopped short: positions {positions}, high watermarks {highs}")
        if done >= args.cycles:
            say("PASS", f"{done} fault cycles, every one healed to a full ISR")
        else:
            say("FAIL", f"only {done} of {args.cycles} fault cycles completed")
        for name in fault_ok:
            if fault_ok[name]:
                say("PASS", f"{name}: {occurrences[name]} cycles ({faults.FAULTS[name].what}), its own checks held")
        self.report_availability(workload)
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
        self.check_files({i for i, s in statuses.items() if s == 0})
        self.check_restart_roles()

    def attribute(self, found):
        """For a FAIL about records: which of them lie in a batch F16:sealed damaged."""
        hits = 0
        for item in found:
            if isinstance(item, tuple) and len(item) >= 3 and isinstance(item[0], int) and isinstance(item[1], int):
                p, o = item[0], item[1]
                hits += any(dp == p and d["offsets"] and d["offsets"][0] <= o <= d["offsets"][1]
                            for _, dp, d in self.sealed_damage)
        return f" ({hits} of them in batches F16:sealed damaged: {KNOWN_SEALED})" if hits else ""

    def report_availability(self, workload):
        """From a leader's SIGKILL to the next acknowledged write on each partition it led."""
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

    def check_group(self, acked, final, highs, stopped):
        """F23/F24's criteria (group_workload.py) once the producer has stopped (at `stopped`)."""
        g = self.group
        bound = group_workload.SESSION_TIMEOUT_MS / 1000 + 30
        caught_up = g.wait_caught_up(highs, stopped, bound)
        g.finish()
        polls, assignments, errors = g.history()
        anomalies = group_workload.check(polls, acked, final)
        say("INFO", f"group: {len(g.all_files)} member incarnations, {assignments} assignments, "
                    f"{len(polls)} records received, {errors} commit errors, committed offsets "
                    f"{g.latest_committed()}, high watermarks {highs}")
        if g.backwards:
            commits = g.commits()
            kinds = {}
            for p, high, low, _ in g.backwards:
                kind = commits.get((p, high), "never committed by a member")
                kinds.setdefault(kind, set()).add((p, high, low))
            detail = "; ".join(f"higher offset {kind}: {sorted(v)[:4]}" for kind, v in kinds.items())
            say("FAIL", f"group.committed-monotonic: {len(g.backwards)} reads of a committed offset lower than "
                        f"an earlier read ({detail}){KNOWN_DIRTY if 'failed' in kinds else ''}"
                        f"{KNOWN_STALE if 'acknowledged' in kinds else ''}")
        else:
            say("PASS", f"group.committed-monotonic: {len(g.committed)} committed offsets read, none went back")
        if caught_up is None:
            say("FAIL", f"group.lag: committed offsets {g.latest_committed()} did not reach the high "
                        f"watermarks {highs} within {bound:.0f}s")
        else:
            say("PASS", f"group.lag: 0 within {caught_up:.1f}s of the producer's end (bound {bound:.0f}s)")
        for kind, found in anomalies.items():
            if found:
                say("FAIL", f"group.{kind}: {len(found)}, e.g. {found[:3]}{self.attribute(found)}")
            else:
                say("PASS", f"group.{kind}: 0 ({len(polls)} records received by the group)")

    def check_restart_roles(self):
        """restart-stale-roles: a restarted node takes its partitions' roles from metadata it has
        caught up with, never from an image part-way through replaying its metadata log (seen
        before the fix: a node led partitions at epochs long gone for ~100 ms after a restart;
        an idempotent producer it answered then got OUT_OF_ORDER_SEQUENCE_NUMBER later)."""
        found = []
        for i in self.cluster.ids:
            found += stale_roles_at_start(self.cluster.log_since(i, 0), i)
        if found:
            say("FAIL", f"restart-stale-roles: {len(found)}, e.g. {found[:3]}")
        else:
            say("PASS", "restart-stale-roles: no restarted node led a partition from stale metadata")

    def check_files(self, clean):
        """After the final SIGTERM: replicas byte-identical, indexes matching their logs."""
        dirs = {i: self.cluster.data_dir(i) for i in self.cluster.ids}
        problems = corrupt.compare_replicas(dirs, {TOPIC, "txn-in", "txn-out", "java-check"})
        if problems:
            known = [p for p in problems if any(f"{TOPIC}-{dp} " in p or f"{TOPIC}-{dp}:" in p
                                                for _, dp, _ in self.sealed_damage)]
            say("FAIL", f"replica-divergence: {len(problems)} problems, e.g. {problems[:3]}" +
                (f" ({len(known)} in partitions F16:sealed damaged: {KNOWN_SEALED})" if known else ""))
        else:
            say("PASS", "replica-divergence: every replica of every partition byte-identical after the run")
        # Files F17 damaged and the broker never reopened since (it checks a sealed segment's
        # indexes when it first reads it) are left out, and counted.
        untouched, problems = 0, []
        for i in sorted(clean):
            for path, problem in corrupt.check_indexes(dirs[i]):
                if self.damaged_files.get(path) == corrupt.stamp(path):
                    untouched += 1
                elif any(i == n and f"{TOPIC}-{dp}/" in problem for n, dp, _ in self.sealed_damage):
                    problems.append(f"node {i}: {problem} ({KNOWN_SEALED})")
                else:
                    problems.append(f"node {i}: {problem}")
        note = (f"; {untouched} index files F17 damaged were never reopened by the broker (it validates "
                f"a sealed segment's indexes on first use) and are not judged") if untouched else ""
        if problems:
            say("FAIL", f"index-consistency: {len(problems)} problems, e.g. {problems[:3]}{note}")
        else:
            say("PASS", f"index-consistency: every index entry of nodes {sorted(clean)} names a batch of its "
                        f"log{note}")


ROLE_CHANGED = re.compile(r'partition role changed partition=TopicPartition \{ topic: "([^"]+)", '
                          r'partition: (\d+) \} leader=Some\((\d+)\) epoch=(\d+)')


def stale_roles_at_start(text, node, window_s=0.3):
    """Partitions a (re)started node took the lead of and lost to a higher epoch within `window_s`
    of its first role: it applied an image from the middle of its metadata replay (a
    leadership it had lost long ago) instead of waiting to catch up."""
    found, first, started = [], {}, None
    for line in text.splitlines():
        if "broker started" in line:
            first, started = {}, line[:26]
            continue
        m = ROLE_CHANGED.search(line)
        if not m or started is None:
            continue
        try:
            at = datetime.datetime.fromisoformat(line[:26].rstrip("Z"))
        except ValueError:
            continue
        key = (m[1], int(m[2]))
        leader, epoch = int(m[3]), int(m[4])
        if key not in first:
            first[key] = (at, leader, epoch)
            continue
        at0, leader0, epoch0 = first[key]
        if leader0 == node and leader != node and epoch > epoch0 and (at - at0).total_seconds() <= window_s:
            found.append(f"node {node} started {started}: led {key[0]}-{key[1]} at epoch {epoch0}, "
                         f"then node {leader} at epoch {epoch} {(at - at0).total_seconds() * 1000:.0f} ms later")
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runnel", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--rounds", type=int,
                        help="every fault of the selection this many times (cycles = rounds x faults)")
    parser.add_argument("--long", action="store_true", help="200 cycles")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=int, default=400, help="records per second")
    parser.add_argument("--bound", type=int, default=900, help="seconds for the whole run")
    parser.add_argument("--no-namespaces", action="store_true")
    parser.add_argument("--faults", help="comma-separated faults (reliability.md's names, optionally "
                        "NAME:variant), in turn; default: " + ",".join(faults.ROTATION) + " (+F26 with --txn)")
    parser.add_argument("--f9", dest="f9_mechanism", choices=["auto", "tc", "nfqueue"], default="auto",
                        help="F9's mechanism (netem.py); auto: tc netem when the kernel has it")
    parser.add_argument("--txn", action="store_true",
                        help="run the transactional workload (txn_workload.py) and fault F26 too")
    parser.add_argument("--dynamic-quorum", action="store_true",
                        help="a dynamic controller quorum (KIP-853: bootstrap servers, node 1 formatted "
                             "standalone, 2 and 3 added with kafka-metadata-quorum); adds F28")
    parser.add_argument("--fsync", action="store_true",
                        help="nodes fsync before acknowledging (log.flush.on.ack=true); allows F15")
    args = parser.parse_args()
    # Refuse what cannot run before anything starts: unknown names first, then what this
    # machine lacks (probed in a throw-away namespace).
    everything = {"namespaces": True, "netem": True, "nfqueue": True, "why": ""}
    try:
        faults.select(args.faults, args.txn, everything, "auto", args.fsync, args.dynamic_quorum)
        caps = dict(capabilities()) if not args.no_namespaces else dict(
            everything, namespaces=False, why="--no-namespaces")
        if args.f9_mechanism == "auto":
            args.f9_mechanism = "tc" if caps["netem"] else "nfqueue"
        args.selected, skips = faults.select(args.faults, args.txn, caps, args.f9_mechanism, args.fsync,
                                             args.dynamic_quorum)
    except ValueError as e:
        print(f"harness.py: {e}", file=sys.stderr)
        sys.exit(2)
    if args.rounds:
        args.cycles = args.rounds * len(args.selected)
    if args.long:
        args.cycles = max(args.cycles, 200)
        args.bound = max(args.bound, 200 * 20 + 300)
    for line in skips:
        say("SKIP", line)
    harness = Harness(args)
    atexit.register(harness.cluster.destroy)
    atexit.register(harness.close_clients)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    alarm = threading.Timer(args.bound + 120, lambda: os.kill(os.getpid(), signal.SIGTERM))
    alarm.daemon = True
    alarm.start()
    known = [k for k in faults.KNOWN if any(n == k.split(":")[0] and v in (None, k.split(":")[1])
                                            for n, v in args.selected) and (args.txn or k != "F17:stale")]
    for k in known:
        say("INFO", f"known failure expected from {k}: {faults.KNOWN[k]}")
    say("INFO", f"faults in turn: {','.join(n + (':' + v if v else '') for n, v in args.selected)}; "
                f"{args.cycles} cycles, seed {args.seed}, " +
                ("fsync mode (log.flush.on.ack=true)" if args.fsync else "page-cache flush mode") +
                (f", F9 by {args.f9_mechanism}" if any(n == 'F9' for n, _ in args.selected) else ""))
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
