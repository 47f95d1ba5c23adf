"""compat/faults/checker.py -- the fault harness's checker, with Jepsen's anomaly names.

Inputs: the acknowledged writes (partition, offset, value), what the continuous consumer saw
(partition, offset, value, in order), and the final read of every partition from its start to
its high watermark. Outputs a dict of anomaly lists:

  lost-write            acknowledged, but the final read has another value (or none) at its
                        partition and offset
  unseen                acknowledged, but its value is nowhere in the final read
  duplicate             a value stored more than once in the final read
  inconsistent-offsets  one partition and offset seen with two different values (across the
                        continuous consumer and the final read)
  non-monotonic         the continuous consumer saw a partition's offsets go backwards
"""
from collections import defaultdict


def check(acked, observed, final):
    """acked: [(p, o, v)]; observed: [(p, o, v)] in arrival order; final: [(p, o, v)]."""
    at = {}
    for p, o, v in final:
        at[(p, o)] = v
    values = defaultdict(int)
    for _, _, v in final:
        values[v] += 1
    lost = [(p, o, v) for p, o, v in acked if at.get((p, o)) != v]
    stored = set(values)
    unseen = [(p, o, v) for p, o, v in acked if v not in stored]
    duplicate = [v for v, n in values.items() if n > 1]
    seen = defaultdict(set)
    for p, o, v in observed:
        seen[(p, o)].add(v)
    for p, o, v in final:
        seen[(p, o)].add(v)
    inconsistent = [(key, sorted(vs)) for key, vs in seen.items() if len(vs) > 1]
    last = {}
    nonmonotonic = []
    for p, o, v in observed:
        if p in last and o <= last[p]:
            nonmonotonic.append((p, last[p], o))
        last[p] = o
    return {
        "lost-write": lost,
        "unseen": unseen,
        "duplicate": duplicate,
        "inconsistent-offsets": inconsistent,
        "non-monotonic": nonmonotonic,
    }


if __name__ == "__main__":
    # Self-check: each anomaly is detected, and a clean history has none.
    clean = check([(0, 0, "a"), (0, 1, "b")], [(0, 0, "a"), (0, 1, "b")], [(0, 0, "a"), (0, 1, "b")])
    assert all(not v for v in clean.values()), clean
    bad = check(
        acked=[(0, 0, "a"), (0, 1, "b"), (1, 0, "c")],
        observed=[(0, 0, "a"), (0, 1, "x"), (0, 0, "a")],
        final=[(0, 0, "a"), (0, 1, "b"), (1, 0, "a")],
    )
    assert bad["lost-write"] == [(1, 0, "c")], bad
    assert bad["unseen"] == [(1, 0, "c")], bad
    assert bad["duplicate"] == ["a"], bad
    assert bad["inconsistent-offsets"] == [((0, 1), ["b", "x"])], bad
    assert bad["non-monotonic"] == [(0, 1, 0)], bad
    print("checker self-test passed")
