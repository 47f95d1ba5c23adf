#!/usr/bin/env python3
"""examples/ad-clicks/clicks.py -- the click generator: records keyed by ad id ("ad-<n>") on
topic ad-clicks at a configured rate, with an idempotent acks=all producer (Kafka's default
partitioner: every click of an ad lands in one partition, in order). When done it writes the
number of clicks acknowledged per ad as JSON (--counts), which check.py compares with the prices.

  clicks.py --bootstrap HOST:PORT [--rate 200] [--seconds 30] [--ads 20] [--counts FILE]
"""
import argparse
import json
import random
import sys
import time

from confluent_kafka import Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--topic", default="ad-clicks")
    ap.add_argument("--rate", type=float, default=200.0, help="clicks per second")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--ads", type=int, default=20)
    ap.add_argument("--counts", help="write the acknowledged clicks per ad here (JSON)")
    args = ap.parse_args()
    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 5, "message.timeout.ms": 60000})
    acked, failed = {}, [0]

    def delivered(err, msg):
        if err is None:
            ad = msg.key().decode()
            acked[ad] = acked.get(ad, 0) + 1
        else:
            failed[0] += 1
            print(f"click not delivered: {err}", file=sys.stderr)

    rng = random.Random(7)
    # A few popular ads, a long tail: prices move differently.
    weights = [1.0 / (i + 1) for i in range(args.ads)]
    started = time.monotonic()
    sent = 0
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= args.seconds:
            break
        due = int(elapsed * args.rate) + 1
        while sent < due:
            ad = f"ad-{rng.choices(range(args.ads), weights)[0]}"
            value = json.dumps({"ad": ad, "ts": int(time.time() * 1000)})
            producer.produce(args.topic, key=ad, value=value, on_delivery=delivered)
            sent += 1
        producer.poll(0)
        time.sleep(0.005)
    remaining = producer.flush(60)
    total = sum(acked.values())
    print(f"clicks: sent {sent}, acknowledged {total}, failed {failed[0]}, unflushed {remaining}")
    if args.counts:
        with open(args.counts, "w") as f:
            json.dump(acked, f, sort_keys=True)
    sys.exit(0 if failed[0] == 0 and remaining == 0 else 1)


if __name__ == "__main__":
    main()
