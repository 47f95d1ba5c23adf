// bench/share-compare/ShareLoad.java -- the client of bench/share-compare.sh: kafka-clients
// 4.4.0's KafkaShareConsumer (share groups, KIP-932), the same settings against Runnel and Apache
// Kafka.
//
// What this program owns: the share-group workload of the benchmark, its timing, its checks
// (every record seen, every record acknowledged) and its one-line result. One subcommand
// (compiled with javac against ~/.cache/runnel/kafka-4.4.0/lib/*):
//
//   run --bootstrap B --topic T --group G --consumers N --records R --size S
//       [--timeout-s SECS (180)] [--broker-pid PID]
//
// Steps:
//   1. (untimed) Admin createTopics: T with 1 partition, replication factor 1.
//   2. (untimed) Preload: one producer (acks=all, enable.idempotence=true, linger.ms=5,
//      batch.size=16384, no compression: the client defaults except linger, written out) sends R
//      records of one random S-byte value (no key) to partition 0, then flush().
//   3. (untimed) Admin incrementalAlterConfigs on ConfigResource.Type.GROUP G:
//      share.auto.offset.reset=earliest (a fresh group; read back with describeConfigs).
//   4. (untimed) N threads each build a KafkaShareConsumer (group.id G, client.id
//      share-bench-<i>, share.acknowledgement.mode=implicit, byte-array deserializers, everything
//      else the client's default: max.poll.records 500, fetch.max.wait.ms 500, ...) and
//      subscribe to T. An AcknowledgementCommitCallback counts the offsets whose acknowledgement
//      the broker confirmed, and those it refused.
//   5. The clock starts, and all N threads start polling (poll(100 ms) in a loop; implicit mode:
//      each poll acknowledges, ACCEPT, what the previous poll returned). The join of the group is
//      inside the clock. Every delivered record counts towards its consumer and towards the
//      deliveries; its offset is marked in a bitmap of distinct offsets. The clock stops when
//      the last of the R distinct offsets is seen, or after --timeout-s (then complete=false).
//   6. Every thread leaves its loop, calls commitSync(30 s) and then close(30 s). In implicit
//      mode poll() and commitSync() ACCEPT what the previous poll returned; close() does not (it
//      sends only acknowledgements already made; closing the share session releases the rest,
//      and a consumer still polling would get them again as duplicates). close_ms is the time
//      from the clock's stop until all are closed.
//   7. Check: Admin listShareGroupOffsets for G (DescribeShareGroupOffsets), polled up to 15 s
//      until the share-partition's lag is 0 or its start offset reaches R (every record
//      acknowledged; Kafka may report start offset < R with lag 0, the records above it being
//      counted as delivered-complete).
//
// Output on stdout, one line, then exit 0:
//   RESULT share consumers=N records=R distinct=.. deliveries=.. duplicates=.. redeliveries=..
//       seconds=.. records_per_s=.. mib_per_s=.. first_record_ms=.. drain_records_per_s=..
//       max_gap_ms=.. close_ms=.. acked=.. ack_errors=.. commit_errors=.. spso=.. lag=.. broker_cpu_s=..
//       preload_s=.. reset=.. per_consumer=c1,c2,.. complete=true|false
//   records_per_s   R / the clock (join included).
//   first_record_ms from the clock's start to the first record delivered (join and first fetch);
//   drain_records_per_s  (R - records delivered by then) / (the clock - first_record_ms).
//   duplicates      deliveries - distinct offsets (a record delivered twice: released or its
//                   acquisition lock expired); redeliveries: records with deliveryCount() > 1.
//   max_gap_ms      the longest time, after the first record, with no new distinct offset.
//   acked           offsets the ack callbacks reported done without error (through close());
//                   ack_errors: offsets reported with an error (the first error goes to stderr);
//                   commit_errors: partitions for which the final commitSync() reported an error.
//   spso, lag       of the share-partition after close.
//   broker_cpu_s    utime+stime of /proc/PID/stat over the clock (with --broker-pid).
//   complete        every offset seen, no consumer failed, no ack or commit error, lag 0 (or
//                   spso = R), every consumer closed.
// Exit 2 when a client call threw (consumer failure: "ERROR consumer=.. ..." and the stack on
// stderr; the RESULT line is printed first), 3 when a check failed, 64 on bad usage.
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Random;
import java.util.StringJoiner;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class ShareLoad {
    public static void main(String[] args) throws Exception {
        if (args.length < 1 || !args[0].equals("run")) usage();
        Map<String, String> opt = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) usage();
            opt.put(args[i].substring(2), args[i + 1]);
        }
        run(opt);
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

    /** What the polling threads share: the bitmap of offsets seen and the progress clock. */
    static final class Progress {
        final int total;
        final BitSet seen;
        long distinct;
        long firstNs = -1;
        long deliveredAtFirst;
        long lastNewNs;
        long maxGapNs;
        long endNs = -1;
        long deliveries;

        Progress(int total) {
            this.total = total;
            this.seen = new BitSet(total);
        }
    }

    static void run(Map<String, String> opt) throws Exception {
        String bootstrap = need(opt, "bootstrap");
        String topic = need(opt, "topic");
        String group = need(opt, "group");
        int consumers = Integer.parseInt(need(opt, "consumers"));
        int records = Integer.parseInt(need(opt, "records"));
        int size = Integer.parseInt(need(opt, "size"));
        long timeoutS = Long.parseLong(opt.getOrDefault("timeout-s", "180"));
        String brokerPid = opt.get("broker-pid");
        byte[] payload = new byte[size];
        new Random(7).nextBytes(payload);

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        String reset;
        double preloadS;
        try (Admin admin = Admin.create(ap)) {
            // 1. The topic.
            try {
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(60, TimeUnit.SECONDS);
            } catch (Exception e) {
                fatal(-1, "createTopics", e);
            }
            // 2. The preload.
            long p0 = System.nanoTime();
            AtomicReference<Exception> sendError = new AtomicReference<>();
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            pp.put(ProducerConfig.ACKS_CONFIG, "all");
            pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
            pp.put(ProducerConfig.BATCH_SIZE_CONFIG, "16384");
            pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(pp)) {
                for (int i = 0; i < records; i++) {
                    p.send(new ProducerRecord<>(topic, 0, null, payload), (md, e) -> {
                        if (e != null) sendError.compareAndSet(null, e);
                    });
                }
                p.flush();
            }
            if (sendError.get() != null) fatal(-1, "preload", sendError.get());
            preloadS = (System.nanoTime() - p0) / 1e9;
            // 3. The group config (the group does not exist yet).
            ConfigResource res = new ConfigResource(ConfigResource.Type.GROUP, group);
            try {
                admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(
                        new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET))))
                        .all().get(30, TimeUnit.SECONDS);
                Config cfg = admin.describeConfigs(List.of(res)).all().get(30, TimeUnit.SECONDS).get(res);
                ConfigEntry e = cfg == null ? null : cfg.get("share.auto.offset.reset");
                reset = e == null ? "missing" : e.value();
            } catch (Exception e) {
                fatal(-1, "group config", e);
                return;
            }
            if (!"earliest".equals(reset)) System.err.println("WARN share.auto.offset.reset reads back as " + reset);
        }

        // 4. The consumers, each built, subscribed and polled on its own thread.
        Progress pr = new Progress(records);
        long[] perConsumer = new long[consumers];
        long[] redelivered = new long[consumers];
        AtomicLong acked = new AtomicLong();
        AtomicLong ackErrors = new AtomicLong();
        AtomicLong commitErrors = new AtomicLong();
        AtomicReference<Exception> firstAckError = new AtomicReference<>();
        AtomicReference<Exception> failure = new AtomicReference<>();
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch ready = new CountDownLatch(consumers);
        CountDownLatch go = new CountDownLatch(1);
        CountDownLatch allSeen = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < consumers; c++) {
            final int id = c;
            Thread t = new Thread(() -> {
                KafkaShareConsumer<byte[], byte[]> consumer = null;
                try {
                    Properties cp = new Properties();
                    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
                    cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
                    cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "share-bench-" + id);
                    cp.put("share.acknowledgement.mode", "implicit");
                    cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
                    cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
                    consumer = new KafkaShareConsumer<>(cp);
                    consumer.setAcknowledgementCommitCallback((offsets, e) -> {
                        long n = 0;
                        for (Collection<Long> s : offsets.values()) n += s.size();
                        if (e == null) {
                            acked.addAndGet(n);
                        } else {
                            ackErrors.addAndGet(n);
                            if (firstAckError.compareAndSet(null, e))
                                System.err.printf("ERROR ack consumer=%d at_ms=%d offsets=%s: %s%n", id,
                                        System.currentTimeMillis(), abbreviate(offsets.toString()), e);
                        }
                    });
                    consumer.subscribe(List.of(topic));
                } catch (Exception e) {
                    failure.compareAndSet(null, e);
                    System.err.printf("ERROR consumer=%d setup at_ms=%d: %s%n", id, System.currentTimeMillis(), e);
                    e.printStackTrace();
                    if (consumer != null) {
                        try {
                            consumer.close(Duration.ZERO);
                        } catch (Exception ignored) {
                            // already failing
                        }
                    }
                    ready.countDown();
                    allSeen.countDown();
                    return;
                }
                ready.countDown();
                try {
                    go.await();
                    while (!stop.get()) {
                        ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(100));
                        if (recs.isEmpty()) continue;
                        long now = System.nanoTime();
                        int n = 0;
                        for (ConsumerRecord<byte[], byte[]> r : recs) {
                            n++;
                            Optional<Short> dc = r.deliveryCount();
                            if (dc.isPresent() && dc.get() > 1) redelivered[id]++;
                        }
                        perConsumer[id] += n;
                        boolean done = false;
                        synchronized (pr) {
                            boolean first = pr.firstNs < 0;
                            if (first) {
                                pr.firstNs = now;
                                pr.lastNewNs = now;
                            }
                            long before = pr.distinct;
                            for (ConsumerRecord<byte[], byte[]> r : recs) {
                                long o = r.offset();
                                if (o >= 0 && o < pr.total && !pr.seen.get((int) o)) {
                                    pr.seen.set((int) o);
                                    pr.distinct++;
                                }
                            }
                            pr.deliveries += n;
                            if (first) pr.deliveredAtFirst = pr.distinct;
                            if (pr.distinct > before) {
                                pr.maxGapNs = Math.max(pr.maxGapNs, now - pr.lastNewNs);
                                pr.lastNewNs = now;
                            }
                            if (pr.distinct == pr.total && pr.endNs < 0) {
                                pr.endNs = now;
                                done = true;
                            }
                        }
                        if (done) {
                            stop.set(true);
                            allSeen.countDown();
                        }
                    }
                } catch (Exception e) {
                    failure.compareAndSet(null, e);
                    System.err.printf("ERROR consumer=%d poll at_ms=%d: %s%n", id, System.currentTimeMillis(), e);
                    e.printStackTrace();
                    allSeen.countDown();
                } finally {
                    // Implicit mode: poll() and commitSync() accept what the previous poll
                    // returned, close() does not (it only sends what is already acknowledged,
                    // and closing the share session releases the rest). So the records of the
                    // last poll are accepted here, then the consumer closes.
                    try {
                        Map<TopicIdPartition, Optional<KafkaException>> committed = consumer.commitSync(Duration.ofSeconds(30));
                        for (Map.Entry<TopicIdPartition, Optional<KafkaException>> r : committed.entrySet()) {
                            if (r.getValue().isPresent()) {
                                commitErrors.incrementAndGet();
                                System.err.printf("ERROR consumer=%d commitSync at_ms=%d %s: %s%n", id,
                                        System.currentTimeMillis(), r.getKey(), r.getValue().get());
                            }
                        }
                    } catch (Exception e) {
                        failure.compareAndSet(null, e);
                        System.err.printf("ERROR consumer=%d commitSync at_ms=%d: %s%n", id, System.currentTimeMillis(), e);
                        e.printStackTrace();
                    }
                    try {
                        consumer.close(Duration.ofSeconds(30));
                    } catch (Exception e) {
                        failure.compareAndSet(null, e);
                        System.err.printf("ERROR consumer=%d close at_ms=%d: %s%n", id, System.currentTimeMillis(), e);
                        e.printStackTrace();
                    }
                }
            }, "share-bench-" + c);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        if (!ready.await(120, TimeUnit.SECONDS)) {
            stop.set(true);
            fatal(-1, "setup", new RuntimeException("consumers not built and subscribed in 120 s"));
        }

        // 5. The clock.
        long ticks0 = brokerTicks(brokerPid);
        long startMs = System.currentTimeMillis();
        long startNs = System.nanoTime();
        go.countDown();
        boolean inTime = allSeen.await(timeoutS, TimeUnit.SECONDS);
        long stopNs = System.nanoTime();
        long ticks1 = brokerTicks(brokerPid);
        stop.set(true);

        // 6. Close (each thread closes its own consumer).
        for (Thread t : threads) t.join(60_000);
        long closedNs = System.nanoTime();
        boolean allClosed = threads.stream().noneMatch(Thread::isAlive);
        if (!allClosed) System.err.println("WARN consumers still closing after 60 s");

        long endNs, firstNs, deliveries, distinct, deliveredAtFirst, maxGapNs;
        synchronized (pr) {
            endNs = pr.endNs >= 0 ? pr.endNs : stopNs;
            firstNs = pr.firstNs;
            deliveries = pr.deliveries;
            distinct = pr.distinct;
            maxGapNs = pr.firstNs < 0 ? 0 : Math.max(pr.maxGapNs, endNs - pr.lastNewNs);
            deliveredAtFirst = pr.deliveredAtFirst;
        }
        if (!inTime) System.err.printf("WARN only %d of %d distinct offsets in %d s%n", distinct, records, timeoutS);

        // 7. The share-partition's start offset after close.
        long spso = -1, lag = -1;
        try (Admin admin = Admin.create(ap)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            long deadline = System.currentTimeMillis() + 15_000;
            while (true) {
                try {
                    Map<TopicPartition, SharePartitionOffsetInfo> m = admin
                            .listShareGroupOffsets(Map.of(group, new ListShareGroupOffsetsSpec().topicPartitions(List.of(tp))))
                            .partitionsToOffsetInfo(group).get(10, TimeUnit.SECONDS);
                    SharePartitionOffsetInfo info = m.get(tp);
                    if (info != null) {
                        spso = info.startOffset();
                        lag = info.lag().orElse(-1L);
                    }
                } catch (Exception e) {
                    System.err.println("WARN listShareGroupOffsets: " + e);
                }
                if (lag == 0 || spso >= records || System.currentTimeMillis() > deadline) break;
                Thread.sleep(500);
            }
        }

        double secs = (endNs - startNs) / 1e9;
        double firstMs = firstNs < 0 ? -1 : (firstNs - startNs) / 1e6;
        double drainSecs = firstNs < 0 ? 0 : (endNs - firstNs) / 1e9;
        StringJoiner per = new StringJoiner(",");
        long redeliveries = 0;
        for (int c = 0; c < consumers; c++) {
            per.add(Long.toString(perConsumer[c]));
            redeliveries += redelivered[c];
        }
        boolean complete = inTime && distinct == records && failure.get() == null && ackErrors.get() == 0
                && commitErrors.get() == 0 && (lag == 0 || spso >= records) && allClosed;
        System.out.printf("RESULT share consumers=%d records=%d distinct=%d deliveries=%d duplicates=%d redeliveries=%d"
                        + " start_ms=%d seconds=%.3f records_per_s=%.0f mib_per_s=%.2f first_record_ms=%.0f drain_records_per_s=%.0f"
                        + " max_gap_ms=%.0f close_ms=%.0f acked=%d ack_errors=%d commit_errors=%d spso=%d lag=%d broker_cpu_s=%s preload_s=%.2f"
                        + " reset=%s per_consumer=%s complete=%b%n",
                consumers, records, distinct, deliveries, deliveries - distinct, redeliveries,
                startMs, secs, distinct / secs, distinct * (double) size / 1048576.0 / secs, firstMs,
                drainSecs > 0 ? (distinct - deliveredAtFirst) / drainSecs : 0.0,
                maxGapNs / 1e6, (closedNs - stopNs) / 1e6, acked.get(), ackErrors.get(), commitErrors.get(), spso, lag,
                ticks0 >= 0 && ticks1 >= 0 ? String.format("%.2f", (ticks1 - ticks0) / 100.0) : "n/a",
                preloadS, reset, per, complete);
        System.out.flush();
        if (failure.get() != null) System.exit(2);
        if (!complete) System.exit(3);
        System.exit(0);
    }

    static String abbreviate(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    static void fatal(int consumer, String what, Exception e) {
        System.err.printf("ERROR consumer=%d %s at_ms=%d: %s%n", consumer, what, System.currentTimeMillis(), e);
        e.printStackTrace();
        System.out.printf("RESULT error what=%s exception=%s%n", what.replace(' ', '_'), e.toString().replace(' ', '_'));
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
        System.err.println("usage: ShareLoad run --bootstrap B --topic T --group G --consumers N --records R --size S"
                + " [--timeout-s SECS] [--broker-pid PID] (see the file's header)");
        System.exit(64);
    }
}
