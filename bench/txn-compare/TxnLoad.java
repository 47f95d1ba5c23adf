// bench/txn-compare/TxnLoad.java -- the client of bench/txn-compare.sh: kafka-clients 4.4.0's
// transactional KafkaProducer (and, for ctp, a read_committed KafkaConsumer in a group), the same
// settings against Runnel and Apache Kafka.
//
// What this program owns: the two transactional workloads of the benchmark, their timing (commit
// latency, throughput), the read-back check of what they committed, and their one-line results.
// Subcommands (compiled with javac against ~/.cache/runnel/kafka-4.4.0/lib/*):
//
//   produce --bootstrap B --topic T --partitions P --txns N --warmup W --records R --size S
//       One producer (transactional.id "txn-bench-produce"): initTransactions, then W + N
//       transactions, each: beginTransaction, R records of one random S-byte value (no key),
//       record i to partition i % P (so every transaction touches all P partitions), then
//       commitTransaction(). The first W transactions warm the JVM and are not timed.
//   ctp --bootstrap B --in I --out O --partitions P --txns N --warmup W --records R --size S
//       Consume-transform-produce. First (not timed) an idempotent non-transactional producer
//       writes (W + N) * R records of S bytes to I, record j to partition j % P. Then a consumer
//       (group "txn-bench-ctp", read_committed, max.poll.records=R, auto-commit off, earliest)
//       subscribes to I, and a transactional producer ("txn-bench-ctp") runs W + N
//       transactions, each: take R records from what the consumer polled (polling as needed),
//       beginTransaction, send each record's value to O at the same partition,
//       sendOffsetsToTransaction(next offsets of those records, consumer.groupMetadata()),
//       commitTransaction().
//
// Timing: the clock starts at the first timed beginTransaction and stops when the last
// commitTransaction() returns. commit_* is the wall time of each commitTransaction() call (it
// includes the producer's flush of the transaction's records still in flight, then EndTxn);
// txn_* is the whole transaction, begin to commit's return (for ctp without the polling). With
// --broker-pid PID the broker's CPU (utime+stime of /proc/PID/stat) is read at both ends of the
// timed section.
//
// Check (after the clock): a read_committed consumer (no group) reads every partition of the
// output topic from the beginning to its last stable offset and counts records; "complete" means
// it read (W + N) * R of them within 120 s (and, for ctp, that the group's committed offsets on I
// sum to the records the transactions consumed).
//
// Producer settings: enable.idempotence=true (acks=all), linger.ms=5, batch.size=16384 (the
// client defaults, written out), no compression, byte-array serializers; transaction.timeout.ms
// and everything else the client's default. Output on stdout, one line, then exit 0:
//   RESULT produce|ctp txns=.. records=.. bytes=.. start_ms=.. end_ms=.. seconds=..
//       records_per_s=.. txns_per_s=.. mib_per_s=.. commit_p50_ms=.. commit_p90_ms=..
//       commit_p99_ms=.. commit_max_ms=.. commit_mean_ms=.. txn_p50_ms=.. txn_p99_ms=..
//       slow_commits=.. broker_cpu_s=.. verify_records=.. complete=true|false
//   slow_commits: commits that took >= 1 s (each is also printed to stderr as "SLOW commit
//   txn=.. ms=.. at_ms=.." so it can be found in the broker's log). --lat-file F writes every
//   timed commit's wall time in microseconds, one per line.
// Exit 2 when a send or a transaction call threw (the exception and its stack go to stderr as
// "ERROR txn=.. ..."), 3 when the check failed, 64 on bad usage.
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class TxnLoad {
    static final long SLOW_NS = 1_000_000_000L;

    public static void main(String[] args) throws Exception {
        if (args.length < 1) usage();
        String cmd = args[0];
        Map<String, String> opt = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) usage();
            opt.put(args[i].substring(2), args[i + 1]);
        }
        switch (cmd) {
            case "produce", "ctp" -> run(cmd, opt);
            default -> usage();
        }
    }

    static Properties producerProps(String bootstrap, String txnId) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, "16384");
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        if (txnId != null) props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        return props;
    }

    static long brokerTicks(String pid) {
        if (pid == null) return -1;
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15
        } catch (Exception e) {
            return -1;
        }
    }

    static void run(String cmd, Map<String, String> opt) throws Exception {
        boolean ctp = cmd.equals("ctp");
        String bootstrap = need(opt, "bootstrap");
        String out = ctp ? need(opt, "out") : need(opt, "topic");
        String in = ctp ? need(opt, "in") : null;
        int partitions = Integer.parseInt(need(opt, "partitions"));
        int txns = Integer.parseInt(need(opt, "txns"));
        int warmup = Integer.parseInt(need(opt, "warmup"));
        int perTxn = Integer.parseInt(need(opt, "records"));
        int size = Integer.parseInt(need(opt, "size"));
        String brokerPid = opt.get("broker-pid");
        long total = (long) (warmup + txns) * perTxn;
        byte[] payload = new byte[size];
        new Random(7).nextBytes(payload);

        AtomicReference<Exception> sendError = new AtomicReference<>();
        Callback cb = (md, e) -> {
            if (e != null) sendError.compareAndSet(null, e);
        };

        if (ctp) {
            // The input, written before any clock starts.
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(producerProps(bootstrap, null))) {
                for (long j = 0; j < total; j++) p.send(new ProducerRecord<>(in, (int) (j % partitions), null, payload), cb);
                p.flush();
            }
            if (sendError.get() != null) fail(-1, "filling " + in, sendError.get());
        }

        KafkaConsumer<byte[], byte[]> consumer = null;
        ArrayDeque<ConsumerRecord<byte[], byte[]>> buffered = new ArrayDeque<>();
        if (ctp) {
            Properties c = new Properties();
            c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            c.put(ConsumerConfig.GROUP_ID_CONFIG, "txn-bench-ctp");
            c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Integer.toString(perTxn));
            c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            consumer = new KafkaConsumer<>(c);
            consumer.subscribe(List.of(in));
        }

        long[] commitNs = new long[txns];
        long[] txnNs = new long[txns];
        int slow = 0;
        long consumed = 0, bytes = 0;
        long start = 0, startNs = 0, ticks0 = -1;
        try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(producerProps(bootstrap, ctp ? "txn-bench-ctp" : "txn-bench-produce"))) {
            producer.initTransactions();
            producer.partitionsFor(out);
            for (int t = 0; t < warmup + txns; t++) {
                if (t == warmup) {
                    ticks0 = brokerTicks(brokerPid);
                    start = System.currentTimeMillis();
                    startNs = System.nanoTime();
                }
                List<ConsumerRecord<byte[], byte[]>> batch = null;
                if (ctp) {
                    // Polling is not part of a transaction's time (bounded: 120 s per transaction).
                    long deadline = System.currentTimeMillis() + 120_000;
                    while (buffered.size() < perTxn) {
                        if (System.currentTimeMillis() > deadline)
                            fail(t, "polling", new RuntimeException("only " + buffered.size() + " records in 120 s"));
                        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) buffered.add(r);
                    }
                    batch = new ArrayList<>(perTxn);
                    for (int i = 0; i < perTxn; i++) batch.add(buffered.poll());
                }
                long t0 = System.nanoTime();
                long tc;
                try {
                    producer.beginTransaction();
                    if (ctp) {
                        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                        for (ConsumerRecord<byte[], byte[]> r : batch) {
                            producer.send(new ProducerRecord<>(out, r.partition(), null, r.value()), cb);
                            bytes += r.value().length;
                            offsets.merge(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1),
                                    (a, b) -> a.offset() >= b.offset() ? a : b);
                        }
                        producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                    } else {
                        for (int i = 0; i < perTxn; i++) {
                            producer.send(new ProducerRecord<>(out, i % partitions, null, payload), cb);
                            bytes += size;
                        }
                    }
                    tc = System.nanoTime();
                    producer.commitTransaction();
                } catch (Exception e) {
                    fail(t, "transaction", e);
                    return;
                }
                long t1 = System.nanoTime();
                if (sendError.get() != null) fail(t, "send", sendError.get());
                consumed += perTxn;
                if (t >= warmup) {
                    commitNs[t - warmup] = t1 - tc;
                    txnNs[t - warmup] = t1 - t0;
                    if (t1 - tc >= SLOW_NS) {
                        slow++;
                        System.err.printf("SLOW commit txn=%d ms=%.1f at_ms=%d%n", t, (t1 - tc) / 1e6, System.currentTimeMillis());
                    }
                }
            }
        }
        long endNs = System.nanoTime();
        long end = start + (endNs - startNs) / 1_000_000;
        long ticks1 = brokerTicks(brokerPid);
        double secs = (endNs - startNs) / 1e9;
        bytes = bytes * txns / (warmup + txns);

        if (opt.containsKey("lat-file")) {
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(Path.of(opt.get("lat-file"))))) {
                for (long ns : commitNs) w.println(ns / 1000);
            }
        }

        // The check: everything committed is readable with read_committed.
        long read = readCommitted(bootstrap, out, partitions, total);
        boolean complete = read == total;
        if (ctp) {
            Map<TopicPartition, OffsetAndMetadata> committed = new HashMap<>();
            java.util.Set<TopicPartition> tps = new java.util.HashSet<>();
            for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(in, p));
            committed = consumer.committed(tps, Duration.ofSeconds(30));
            long sum = 0;
            for (OffsetAndMetadata o : committed.values()) if (o != null) sum += o.offset();
            if (sum != consumed) {
                System.err.printf("committed offsets of %s sum to %d, consumed %d%n", in, sum, consumed);
                complete = false;
            }
            consumer.close(Duration.ofSeconds(10));
        }

        long[] c = commitNs.clone(), x = txnNs.clone();
        Arrays.sort(c);
        Arrays.sort(x);
        double mean = Arrays.stream(c).average().orElse(0) / 1e6;
        System.out.printf("RESULT %s txns=%d records=%d bytes=%d start_ms=%d end_ms=%d seconds=%.3f records_per_s=%.0f txns_per_s=%.1f"
                        + " mib_per_s=%.2f commit_p50_ms=%.2f commit_p90_ms=%.2f commit_p99_ms=%.2f commit_max_ms=%.2f commit_mean_ms=%.2f"
                        + " txn_p50_ms=%.2f txn_p99_ms=%.2f slow_commits=%d broker_cpu_s=%s verify_records=%d complete=%b%n",
                cmd, txns, (long) txns * perTxn, bytes, start, end, secs, txns * (double) perTxn / secs, txns / secs,
                bytes / 1048576.0 / secs, pct(c, 50), pct(c, 90), pct(c, 99), c[c.length - 1] / 1e6, mean,
                pct(x, 50), pct(x, 99), slow,
                ticks0 >= 0 && ticks1 >= 0 ? String.format("%.2f", (ticks1 - ticks0) / 100.0) : "n/a", read, complete);
        if (!complete) System.exit(3);
    }

    /** Nearest-rank percentile of sorted nanoseconds, in ms. */
    static double pct(long[] sorted, double p) {
        if (sorted.length == 0) return 0;
        int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
    }

    static long readCommitted(String bootstrap, String topic, int partitions, long expected) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(topic, p));
        long read = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + 120_000;
            while (read < expected && System.currentTimeMillis() < deadline) {
                read += consumer.poll(Duration.ofMillis(500)).count();
            }
            // Anything beyond the expected count (a duplicate) shows up in one more short poll.
            read += consumer.poll(Duration.ofMillis(500)).count();
        }
        if (read != expected) System.err.printf("read_committed read %d records of %s, expected %d%n", read, topic, expected);
        return read;
    }

    static void fail(int txn, String what, Exception e) {
        System.err.printf("ERROR txn=%d %s at_ms=%d: %s%n", txn, what, System.currentTimeMillis(), e);
        e.printStackTrace();
        System.out.printf("RESULT error txn=%d what=%s exception=%s%n", txn, what, e.toString().replace(' ', '_'));
        System.exit(2);
    }

    static String need(Map<String, String> opt, String key) {
        String v = opt.get(key);
        if (v == null) {
            System.err.println("missing --" + key);
            usage();
        }
        return v;
    }

    static void usage() {
        System.err.println("usage: TxnLoad produce|ctp --bootstrap B ... (see the file's header)");
        System.exit(64);
    }
}
