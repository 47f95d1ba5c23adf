// compat/streams/WordCountEos.java -- owned by the exactly-once scenario of the "streams" suite
// (compat/streams/eos.sh): a Kafka Streams 4.4.0 word count with
// processing.guarantee=exactly_once_v2 against a 3-node Runnel cluster, and the tools eos.sh
// drives it with. Each mode is its own JVM so that eos.sh can SIGKILL the app (and a broker)
// while the input producer keeps going.
//
//   java ... WordCountEos setup   BOOTSTRAP                      create words-in, word-counts-out
//   java ... WordCountEos produce BOOTSTRAP COUNT PER_SEC        sentences 0..COUNT-1, paced
//   java ... WordCountEos app     BOOTSTRAP STATE_DIR            the Streams app, until SIGTERM
//   java ... WordCountEos victim  BOOTSTRAP                      the app's transaction coordinator
//   java ... WordCountEos settle  BOOTSTRAP WAIT_SECS            every partition's ISR back to 3
//   java ... WordCountEos check   BOOTSTRAP COUNT WAIT_SECS      the exactly-once checks
//
// Topology: words-in (3 partitions, replication 3, min.insync.replicas 2) -> flatMapValues(split
// into lower-case words) -> groupBy(word) (repartition topic) -> count() into the RocksDB store
// "word-counts" (changelog runnel-wc-eos-word-counts-changelog) -> word-counts-out. Internal
// topics get replication.factor=3 and min.insync.replicas=2; the record cache is off
// (statestore.cache.max.bytes=0), so every input word gives exactly one output update and the
// updates of one word (one key, one output partition) are 1, 2, 3, ... in order.
//
// produce: an idempotent acks=all producer (one session for the whole run, so a broker restart
// cannot duplicate a sentence); exit 0 only when every sentence was acknowledged. Input is
// deterministic (sentence(i)), so the exact count of every word is known.
// app: prints on stdout `state S` on every state change, `progress N` (updates sent to the sink
// by this JVM) every 500 ms and `restored TOPIC-P N` when a store partition was restored; an
// exception that kills a stream thread prints `FAIL app.uncaught: ...` and shuts the client down
// (exit 1). SIGTERM closes it (20 s bound). The environment variable WC_GUARANTEE=at_least_once
// replaces exactly_once_v2 (with commits every 3 s and linger.ms=0): a negative control run by
// hand (WC_GUARANTEE=at_least_once compat/streams/eos.sh ...), where check must fail.
// victim: waits (30 s) until the broker lists a transactional id of the app, and prints
// `coordinator N txn ID` (DescribeTransactions' coordinator) and `leader P N` per input partition.
// settle: waits until every partition of every topic (internal ones too) has 3 replicas in sync;
// prints `settled MS` or `unsettled TOPIC-P isr [...]` (exit 1) at the bound.
// check (prints `PASS name` / `FAIL name: why` / `INFO ...`, exit 1 when a case fails):
//   output.counts_exact        read_committed, the last update of every word equals its count
//   output.exactly_once        read_committed, the updates of every word are exactly 1, 2, ..., n
//                              (a duplicate shows as a repeated value, a lost one as a gap)
//   output.no_extra            nothing more arrives up to the last stable offset after that
//   changelog.counts_exact     read_committed, the last value of every word in the changelog
//   group.offsets_at_end       the app's committed offsets on words-in equal its end offsets
// and, as INFO, how many records read_uncommitted saw beyond read_committed (aborted ones).

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;

public class WordCountEos {
    static final String APP_ID = "runnel-wc-eos";
    static final String IN = "words-in";
    static final String OUT = "word-counts-out";
    static final String STORE = "word-counts";
    static final String CHANGELOG = APP_ID + "-" + STORE + "-changelog";
    static final int PARTITIONS = 3;
    static final String[] VOCAB = {
        "kafka", "runnel", "stream", "table", "store", "changelog", "restore", "offset", "commit",
        "broker", "topic", "partition", "record", "key", "value", "count", "word", "rocksdb",
        "compact", "segment", "leader", "replica", "fetch", "produce", "group", "member",
        "rebalance", "task", "thread", "state", "window", "join", "repartition", "sink", "source",
        "processor", "punctuate", "header", "timestamp", "epoch", "fence", "batch", "index",
        "cleaner", "tombstone", "retention", "quota", "metadata", "controller", "raft", "zebra"};
    static boolean failed = false;

    static void out(String s) {
        System.out.println(s);
        System.out.flush();
    }

    static void pass(String name) { out("PASS " + name); }

    static void fail(String name, String why) {
        failed = true;
        out("FAIL " + name + ": " + (why.length() > 300 ? why.substring(0, 300) : why));
    }

    static void info(String s) { out("INFO " + s); }

    // Sentence i: 1..6 words from VOCAB, some capitalised and followed by punctuation.
    static String sentence(int i) {
        int n = 1 + (i * 7) % 6;
        List<String> words = new ArrayList<>();
        for (int j = 0; j < n; j++) {
            String w = VOCAB[(i * 31 + j * 17 + (i / 13)) % VOCAB.length];
            if ((i + j) % 5 == 0) w = w.toUpperCase(Locale.ROOT);
            if ((i + j) % 7 == 0) w = w + ",";
            words.add(w);
        }
        return String.join(" ", words) + ((i % 3 == 0) ? "." : "");
    }

    static List<String> split(String s) {
        List<String> words = new ArrayList<>();
        for (String w : s.toLowerCase(Locale.ROOT).split("\\W+")) if (!w.isEmpty()) words.add(w);
        return words;
    }

    static Map<String, Long> expected(int count) {
        Map<String, Long> m = new TreeMap<>();
        for (int i = 0; i < count; i++) for (String w : split(sentence(i))) m.merge(w, 1L, Long::sum);
        return m;
    }

    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return Admin.create(p);
    }

    // -- setup -----------------------------------------------------------------------------
    static int setup(String bootstrap) throws Exception {
        Map<String, String> cfg = Map.of("min.insync.replicas", "2");
        try (Admin admin = admin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(IN, PARTITIONS, (short) 3).configs(cfg),
                                       new NewTopic(OUT, PARTITIONS, (short) 3).configs(cfg))).all().get();
            // Every partition with a leader and three replicas in sync before the run starts.
            long deadline = System.currentTimeMillis() + 30_000;
            while (true) {
                Map<String, TopicDescription> d = admin.describeTopics(List.of(IN, OUT)).allTopicNames().get();
                boolean ready = d.values().stream().flatMap(t -> t.partitions().stream())
                    .allMatch(p -> p.leader() != null && p.isr().size() == 3);
                if (ready) break;
                if (System.currentTimeMillis() > deadline) {
                    System.err.println("setup: partitions not ready: " + d);
                    return 1;
                }
                Thread.sleep(200);
            }
        }
        return 0;
    }

    // -- produce ---------------------------------------------------------------------------
    static int produce(String bootstrap, int count, int perSec) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        AtomicLong acked = new AtomicLong();
        AtomicReference<Exception> error = new AtomicReference<>();
        long t0 = System.currentTimeMillis();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < count; i++) {
                long due = t0 + (long) i * 1000 / perSec;
                long now = System.currentTimeMillis();
                if (due > now) Thread.sleep(due - now);
                producer.send(new ProducerRecord<>(IN, "s" + i, sentence(i)), (md, e) -> {
                    if (e != null) error.compareAndSet(null, e); else acked.incrementAndGet();
                });
                if (i % 500 == 499) System.err.println("produce: sent " + (i + 1) + ", acked " + acked.get());
            }
            producer.flush();
        }
        info("produce: " + acked.get() + " of " + count + " sentences acknowledged in "
             + (System.currentTimeMillis() - t0) + " ms");
        if (error.get() != null || acked.get() != count) {
            System.err.println("produce: " + error.get());
            return 1;
        }
        return 0;
    }

    // -- app -------------------------------------------------------------------------------
    static int app(String bootstrap, String stateDir) throws Exception {
        AtomicLong progress = new AtomicLong();
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(IN, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(WordCountEos::split)
            .groupBy((k, w) -> w, Grouped.with(Serdes.String(), Serdes.String()))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(STORE))
            .toStream()
            .peek((k, v) -> progress.incrementAndGet())
            .to(OUT, Produced.with(Serdes.String(), Serdes.Long()));
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, APP_ID);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        // WC_GUARANTEE=at_least_once is a negative control (by hand): with output sent at once
        // (linger.ms=0) and input offsets committed every 3 s, a SIGKILL makes the next instance
        // process again what was already counted, and check must fail.
        String guarantee = System.getenv().getOrDefault("WC_GUARANTEE", StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        boolean eos = guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 3);
        p.put(StreamsConfig.topicPrefix("min.insync.replicas"), "2");
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, eos ? 200 : 3000);
        if (!eos) p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        // A SIGKILLed member leaves the group after 6 s (the broker's smallest session timeout).
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1500);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), 10000);
        KafkaStreams streams = new KafkaStreams(builder.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            out("state " + now);
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) done.countDown();
        });
        streams.setGlobalStateRestoreListener(new org.apache.kafka.streams.processor.StateRestoreListener() {
            @Override public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}
            @Override public void onBatchRestored(TopicPartition tp, String store, long end, long n) {}
            @Override public void onRestoreEnd(TopicPartition tp, String store, long total) {
                out("restored " + tp + " " + total);
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            out("FAIL app.uncaught: " + e);
            e.printStackTrace();
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Thread ticker = new Thread(() -> {
            try {
                while (true) {
                    Thread.sleep(500);
                    out("progress " + progress.get());
                }
            } catch (InterruptedException e) {
                // closing
            }
        });
        ticker.setDaemon(true);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            long t0 = System.currentTimeMillis();
            boolean closed = streams.close(Duration.ofSeconds(20));
            out("INFO app: close() " + (closed ? "done" : "timed out") + " in " + (System.currentTimeMillis() - t0) + " ms");
        }));
        streams.start();
        ticker.start();
        done.await();
        return streams.state() == KafkaStreams.State.ERROR ? 1 : 0;
    }

    // -- victim ----------------------------------------------------------------------------
    static int victim(String bootstrap) throws Exception {
        try (Admin admin = admin(bootstrap)) {
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline) {
                List<String> ids = new ArrayList<>();
                try {
                    for (TransactionListing l : admin.listTransactions().all().get())
                        if (l.transactionalId().startsWith(APP_ID + "-")) ids.add(l.transactionalId());
                    if (!ids.isEmpty()) {
                        Map<String, TransactionDescription> d = admin.describeTransactions(ids).all().get();
                        // The newest id (a restarted app with a wiped state dir has a new one): the
                        // one with an open transaction, else any.
                        String id = ids.get(0);
                        for (Map.Entry<String, TransactionDescription> e : d.entrySet())
                            if (!e.getValue().topicPartitions().isEmpty()) id = e.getKey();
                        out("coordinator " + d.get(id).coordinatorId() + " txn " + id);
                        TopicDescription t = admin.describeTopics(List.of(IN)).allTopicNames().get().get(IN);
                        for (TopicPartitionInfo pi : t.partitions())
                            out("leader " + pi.partition() + " " + (pi.leader() == null ? -1 : pi.leader().id()));
                        return 0;
                    }
                } catch (Exception e) {
                    System.err.println("victim: " + e);
                }
                Thread.sleep(500);
            }
            System.err.println("victim: no transactional id of " + APP_ID + " listed within 30 s");
            return 1;
        }
    }

    // -- settle ---------------------------------------------------------------------------
    static int settle(String bootstrap, int waitSecs) throws Exception {
        long t0 = System.currentTimeMillis(), deadline = t0 + waitSecs * 1000L;
        List<String> short_ = new ArrayList<>();
        try (Admin admin = admin(bootstrap)) {
            while (System.currentTimeMillis() < deadline) {
                short_.clear();
                try {
                    Set<String> names = admin.listTopics(new org.apache.kafka.clients.admin.ListTopicsOptions().listInternal(true)).names().get();
                    for (TopicDescription t : admin.describeTopics(names).allTopicNames().get().values())
                        for (TopicPartitionInfo pi : t.partitions())
                            if (pi.leader() == null || pi.isr().size() < 3)
                                short_.add(t.name() + "-" + pi.partition() + " leader " + (pi.leader() == null ? -1 : pi.leader().id())
                                           + " isr " + pi.isr().stream().map(n -> n.id()).toList());
                    if (short_.isEmpty()) {
                        out("settled " + (System.currentTimeMillis() - t0));
                        return 0;
                    }
                } catch (Exception e) {
                    short_.add(e.toString());
                }
                Thread.sleep(250);
            }
        }
        out("unsettled " + String.join(", ", short_.subList(0, Math.min(5, short_.size()))));
        return 1;
    }

    // -- check -----------------------------------------------------------------------------
    static List<TopicPartition> partitions(String topic) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < PARTITIONS; i++) tps.add(new TopicPartition(topic, i));
        return tps;
    }

    static KafkaConsumer<byte[], byte[]> reader(String bootstrap, String isolation, List<TopicPartition> tps) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        c.assign(tps);
        c.seekToBeginning(tps);
        return c;
    }

    static boolean atEnd(KafkaConsumer<?, ?> c, List<TopicPartition> tps) {
        Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofSeconds(10));
        for (TopicPartition tp : tps) if (c.position(tp, Duration.ofSeconds(10)) < end.get(tp)) return false;
        return true;
    }

    static String word(byte[] b) { return new String(b, java.nio.charset.StandardCharsets.UTF_8); }

    static long count(byte[] b) { return new LongDeserializer().deserialize("", b); }

    static int check(String bootstrap, int sentences, int waitSecs) throws Exception {
        Map<String, Long> want = expected(sentences);
        long total = want.values().stream().mapToLong(Long::longValue).sum();
        info("check: " + sentences + " sentences, " + total + " words, " + want.size() + " distinct");
        long deadline = System.currentTimeMillis() + waitSecs * 1000L;
        List<TopicPartition> outTps = partitions(OUT);
        Map<String, List<Long>> updates = new TreeMap<>();
        Map<String, Long> last = new TreeMap<>();
        long committedRecords = 0;
        long t0 = System.currentTimeMillis();
        try (KafkaConsumer<byte[], byte[]> c = reader(bootstrap, "read_committed", outTps)) {
            // Until every word has its count (the app may still be working), then to the LSO.
            while (!last.equals(want) && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    String w = word(r.key());
                    long v = count(r.value());
                    updates.computeIfAbsent(w, k -> new ArrayList<>()).add(v);
                    last.put(w, v);
                    committedRecords++;
                }
            }
            info("check: output complete after " + (System.currentTimeMillis() - t0) + " ms of reading ("
                 + committedRecords + " committed updates)");
            // Let a late duplicate (a transaction committed twice) arrive, then read to the end.
            Thread.sleep(2000);
            long extra = 0;
            long drainDeadline = System.currentTimeMillis() + 15_000;
            while (!atEnd(c, outTps) && System.currentTimeMillis() < drainDeadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    String w = word(r.key());
                    long v = count(r.value());
                    updates.computeIfAbsent(w, k -> new ArrayList<>()).add(v);
                    last.put(w, v);
                    committedRecords++;
                    extra++;
                }
            }
            if (extra == 0 && atEnd(c, outTps)) pass("output.no_extra");
            else fail("output.no_extra", extra + " committed updates after the expected counts were reached"
                      + (atEnd(c, outTps) ? "" : " (and not at the end after 15 s)"));
        }
        // The last update of every word.
        List<String> diffs = new ArrayList<>();
        Set<String> all = new HashSet<>(want.keySet());
        all.addAll(last.keySet());
        for (String w : new TreeSet<>(all)) {
            Long a = want.get(w), b = last.get(w);
            if (a == null ? b != null : !a.equals(b)) diffs.add(w + " want " + a + " got " + b);
        }
        if (diffs.isEmpty()) pass("output.counts_exact");
        else fail("output.counts_exact", diffs.size() + " words differ: " + String.join(", ", diffs.subList(0, Math.min(6, diffs.size()))));
        // The sequence of every word: exactly 1, 2, ..., n.
        List<String> bad = new ArrayList<>();
        long duplicates = 0, gaps = 0;
        for (Map.Entry<String, List<Long>> e : updates.entrySet()) {
            List<Long> seq = e.getValue();
            long expect = 1;
            String first = null;
            for (int i = 0; i < seq.size(); i++) {
                long v = seq.get(i);
                if (v != expect) {
                    if (v < expect) duplicates++; else gaps++;
                    if (first == null) {
                        List<Long> around = seq.subList(Math.max(0, i - 3), Math.min(seq.size(), i + 3));
                        first = e.getKey() + ": update #" + (i + 1) + " is " + v + ", expected " + expect + " (around: " + around + ")";
                    }
                }
                expect = v + 1;
            }
            if (first != null) bad.add(first);
        }
        if (bad.isEmpty() && committedRecords == total) pass("output.exactly_once");
        else fail("output.exactly_once", committedRecords + " committed updates for " + total + " words; "
                  + duplicates + " repeated, " + gaps + " skipped; " + String.join("; ", bad.subList(0, Math.min(4, bad.size()))));
        // read_uncommitted: what aborted transactions left in the log (figures only).
        try (KafkaConsumer<byte[], byte[]> c = reader(bootstrap, "read_uncommitted", outTps)) {
            long n = 0;
            long until = System.currentTimeMillis() + 20_000;
            while (!atEnd(c, outTps) && System.currentTimeMillis() < until) n += c.poll(Duration.ofMillis(500)).count();
            info("check: read_uncommitted sees " + n + " updates in " + OUT + ", " + (n - committedRecords)
                 + " more than read_committed (from aborted transactions)");
        }
        // The changelog: the last value of every word (read_committed).
        List<TopicPartition> clTps = partitions(CHANGELOG);
        Map<String, Long> cl = new TreeMap<>();
        try (KafkaConsumer<byte[], byte[]> c = reader(bootstrap, "read_committed", clTps)) {
            long until = System.currentTimeMillis() + 20_000;
            while (!atEnd(c, clTps) && System.currentTimeMillis() < until)
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500)))
                    if (r.value() != null) cl.put(word(r.key()), count(r.value()));
        }
        if (cl.equals(want)) pass("changelog.counts_exact");
        else fail("changelog.counts_exact", "the changelog's last values differ from the counts in "
                  + want.keySet().stream().filter(w -> !want.get(w).equals(cl.get(w))).count() + " words");
        // The app's committed input offsets (stable ones: no transaction pending) at the end.
        try (Admin admin = admin(bootstrap)) {
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (TopicPartition tp : partitions(IN)) latest.put(tp, OffsetSpec.latest());
            Map<TopicPartition, Long> end = new HashMap<>();
            admin.listOffsets(latest).all().get().forEach((tp, r) -> end.put(tp, r.offset()));
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(
                    Map.of(APP_ID, new ListConsumerGroupOffsetsSpec().topicPartitions(partitions(IN))),
                    new ListConsumerGroupOffsetsOptions().requireStable(true))
                .partitionsToOffsetAndMetadata(APP_ID).get();
            List<String> lag = new ArrayList<>();
            for (TopicPartition tp : partitions(IN)) {
                OffsetAndMetadata om = committed.get(tp);
                if (om == null || om.offset() != end.get(tp)) lag.add(tp + " committed " + (om == null ? null : om.offset()) + " end " + end.get(tp));
            }
            if (lag.isEmpty()) pass("group.offsets_at_end");
            else fail("group.offsets_at_end", String.join(", ", lag));
        }
        return failed ? 1 : 0;
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "";
        int rc;
        switch (mode) {
            case "setup" -> rc = setup(args[1]);
            case "produce" -> rc = produce(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            case "app" -> rc = app(args[1], args[2]);
            case "victim" -> rc = victim(args[1]);
            case "settle" -> rc = settle(args[1], Integer.parseInt(args[2]));
            case "check" -> rc = check(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            default -> {
                System.err.println("usage: WordCountEos setup|produce|app|victim|settle|check BOOTSTRAP ...");
                rc = 2;
            }
        }
        System.exit(rc);
    }
}
