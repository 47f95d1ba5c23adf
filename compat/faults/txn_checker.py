"""compat/faults/txn_checker.py -- the transactional workload's checker, with Jepsen's anomaly names.

Owns the checks of the fault harness's transactional workload (txn_workload.py). Inputs:

  in_txns    {n: {"values": [...], "outcome": ..., "commit_at": t or None, "acked": {v: (p, o)}}}
             the input producer's transactions; values "txn-<n>-<i>"
  out_txns   {c: {"values": [...], "outcome": ..., "commit_at": t or None}}
             the copier's transactions; values "<input value>|c<c>|<size>"
  observed   [(topic, p, o, value, time)] what a continuous read_committed consumer saw, in order
  reads      [(topic, p, o, value)] other reads (the copier's read_committed consumer)
  final_rc   [(topic, p, o, value)] read_committed read of both topics after healing
  final_ru   [(topic, p, o, value)] read_uncommitted read of both topics after healing

Outcomes: "committed" (commit_transaction returned), "aborted" (abort_transaction returned, or
the transaction ended before commit_transaction was called: it can never commit), "unknown"
(commit_transaction was called and did not return success: either outcome is allowed, but the
transaction is all visible or not at all).

Anomalies (lists of examples):

  aborted-read          G1a: a read_committed reader saw a record of an aborted transaction (in
                        the input, or in the output: a copier transaction that aborted, or a copy
                        of an aborted input record)
  intermediate-read     G1b: a read_committed reader saw a record before commit_transaction of its
                        transaction was even called (the last stable offset passed an open
                        transaction)
  lost-write            a record of a committed transaction missing from the final read_committed
                        read (input or output), or a committed input record the copier never
                        copied (exactly-once: the output must hold it once)
  duplicate             an input value twice in the input, or copied twice into the output
  torn-transaction      some but not all records of a transaction visible in the final
                        read_committed read (the copier's transactions and the input's)
  inconsistent-offsets  one topic, partition and offset seen with two values across every read,
                        a committed record's acknowledged offset holding another value, or the
                        continuous reader seeing a partition's offsets go backwards
"""
from collections import defaultdict

IN = "txn-in"
OUT = "txn-out"


def parse_in(value):
    """"txn-<n>-<i>" -> n (None when the value is not of that form)."""
    parts = value.split("-")
    if len(parts) == 3 and parts[0] == "txn" and parts[1].isdigit():
        return int(parts[1])
    return None


def parse_out(value):
    """"<input>|c<c>|<size>" -> (input, c, size) (None when not of that form)."""
    parts = value.split("|")
    if len(parts) == 3 and parts[1].startswith("c") and parts[1][1:].isdigit() and parts[2].isdigit():
        return parts[0], int(parts[1][1:]), int(parts[2])
    return None


def check(in_txns, out_txns, observed, reads, final_rc, final_ru):
    anomalies = {k: [] for k in ("aborted-read", "intermediate-read", "lost-write", "duplicate",
                                 "torn-transaction", "inconsistent-offsets")}

    def outcome_in(value):
        n = parse_in(value)
        return in_txns.get(n, {}).get("outcome") if n is not None else None

    def outcome_out(value):
        parsed = parse_out(value)
        return out_txns.get(parsed[1], {}).get("outcome") if parsed else None

    # G1a: everything a read_committed reader returned.
    committed_reads = [(t, p, o, v) for t, p, o, v, _ in observed] + list(reads) + list(final_rc)
    reported = set()
    for t, p, o, v in committed_reads:
        if (t, p, o, v) in reported:
            continue
        why = None
        if t == IN and outcome_in(v) == "aborted":
            why = "input transaction aborted"
        elif t == OUT:
            parsed = parse_out(v)
            if parsed is None:
                why = "not a copier value"
            elif outcome_out(v) == "aborted":
                why = "copier transaction aborted"
            elif outcome_in(parsed[0]) == "aborted":
                why = "copy of an aborted input record"
        if why:
            reported.add((t, p, o, v))
            anomalies["aborted-read"].append((t, p, o, v, why))

    # G1b: seen before commit_transaction was called.
    for t, p, o, v, seen_at in observed:
        if t == IN:
            txn = in_txns.get(parse_in(v))
        else:
            parsed = parse_out(v)
            txn = out_txns.get(parsed[1]) if parsed else None
        if txn is None or txn.get("outcome") == "aborted" and txn.get("commit_at") is None:
            continue  # unknown values and aborted-before-commit are aborted-read's
        if txn.get("commit_at") is None or seen_at < txn["commit_at"]:
            anomalies["intermediate-read"].append(
                (t, p, o, v, f"seen {seen_at - (txn.get('commit_at') or seen_at):+.3f}s from the commit call"))

    final_in = [(p, o, v) for t, p, o, v in final_rc if t == IN]
    final_out = [(p, o, v) for t, p, o, v in final_rc if t == OUT]
    in_values = defaultdict(list)
    for p, o, v in final_in:
        in_values[v].append((p, o))
    out_values = defaultdict(list)
    copies = defaultdict(list)  # input value -> output values copying it
    for p, o, v in final_out:
        out_values[v].append((p, o))
        parsed = parse_out(v)
        if parsed:
            copies[parsed[0]].append(v)

    # lost-write, duplicate, torn-transaction: the input.
    for n, txn in sorted(in_txns.items()):
        visible = [v for v in txn["values"] if v in in_values]
        if txn["outcome"] == "committed":
            for v in txn["values"]:
                if v not in in_values:
                    anomalies["lost-write"].append((IN, n, v, "committed, not in the input"))
        if 0 < len(visible) < len(txn["values"]):
            anomalies["torn-transaction"].append((IN, n, txn["outcome"], f"{len(visible)} of {len(txn['values'])}"))
        # Exactly-once copy: every visible input record once in the output.
        for v in visible if txn["outcome"] != "aborted" else []:
            if v not in copies:
                anomalies["lost-write"].append((OUT, n, v, "in the input, never copied"))
    for v, places in in_values.items():
        if len(places) > 1:
            anomalies["duplicate"].append((IN, v, places))
    for v, outs in copies.items():
        if len(outs) > 1:
            anomalies["duplicate"].append((OUT, v, outs))

    # lost-write, torn-transaction: the copier's transactions.
    for c, txn in sorted(out_txns.items()):
        visible = [v for v in txn["values"] if v in out_values]
        if txn["outcome"] == "committed":
            for v in txn["values"]:
                if v not in out_values:
                    anomalies["lost-write"].append((OUT, c, v, "copier committed, not in the output"))
        if 0 < len(visible) < len(txn["values"]):
            anomalies["torn-transaction"].append((OUT, c, txn["outcome"], f"{len(visible)} of {len(txn['values'])}"))

    # inconsistent-offsets: one (topic, partition, offset), one value, across every read.
    at = defaultdict(set)
    for t, p, o, v in committed_reads:
        at[(t, p, o)].add(v)
    for t, p, o, v in final_ru:
        at[(t, p, o)].add(v)
    for key, vs in sorted(at.items()):
        if len(vs) > 1:
            anomalies["inconsistent-offsets"].append((key, sorted(vs)))
    final_at = {(p, o): v for p, o, v in final_in}
    for n, txn in sorted(in_txns.items()):
        if txn["outcome"] != "committed":
            continue
        for v, (p, o) in sorted(txn.get("acked", {}).items()):
            if v in in_values and final_at.get((p, o)) != v:
                anomalies["inconsistent-offsets"].append(((IN, p, o), f"acknowledged {v}, read {final_at.get((p, o))}"))
    last = {}
    for t, p, o, v, _ in observed:
        if (t, p) in last and o <= last[(t, p)]:
            anomalies["inconsistent-offsets"].append(((t, p, o), f"read after offset {last[(t, p)]}"))
        last[(t, p)] = o
    return anomalies


if __name__ == "__main__":
    # Self-check: each anomaly is detected, and a clean history has none.
    in_txns = {
        0: {"values": ["txn-0-0", "txn-0-1"], "outcome": "committed", "commit_at": 10.0,
            "acked": {"txn-0-0": (0, 0), "txn-0-1": (1, 0)}},
        1: {"values": ["txn-1-0", "txn-1-1"], "outcome": "aborted", "commit_at": None, "acked": {}},
    }
    out_txns = {0: {"values": ["txn-0-0|c0|2", "txn-0-1|c0|2"], "outcome": "committed", "commit_at": 20.0}}
    final_ru = [(IN, 0, 0, "txn-0-0"), (IN, 1, 0, "txn-0-1"), (IN, 0, 2, "txn-1-0"), (IN, 1, 2, "txn-1-1"),
                (OUT, 0, 0, "txn-0-0|c0|2"), (OUT, 1, 0, "txn-0-1|c0|2")]
    final_rc = [r for r in final_ru if "txn-1-" not in r[3]]
    observed = [(t, p, o, v, 30.0) for t, p, o, v in final_rc]
    clean = check(in_txns, out_txns, observed, [], final_rc, final_ru)
    assert all(not v for v in clean.values()), clean

    bad_in = dict(in_txns)
    bad_in[2] = {"values": ["txn-2-0", "txn-2-1"], "outcome": "committed", "commit_at": 40.0,
                 "acked": {"txn-2-0": (0, 4), "txn-2-1": (1, 4)}}
    bad_rc = final_rc + [(IN, 0, 2, "txn-1-0"),                 # aborted-read
                         (IN, 0, 4, "txn-2-0"),                 # torn: txn-2-1 missing (lost)
                         (IN, 0, 5, "txn-0-0"),                 # duplicate in the input
                         (OUT, 0, 1, "txn-0-0|c1|1"),           # copied twice
                         (OUT, 1, 1, "txn-2-0|c2|1")]
    bad_obs = observed + [(IN, 0, 4, "txn-2-0", 39.0),          # before the commit call
                          (IN, 0, 3, "txn-1-0", 41.0)]          # offset backwards
    bad_out = dict(out_txns)
    bad_out[1] = {"values": ["txn-0-0|c1|1"], "outcome": "committed", "commit_at": 50.0}
    bad_out[2] = {"values": ["txn-2-0|c2|1"], "outcome": "committed", "commit_at": 50.0}
    bad_ru = final_ru + [(IN, 0, 4, "txn-2-0"), (IN, 0, 5, "other")]
    bad = check(bad_in, bad_out, bad_obs, [], bad_rc, bad_ru)
    assert [a[3] for a in bad["aborted-read"]] == ["txn-1-0", "txn-1-0"], bad["aborted-read"]
    assert [a[3] for a in bad["intermediate-read"]] == ["txn-2-0"], bad["intermediate-read"]
    assert [a[2] for a in bad["lost-write"]] == ["txn-2-1"], bad["lost-write"]
    assert sorted(a[1] for a in bad["duplicate"]) == ["txn-0-0", "txn-0-0"], bad["duplicate"]
    assert [(a[0], a[1]) for a in bad["torn-transaction"]] == [(IN, 1), (IN, 2)], bad["torn-transaction"]
    kinds = sorted(str(a[0]) for a in bad["inconsistent-offsets"])
    assert kinds == [str((IN, 0, 3)), str((IN, 0, 5))], bad["inconsistent-offsets"]
    print("txn checker self-test passed")
