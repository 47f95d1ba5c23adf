#!/usr/bin/env python3
"""examples/ad-clicks/pricer.py -- one pricing worker of consumer group "ad-pricer".

It reads ad-clicks, counts clicks per ad in tumbling windows of --window-ms (by each click's
timestamp) and writes each touched ad's new price to ad-prices, a compacted topic keyed by ad id:
{"ad", "clicks_total", "window_start", "window_clicks", "price"}. Reading, writing and the
group's offsets commit together in one transaction per batch (exactly-once, KIP-447), so a
worker killed at any moment loses nothing and counts nothing twice: the partitions move to the
other workers, which resume from the committed offsets.

State (each ad's running total) lives in ad-prices itself: ad-prices partition p holds the ads of
ad-clicks partition p, so a worker given partition p restores its totals by reading ad-prices
partition p (read_committed) before it processes clicks.

  pricer.py --bootstrap HOST:PORT --worker NAME
"""
import argparse
import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

CLICKS, PRICES, GROUP = "ad-clicks", "ad-prices", "ad-pricer"


def price_of(window_clicks):
    """More clicks in a window, a higher price (a toy auction)."""
    return round(1.0 + 0.05 * window_clicks, 2)


class Worker:
    def __init__(self, args):
        self.args = args
        self.totals = {}          # ad -> clicks so far (committed + this batch)
        self.windows = {}         # ad -> (window_start, clicks in it)
        self.stop = False
        common = {"bootstrap.servers": args.bootstrap}
        self.consumer = Consumer({**common, "group.id": GROUP, "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000})
        self.producer = Producer({**common, "transactional.id": f"{GROUP}-{args.worker}",
                                  "transaction.timeout.ms": 10000, "linger.ms": 5})
        self.producer.init_transactions(30)

    def restore(self, partitions):
        """Reads the totals of these partitions' ads from ad-prices (read_committed, to its end)."""
        reader = Consumer({"bootstrap.servers": self.args.bootstrap, "group.id": f"{GROUP}-restore",
                           "enable.auto.commit": False, "isolation.level": "read_committed"})
        try:
            for p in partitions:
                _, end = reader.get_watermark_offsets(TopicPartition(PRICES, p.partition), timeout=30)
                if end <= 0:
                    continue
                tp = TopicPartition(PRICES, p.partition, 0)
                reader.assign([tp])
                position = 0
                deadline = time.monotonic() + 60
                # The position, not the last record's offset: transaction markers take offsets
                # the reader never sees.
                while position < end and time.monotonic() < deadline:
                    for msg in reader.consume(500, 0.5):
                        if msg.error():
                            continue
                        value = json.loads(msg.value())
                        self.totals[value["ad"]] = value["clicks_total"]
                        self.windows[value["ad"]] = (value["window_start"], value["window_clicks"])
                    position = max(reader.position([tp])[0].offset, position)
                if position < end:
                    raise RuntimeError(f"restoring {PRICES}-{p.partition}: at {position} of {end}")
        finally:
            reader.close()

    def on_assign(self, consumer, partitions):
        self.restore(partitions)
        print(f"{self.args.worker}: assigned {sorted(p.partition for p in partitions)}", flush=True)

    def on_revoke(self, consumer, partitions):
        print(f"{self.args.worker}: revoked {sorted(p.partition for p in partitions)}", flush=True)

    def rewind(self):
        """After an aborted transaction: back to the committed offsets and totals."""
        assigned = self.consumer.assignment()
        self.totals.clear()
        self.windows.clear()
        for tp in self.consumer.committed(assigned, timeout=30):
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
        self.restore(assigned)

    def batch(self, messages):
        touched = {}
        for msg in messages:
            ad = msg.key().decode()
            ts = json.loads(msg.value())["ts"]
            start = ts - ts % self.args.window_ms
            window_start, clicks = self.windows.get(ad, (start, 0))
            if start != window_start:
                window_start, clicks = start, 0
            self.windows[ad] = (window_start, clicks + 1)
            self.totals[ad] = self.totals.get(ad, 0) + 1
            touched[ad] = msg.partition()
        self.producer.begin_transaction()
        for ad, partition in touched.items():
            window_start, clicks = self.windows[ad]
            value = {"ad": ad, "clicks_total": self.totals[ad], "window_start": window_start,
                     "window_clicks": clicks, "price": price_of(clicks)}
            self.producer.produce(PRICES, key=ad, value=json.dumps(value), partition=partition)
        positions = self.consumer.position(self.consumer.assignment())
        self.producer.send_offsets_to_transaction(positions, self.consumer.consumer_group_metadata(), 30)
        self.producer.commit_transaction(30)

    def run(self):
        self.consumer.subscribe([CLICKS], on_assign=self.on_assign, on_revoke=self.on_revoke)
        processed = 0
        while not self.stop:
            messages = [m for m in self.consumer.consume(500, 0.5) if not m.error()]
            if not messages:
                continue
            try:
                self.batch(messages)
                processed += len(messages)
            except KafkaException as e:
                error = e.args[0]
                print(f"{self.args.worker}: transaction failed: {error}", file=sys.stderr, flush=True)
                if error.txn_requires_abort():
                    self.producer.abort_transaction(30)
                    self.rewind()
                else:
                    raise
        print(f"{self.args.worker}: {processed} clicks priced; leaving", flush=True)
        self.consumer.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--worker", required=True)
    ap.add_argument("--window-ms", type=int, default=5000)
    worker = Worker(ap.parse_args())

    def stop(*_):
        worker.stop = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()


if __name__ == "__main__":
    main()
