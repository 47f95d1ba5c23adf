// compat/streams/WordCountRestore.java -- owned by the "streams" suite (compat/streams/run.sh):
// a Kafka Streams 4.4.0 word count (at_least_once) whose RocksDB store must come back from its
// changelog topic after its local state directory is deleted.
//
//   java ... WordCountRestore first  BOOTSTRAP STATE_DIR   phase 1, fresh topics and state
//   java ... WordCountRestore second BOOTSTRAP STATE_DIR   phase 2, after run.sh deleted STATE_DIR
//
// Topology: words-in (3 partitions) -> flatMapValues(split into lower-case words) -> groupBy(word)
// (a repartition topic) -> count() into the persistent store "word-counts" (changelog topic
// runnel-wordcount-word-counts-changelog, which Streams creates with cleanup.policy=compact) ->
// word-counts-out. Input is deterministic: batch A (sentences 0..1999) in phase 1, batch B
// (2000..2999) in phase 2, so the exact count of every word is known.
//
// Phase 1: create words-in and word-counts-out, produce batch A, start the app; the store (an
// interactive query over all partitions) and the latest value per key in word-counts-out must
// equal counts(A); the changelog topic must be compacted (Admin describeConfigs); then close()
// with LEAVE_GROUP. The record cache is off, so the changelog holds every update of a count.
// Phase 2: a new app instance with the same application.id and an empty state dir: it restores
// the store from the changelog (a StateRestoreListener counts what it reads); before any new
// input the store must equal counts(A) exactly, then after batch B the store and the output
// topic must equal counts(A + B) exactly (a lost changelog record, a lost committed input offset
// or a replayed input record would all show as a wrong count).
//
// Prints `PASS name` / `FAIL name: why` / `INFO ...` on stdout; exit status 1 when a case fails.
// Every wait is bounded (WAIT_MS); Streams and client logs go to stderr.

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

public class WordCountRestore {
    static final String APP_ID = "runnel-wordcount";
    static final String IN = "words-in";
    static final String OUT = "word-counts-out";
    static final String STORE = "word-counts";
    static final String CHANGELOG = APP_ID + "-" + STORE + "-changelog";
    static final int PARTITIONS = 3;
    static final long WAIT_MS = 60_000;
    static final String[] VOCAB = {
        "kafka", "runnel", "stream", "table", "store", "changelog", "restore", "offset", "commit",
        "broker", "topic", "partition", "record", "key", "value", "count", "word", "rocksdb",
        "compact", "segment", "leader", "replica", "fetch", "produce", "group", "member",
        "rebalance", "task", "thread", "state", "window", "join", "repartition", "sink", "source",
        "processor", "punctuate", "header", "timestamp", "epoch", "fence", "batch", "index",
        "cleaner", "tombstone", "retention", "quota", "metadata", "controller", "raft", "zebra"};
    static boolean failed = false;

    static void pass(String name) { System.out.println("PASS " + name); }

    static void fail(String name, String why) {
        failed = true;
        System.out.println("FAIL " + name + ": " + (why.length() > 300 ? why.substring(0, 300) : why));
    }

    static void info(String s) { System.out.println("INFO " + s); }

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
        List<String> out = new ArrayList<>();
        for (String w : s.toLowerCase(Locale.ROOT).split("\\W+")) if (!w.isEmpty()) out.add(w);
        return out;
    }

    static Map<String, Long> expected(int from, int to) {
        Map<String, Long> m = new TreeMap<>();
        for (int i = from; i < to; i++) for (String w : split(sentence(i))) m.merge(w, 1L, Long::sum);
        return m;
    }

    static void produce(String bootstrap, int from, int to) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = from; i < to; i++) producer.send(new ProducerRecord<>(IN, "s" + i, sentence(i)));
            producer.flush();
        }
    }

    // What differs between two count maps (for FAIL lines), at most 6 entries.
    static String diff(Map<String, Long> want, Map<String, Long> got) {
        List<String> d = new ArrayList<>();
        TreeMap<String, Long> all = new TreeMap<>(want);
        for (String k : got.keySet()) all.putIfAbsent(k, null);
        for (String k : all.keySet()) {
            Long w = want.get(k), g = got.get(k);
            if (w == null ? g != null : !w.equals(g)) d.add(k + " want " + w + " got " + g);
        }
        return d.size() + " words differ: " + String.join(", ", d.subList(0, Math.min(6, d.size())));
    }

    // Polls supplier until it equals want or WAIT_MS pass; returns the last value seen.
    static Map<String, Long> await(Map<String, Long> want, Supplier<Map<String, Long>> supplier) throws InterruptedException {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        Map<String, Long> got = Collections.emptyMap();
        while (System.currentTimeMillis() < deadline) {
            got = supplier.get();
            if (got != null && got.equals(want)) return got;
            Thread.sleep(200);
        }
        return got == null ? Collections.emptyMap() : got;
    }

    // The store through an interactive query; null while it is not queryable (restoring, rebalancing).
    static Map<String, Long> queryStore(KafkaStreams streams) {
        try {
            ReadOnlyKeyValueStore<String, Long> store =
                streams.store(StoreQueryParameters.fromNameAndType(STORE, QueryableStoreTypes.keyValueStore()));
            Map<String, Long> m = new TreeMap<>();
            try (KeyValueIterator<String, Long> it = store.all()) {
                while (it.hasNext()) {
                    KeyValue<String, Long> kv = it.next();
                    m.put(kv.key, kv.value);
                }
            }
            return m;
        } catch (RuntimeException e) {
            return null;
        }
    }

    // Reads word-counts-out from the beginning (kept open between polls): the latest count per word.
    static final class OutputReader implements AutoCloseable {
        final KafkaConsumer<String, Long> consumer;
        final Map<String, Long> latest = new TreeMap<>();

        OutputReader(String bootstrap) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
            consumer = new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer());
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < PARTITIONS; i++) tps.add(new TopicPartition(OUT, i));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
        }

        Map<String, Long> poll() {
            for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) latest.put(r.key(), r.value());
            return new TreeMap<>(latest);
        }

        @Override public void close() { consumer.close(); }
    }

    static KafkaStreams build(String bootstrap, String stateDir, AtomicLong restored) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(IN, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(WordCountRestore::split)
            .groupBy((k, w) -> w, Grouped.with(Serdes.String(), Serdes.String()))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(STORE))
            .toStream()
            .to(OUT, Produced.with(Serdes.String(), Serdes.Long()));
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, APP_ID);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "500");
        // No record cache: every count update goes to the changelog (about 7,000 records for
        // batch A, many per word), so the restore must end on the latest value of each key.
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, "0");
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        KafkaStreams streams = new KafkaStreams(builder.build(), p);
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                System.err.println("restore start " + tp + " " + store + " " + start + ".." + end);
            }
            @Override public void onBatchRestored(TopicPartition tp, String store, long end, long n) { restored.addAndGet(n); }
            @Override public void onRestoreEnd(TopicPartition tp, String store, long total) {
                System.err.println("restore end " + tp + " " + store + " " + total + " records");
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("uncaught: " + e);
            e.printStackTrace();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        return streams;
    }

    static boolean awaitRunning(KafkaStreams streams) throws InterruptedException {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (System.currentTimeMillis() < deadline) {
            KafkaStreams.State s = streams.state();
            if (s == KafkaStreams.State.RUNNING) return true;
            if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.PENDING_SHUTDOWN || s == KafkaStreams.State.NOT_RUNNING) return false;
            Thread.sleep(100);
        }
        return false;
    }

    // Both views (store and output topic) must reach want; one case each.
    static void check(String prefix, KafkaStreams streams, OutputReader out, Map<String, Long> want) throws InterruptedException {
        Map<String, Long> store = await(want, () -> queryStore(streams));
        if (store.equals(want)) pass(prefix + ".store_counts_exact"); else fail(prefix + ".store_counts_exact", diff(want, store));
        Map<String, Long> topic = await(want, out::poll);
        if (topic.equals(want)) pass(prefix + ".output_counts_exact"); else fail(prefix + ".output_counts_exact", diff(want, topic));
    }

    static void close(String name, KafkaStreams streams) {
        long t0 = System.currentTimeMillis();
        // LEAVE_GROUP: the next instance need not wait out this member's session (45 s).
        CloseOptions opts = CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
            .withTimeout(Duration.ofSeconds(30));
        if (streams.close(opts) && streams.state() == KafkaStreams.State.NOT_RUNNING) {
            pass(name);
            info(name + " in " + (System.currentTimeMillis() - t0) + " ms");
        } else {
            fail(name, "state " + streams.state() + " after close(LEAVE_GROUP, 30s)");
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3 || !(args[0].equals("first") || args[0].equals("second"))) {
            System.err.println("usage: WordCountRestore first|second BOOTSTRAP STATE_DIR");
            System.exit(2);
        }
        String phase = args[0], bootstrap = args[1], stateDir = args[2];
        Map<String, Long> countsA = expected(0, 2000);
        Map<String, Long> countsAB = expected(0, 3000);
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(ap)) {
            if (phase.equals("first")) {
                admin.createTopics(Arrays.asList(new NewTopic(IN, PARTITIONS, (short) 1), new NewTopic(OUT, PARTITIONS, (short) 1)))
                    .all().get();
                produce(bootstrap, 0, 2000);
                info("batch A: 2000 sentences, " + countsA.values().stream().mapToLong(Long::longValue).sum() + " words, "
                     + countsA.size() + " distinct");
            }
            AtomicLong restored = new AtomicLong();
            KafkaStreams streams = build(bootstrap, stateDir, restored);
            long t0 = System.currentTimeMillis();
            streams.start();
            try (OutputReader out = new OutputReader(bootstrap)) {
                if (!awaitRunning(streams)) {
                    fail(phase + ".running", "state " + streams.state() + " after " + WAIT_MS + " ms");
                    streams.close(Duration.ofSeconds(10));
                    System.exit(1);
                }
                pass(phase + ".running");
                info(phase + " instance RUNNING " + (System.currentTimeMillis() - t0) + " ms after start()");
                if (phase.equals("first")) {
                    check("first", streams, out, countsA);
                    ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, CHANGELOG);
                    Config cfg = admin.describeConfigs(Collections.singleton(res)).all().get().get(res);
                    String policy = cfg.get("cleanup.policy") == null ? null : cfg.get("cleanup.policy").value();
                    if ("compact".equals(policy)) pass("first.changelog_compact");
                    else fail("first.changelog_compact", CHANGELOG + " cleanup.policy=" + policy);
                } else {
                    // Before any new input: exactly batch A's counts, read back from the changelog.
                    Map<String, Long> store = await(countsA, () -> queryStore(streams));
                    info("second: restored " + restored.get() + " changelog records into an empty state dir in "
                         + (System.currentTimeMillis() - t0) + " ms");
                    if (store.equals(countsA) && restored.get() > 0) pass("second.restored_counts_exact");
                    else fail("second.restored_counts_exact", "restored " + restored.get() + " records; " + diff(countsA, store));
                    produce(bootstrap, 2000, 3000);
                    check("second", streams, out, countsAB);
                }
            }
            close(phase + ".close", streams);
        }
        System.exit(failed ? 1 : 0);
    }
}
