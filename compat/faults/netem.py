"""compat/faults/netem.py -- fault F9: delay, jitter, loss, duplication and reordering between nodes.

Two mechanisms, chosen once per run (harness.py --f9 auto|tc|nfqueue; auto takes tc when the
kernel has it, see cluster.capabilities()):

tc      Linux's own emulator: in the victim's namespace a `prio` root qdisc on eth0 with a fourth
        band holding `netem delay D J loss L duplicate P reorder R`, and u32 filters sending only
        packets addressed to the other nodes into that band; the same on each other node's eth0
        for packets addressed to the victim. So both directions between the victim and its peers
        are impaired and client traffic (to the root namespace) is not.
nfqueue The same impairments from iptables and a small user-space delayer (this file, run as
        `python netem.py nfqueue ...` inside the victim's namespace), for kernels built without
        sch_netem/sch_prio (this development machine's has neither and no module support):
          loss:        `-m statistic --mode random --probability L -j DROP`, both directions
          delay/jitter: `-j NFQUEUE --queue-bypass`, both directions; the delayer holds each
                       packet's verdict for D +- J ms (uniform, netem's default distribution)
          reordering:  the jitter reorders by itself; R of the packets are also let through at
                       once, as netem's `reorder R` does
          duplication: `-t mangle POSTROUTING ... -m statistic -j TEE --gateway <peer>` (a copy
                       of P of the victim's packets to its peers); the delayer marks what it
                       released (0x9) so a copy is not queued twice
        With --queue-bypass, packets pass untouched if the delayer is gone. It talks to the
        kernel over netfilter's netlink queue protocol (nfnetlink_queue) directly, with the
        standard library only, copying metadata only (no payload).

Both are removed by Cluster.heal() (rules flushed, qdisc deleted) before the delayer is stopped
(it then lets every held packet through); namespaces' deletion removes whatever is left.
"""
import heapq
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

from cluster import ns_name

MARK = 0x9
QUEUE = 9


class Impairment:
    """One cycle's settings, drawn from the harness's seeded rng."""

    def __init__(self, rng):
        self.delay_ms = 100
        self.jitter_ms = 50
        kinds = rng.choice([("loss",), ("duplicate",), ("reorder",), ("loss", "duplicate", "reorder")])
        self.loss = round(rng.uniform(0.01, 0.30), 3) if "loss" in kinds else 0.0
        self.duplicate = round(rng.uniform(0.01, 0.10), 3) if "duplicate" in kinds else 0.0
        self.reorder = 0.25 if "reorder" in kinds else 0.0
        self.seconds = rng.randint(6, 10)

    def __str__(self):
        parts = [f"delay {self.delay_ms}ms +-{self.jitter_ms}ms"]
        if self.loss:
            parts.append(f"loss {self.loss:.1%}")
        if self.duplicate:
            parts.append(f"duplicate {self.duplicate:.1%}")
        if self.reorder:
            parts.append(f"reorder {self.reorder:.0%}")
        return ", ".join(parts) + f" for {self.seconds}s"


def apply(cluster, victim, imp, mechanism, seed, log):
    """Starts impairing traffic between `victim` and the other nodes; returns the helper process
    (nfqueue) or None. Cluster.heal() on every touched node, then stop(), undoes it."""
    peers = [j for j in cluster.ids if j != victim]
    if mechanism == "tc":
        netem = ["netem", "delay", f"{imp.delay_ms}ms", f"{imp.jitter_ms}ms"]
        if imp.loss:
            netem += ["loss", f"{imp.loss * 100:.1f}%"]
        if imp.duplicate:
            netem += ["duplicate", f"{imp.duplicate * 100:.1f}%"]
        if imp.reorder:
            netem += ["reorder", f"{imp.reorder * 100:.0f}%", "50%"]
        for node, targets in [(victim, peers)] + [(j, [victim]) for j in peers]:
            cluster.isolated.add(node)
            cluster.ns_run(node, "tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "prio",
                           "bands", "4", "priomap", *["1", "2", "2", "2", "1", "2", "0", "0", "1", "1",
                                                      "1", "1", "1", "1", "1", "1"])
            cluster.ns_run(node, "tc", "qdisc", "add", "dev", "eth0", "parent", "1:4", "handle", "40:", *netem)
            for t in targets:
                cluster.ns_run(node, "tc", "filter", "add", "dev", "eth0", "parent", "1:0", "protocol", "ip",
                               "prio", "1", "u32", "match", "ip", "dst", f"{cluster.hosts[t]}/32", "flowid", "1:4")
        log(f"F9: tc netem on node {victim} and towards it: {' '.join(netem[1:])}")
        return None
    cluster.isolated.add(victim)
    with open(os.path.join(cluster.work, "netem-helper.log"), "ab") as errors:
        helper = subprocess.Popen(
            ["ip", "netns", "exec", ns_name(victim), sys.executable, os.path.abspath(__file__), "nfqueue",
             str(imp.delay_ms), str(imp.jitter_ms), str(imp.reorder), str(seed), str(imp.seconds + 60)],
            stdout=subprocess.PIPE, stderr=errors)
    cluster.adopt(helper)
    ready, _, _ = select.select([helper.stdout], [], [], 10)
    line = helper.stdout.readline() if ready else b""
    helper.stdout.close()
    if line.strip() != b"bound":
        helper.kill()
        helper.wait(timeout=10)
        raise RuntimeError(f"F9: the nfqueue delayer did not start (see {cluster.work}/netem-helper.log)")
    ipt = ["iptables"]
    cluster.ns_run(victim, *ipt, "-N", "rnf9")
    if imp.loss:
        cluster.ns_run(victim, *ipt, "-A", "rnf9", "-m", "statistic", "--mode", "random",
                       "--probability", str(imp.loss), "-j", "DROP")
    cluster.ns_run(victim, *ipt, "-A", "rnf9", "-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass")
    for j in peers:
        host = cluster.hosts[j]
        cluster.ns_run(victim, *ipt, "-A", "INPUT", "-s", host, "-j", "rnf9")
        cluster.ns_run(victim, *ipt, "-A", "OUTPUT", "-d", host, "-m", "mark", "!", "--mark", hex(MARK), "-j", "rnf9")
        if imp.duplicate:
            cluster.ns_run(victim, *ipt, "-t", "mangle", "-A", "POSTROUTING", "-d", host, "-m", "statistic",
                           "--mode", "random", "--probability", str(imp.duplicate), "-j", "TEE", "--gateway", host)
    log(f"F9: iptables + NFQUEUE delayer (pid {helper.pid}) on node {victim}: {imp}")
    return helper


def stop(helper):
    """After the rules are gone: the delayer lets every held packet through and exits."""
    if helper is None or helper.poll() is not None:
        return None
    helper.send_signal(signal.SIGTERM)
    try:
        return helper.wait(timeout=10)
    except subprocess.TimeoutExpired:
        helper.kill()
        return helper.wait(timeout=10)


# -- the user-space delayer (nfnetlink_queue) ---------------------------------------------------
NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_MARK = 1, 2, 3
NFQNL_CFG_CMD_BIND, NFQNL_COPY_META = 1, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NF_ACCEPT = 1


def _attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _message(msg_type, flags, seq, attrs, queue=QUEUE):
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack(">H", queue) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def _messages(data):
    pos = 0
    while pos + 16 <= len(data):
        length, msg_type, _, _, _ = struct.unpack_from("=IHHII", data, pos)
        if length < 16:
            break
        yield msg_type, data[pos + 16:pos + length]
        pos += (length + 3) & ~3


def _attrs(payload):
    pos = 4  # nfgenmsg
    while pos + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, pos)
        if length < 4:
            break
        yield kind & 0x3FFF, payload[pos + 4:pos + length]
        pos += (length + 3) & ~3


def delayer(delay_ms, jitter_ms, reorder, seed, bound):
    """Holds each queued packet's verdict for delay +- jitter ms (reorder: that share at once);
    exits after `bound` seconds or on SIGTERM, accepting everything it still holds."""
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        sock.setsockopt(270, 5, 1)                         # SOL_NETLINK, NETLINK_NO_ENOBUFS
    except OSError:
        pass
    seq = 0
    for attr in (_attr(NFQA_CFG_CMD, struct.pack("=BB", NFQNL_CFG_CMD_BIND, 0) + struct.pack(">H", socket.AF_INET)),
                 _attr(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META)),
                 _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", 20000))):
        seq += 1
        sock.send(_message(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, [attr]))
        for kind, payload in _messages(sock.recv(65536)):
            if kind == NLMSG_ERROR and struct.unpack_from("=i", payload, 0)[0] != 0:
                raise OSError(f"nfqueue config refused: errno {-struct.unpack_from('=i', payload, 0)[0]}")
    print("bound", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    held = []
    counter = 0
    released = 0
    end = time.time() + bound

    def verdict(packet_id):
        sock.send(_message(NFQNL_MSG_VERDICT, NLM_F_REQUEST, 0, [
            _attr(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, packet_id)),
            _attr(NFQA_MARK, struct.pack(">I", MARK))]))

    while not stopping and time.time() < end:
        now = time.time()
        while held and held[0][0] <= now:
            verdict(heapq.heappop(held)[2])
            released += 1
        timeout = min(0.2, max(0.0, held[0][0] - now)) if held else 0.2
        try:
            ready, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        while ready:
            try:
                data = sock.recv(65536, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            for kind, payload in _messages(data):
                if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    continue
                for attr, value in _attrs(payload):
                    if attr == NFQA_PACKET_HDR:
                        packet_id = struct.unpack_from(">I", value, 0)[0]
                        if reorder and rng.random() < reorder:
                            verdict(packet_id)
                            released += 1
                        else:
                            wait = max(0.0, rng.uniform(delay_ms - jitter_ms, delay_ms + jitter_ms)) / 1000
                            counter += 1
                            heapq.heappush(held, (time.time() + wait, counter, packet_id))
    for _, _, packet_id in held:
        verdict(packet_id)
    print(f"released {released + len(held)} packets", flush=True, file=sys.stderr)
    sock.close()


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "nfqueue":
        delayer(float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    else:
        print("usage: netem.py nfqueue DELAY_MS JITTER_MS REORDER SEED BOUND_SECONDS", file=sys.stderr)
        sys.exit(2)
