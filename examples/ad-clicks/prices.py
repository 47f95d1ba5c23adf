#!/usr/bin/env python3
"""examples/ad-clicks/prices.py -- setting up, checking and showing the example's topics.

  prices.py --bootstrap B setup [--partitions 6] [--replication 3]
      creates ad-clicks and the compacted ad-prices (same partition count: a worker restores
      the totals of ad-clicks partition p from ad-prices partition p)
  prices.py --bootstrap B check --counts FILE [--timeout 90]
      waits until group ad-pricer has committed every click, then compares each ad's last price
      record (read_committed) with the clicks acknowledged per ad; prints PASS/FAIL lines
  prices.py --bootstrap B show
      the latest price of every ad, a line each
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CLICKS, PRICES, GROUP = "ad-clicks", "ad-prices", "ad-pricer"


def setup(args):
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    topics = [NewTopic(CLICKS, args.partitions, args.replication),
              NewTopic(PRICES, args.partitions, args.replication, config={"cleanup.policy": "compact"})]
    for name, future in admin.create_topics(topics, request_timeout=30).items():
        try:
            future.result(60)
            print(f"created {name}")
        except Exception as e:  # noqa: BLE001 -- an existing topic is fine
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
            print(f"{name} exists")


def latest(bootstrap):
    """ad -> its last ad-prices value, read_committed to the end of every partition."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "ad-prices-check",
                       "enable.auto.commit": False, "isolation.level": "read_committed"})
    meta = reader.list_topics(PRICES, timeout=30).topics[PRICES]
    ends = {p: reader.get_watermark_offsets(TopicPartition(PRICES, p), timeout=30)[1] for p in meta.partitions}
    reader.assign([TopicPartition(PRICES, p, 0) for p in ends])
    positions = {p: 0 for p in ends}
    values = {}
    deadline = time.monotonic() + 60
    while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
        for msg in reader.consume(1000, 0.5):
            if msg.error():
                continue
            value = json.loads(msg.value())
            values[value["ad"]] = value
        # Positions, not offsets seen: transaction markers take offsets no record has.
        for tp in reader.position([TopicPartition(PRICES, p) for p in ends]):
            positions[tp.partition] = max(positions[tp.partition], tp.offset)
    reader.close()
    return values


def lag(bootstrap):
    """Clicks not yet committed by the group (None when it cannot be read)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    try:
        meta = c.list_topics(CLICKS, timeout=30).topics[CLICKS]
        parts = [TopicPartition(CLICKS, p) for p in meta.partitions]
        committed = c.committed(parts, timeout=30)
        total = 0
        for tp in committed:
            end = c.get_watermark_offsets(TopicPartition(CLICKS, tp.partition), timeout=30)[1]
            total += end - max(tp.offset, 0)
        return total
    except Exception:  # noqa: BLE001 -- retried by the caller
        return None
    finally:
        c.close()


def check(args):
    counts = json.load(open(args.counts))
    deadline = time.monotonic() + args.timeout
    remaining = lag(args.bootstrap)
    while remaining != 0 and time.monotonic() < deadline:
        time.sleep(1)
        remaining = lag(args.bootstrap)
    ok = remaining == 0
    print(f"{'PASS' if ok else 'FAIL'} ad_clicks.all_clicks_priced" + ("" if ok else f": {remaining} clicks not committed by {GROUP}"))
    values = latest(args.bootstrap)
    wrong = [(ad, n, values.get(ad, {}).get("clicks_total")) for ad, n in sorted(counts.items())
             if values.get(ad, {}).get("clicks_total") != n]
    extra = sorted(set(values) - set(counts))
    ok2 = not wrong and not extra and counts
    detail = "; ".join(f"{ad}: {got} priced, {n} clicked" for ad, n, got in wrong[:5])
    print(f"{'PASS' if ok2 else 'FAIL'} ad_clicks.prices_match_clicks"
          + (f": {len(counts)} ads, {sum(counts.values())} clicks" if ok2 else f": {detail} {extra}"))
    bad_price = [v for v in values.values() if v["price"] != round(1.0 + 0.05 * v["window_clicks"], 2)]
    print(f"{'PASS' if not bad_price else 'FAIL'} ad_clicks.price_follows_window" + (f": {bad_price[:2]}" if bad_price else ""))
    return 0 if ok and ok2 and not bad_price else 1


def show(args):
    for ad, v in sorted(latest(args.bootstrap).items(), key=lambda kv: int(kv[0].split("-")[1])):
        print(f"{ad:>6}  price {v['price']:6.2f}  clicks {v['clicks_total']:6d}  (window of {v['window_clicks']})")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--partitions", type=int, default=6)
    s.add_argument("--replication", type=int, default=3)
    c = sub.add_parser("check")
    c.add_argument("--counts", required=True)
    c.add_argument("--timeout", type=float, default=90)
    sub.add_parser("show")
    args = ap.parse_args()
    sys.exit({"setup": setup, "check": check, "show": show}[args.command](args) or 0)


if __name__ == "__main__":
    main()
