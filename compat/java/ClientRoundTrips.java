/*
 * compat/java/ClientRoundTrips.java -- round trips of the Java kafka-clients (4.4.0) against a
 * running broker. Owns the "java" suite of compat/run.sh.
 *
 * Run: compat/kafka-tools.sh run compat/java/ClientRoundTrips.java 127.0.0.1:PORT
 * Every check is a named case printing `PASS name` or `FAIL name: reason`; the last line is
 * `N passed, N failed`; the exit status is 1 when any case failed.
 *
 * Covers: AdminClient describeCluster, createTopics (and validateOnly, already-exists),
 * listTopics, describeTopics, describeConfigs (topic, broker), incrementalAlterConfigs (set,
 * delete, invalid value), createPartitions, deleteRecords, deleteTopics, describeLogDirs,
 * listOffsets; an idempotent acks=all producer with every codec, keyed and unkeyed records and
 * headers (duplicate header keys included), acks=0/1, an oversized record, LogAppendTime; a
 * consumer by assign/seek/seekToBeginning/seekToEnd checking every record, offsetsForTimes,
 * OFFSET_OUT_OF_RANGE with auto.offset.reset earliest and none, a long-polling fetch woken by
 * an append.
 */

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.Utils;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

public class ClientRoundTrips {
    interface Check { void run() throws Exception; }

    static int passed, failed;
    static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
    static final int PARTITIONS = 3;
    static final int PER_CODEC = 150; // keyed + as many unkeyed records per codec

    static String bootstrap;
    static final String RUN = Long.toString(System.currentTimeMillis() % 1_000_000_000L);
    static final String TOPIC = "java-rt-" + RUN;
    static final String TOPIC_TS = "java-ts-" + RUN;
    static final String TOPIC_DEL = "java-del-" + RUN;
    static int nodeId = -1;

    /** What a produced record must look like when read back, by (partition, offset). */
    record Expected(String codec, byte[] key, byte[] value, List<Header> headers) { }
    static final Map<TopicPartition, TreeMap<Long, Expected>> expected = new HashMap<>();

    static void check(String name, Check c) {
        try {
            c.run();
            passed++;
            System.out.println("PASS " + name);
        } catch (Throwable t) {
            failed++;
            Throwable cause = t instanceof ExecutionException && t.getCause() != null ? t.getCause() : t;
            System.out.println("FAIL " + name + ": " + cause.getClass().getSimpleName() + ": "
                + String.valueOf(cause.getMessage()).replace('\n', ' '));
        }
        System.out.flush();
    }

    static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static byte[] b(String s) { return s == null ? null : s.getBytes(StandardCharsets.UTF_8); }
    static String s(byte[] b) { return b == null ? "null" : new String(b, StandardCharsets.UTF_8); }

    static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20000);
        return Admin.create(p);
    }

    static KafkaProducer<byte[], byte[]> producer(String codec, String acks, boolean idempotent) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, acks);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(idempotent));
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30000);
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 4 << 20);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    static KafkaConsumer<byte[], byte[]> consumer() {
        return consumer(new Properties());
    }

    static KafkaConsumer<byte[], byte[]> consumer(Properties p) {
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20000);
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 64 * 1024);
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    static List<TopicPartition> partitions(String topic, int n) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < n; i++) tps.add(new TopicPartition(topic, i));
        return tps;
    }

    /** Polls until `want` records arrived or 30 s passed. */
    static List<ConsumerRecord<byte[], byte[]>> pollN(KafkaConsumer<byte[], byte[]> c, int want) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 30000;
        while (out.size() < want && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) out.add(r);
        }
        return out;
    }

    static String headersToString(Iterable<Header> hs) {
        StringBuilder sb = new StringBuilder("[");
        for (Header h : hs) sb.append(h.key()).append('=').append(s(h.value())).append(',');
        return sb.append(']').toString();
    }

    static Config topicConfig(Admin admin, String topic) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return admin.describeConfigs(List.of(r)).all().get(20, TimeUnit.SECONDS).get(r);
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
        try (Admin admin = admin()) {
            adminCases(admin);
            produceCases();
            consumeCases();
            timestampCases(admin);
            fetchCases(admin);
            laterAdminCases(admin);
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    static void adminCases(Admin admin) {
        check("admin.describeCluster", () -> {
            DescribeClusterResult r = admin.describeCluster();
            var nodes = r.nodes().get(20, TimeUnit.SECONDS);
            require(nodes.size() == 1, "nodes: " + nodes);
            nodeId = nodes.iterator().next().id();
            String id = r.clusterId().get(20, TimeUnit.SECONDS);
            require(id != null && !id.isEmpty(), "cluster id: " + id);
            require(r.controller().get(20, TimeUnit.SECONDS) != null, "no controller");
        });
        check("admin.createTopics", () -> admin.createTopics(List.of(
            new NewTopic(TOPIC, PARTITIONS, (short) 1),
            new NewTopic(TOPIC_TS, 1, (short) 1).configs(Map.of("message.timestamp.type", "CreateTime")),
            new NewTopic(TOPIC_DEL, 1, (short) 1))).all().get(20, TimeUnit.SECONDS));
        check("admin.createTopics.validateOnly", () -> {
            String name = "java-validate-" + RUN;
            admin.createTopics(List.of(new NewTopic(name, 2, (short) 1)),
                new CreateTopicsOptions().validateOnly(true)).all().get(20, TimeUnit.SECONDS);
            require(!admin.listTopics().names().get(20, TimeUnit.SECONDS).contains(name),
                "validateOnly created the topic");
        });
        check("admin.createTopics.alreadyExists", () -> {
            try {
                admin.createTopics(List.of(new NewTopic(TOPIC, PARTITIONS, (short) 1))).all().get(20, TimeUnit.SECONDS);
                throw new AssertionError("no error");
            } catch (ExecutionException e) {
                require(e.getCause() instanceof TopicExistsException, "got " + e.getCause());
            }
        });
        check("admin.listTopics", () -> {
            Set<String> names = admin.listTopics().names().get(20, TimeUnit.SECONDS);
            require(names.containsAll(List.of(TOPIC, TOPIC_TS, TOPIC_DEL)), "listed " + names);
        });
        check("admin.describeTopics", () -> {
            TopicDescription d = admin.describeTopics(List.of(TOPIC)).allTopicNames().get(20, TimeUnit.SECONDS).get(TOPIC);
            require(d.partitions().size() == PARTITIONS, "partitions " + d.partitions().size());
            require(d.topicId() != null && !d.topicId().toString().equals("AAAAAAAAAAAAAAAAAAAAAA"), "topic id " + d.topicId());
            for (TopicPartitionInfo p : d.partitions()) {
                require(p.leader() != null && p.leader().id() == nodeId, "leader of " + p);
                require(p.replicas().size() == 1 && p.isr().size() == 1, "replicas/isr of " + p);
            }
        });
        check("admin.describeTopics.unknown", () -> {
            try {
                admin.describeTopics(List.of("java-nope-" + RUN)).allTopicNames().get(20, TimeUnit.SECONDS);
                throw new AssertionError("no error");
            } catch (ExecutionException e) {
                require(e.getCause() instanceof UnknownTopicOrPartitionException, "got " + e.getCause());
            }
        });
        check("admin.describeConfigs.topic", () -> {
            Config c = topicConfig(admin, TOPIC);
            ConfigEntry policy = c.get("cleanup.policy");
            require(policy != null && policy.value().equals("delete"), "cleanup.policy " + policy);
            require(c.get("retention.ms") != null, "no retention.ms");
            require(c.get("max.message.bytes") != null, "no max.message.bytes");
            ConfigEntry ts = topicConfig(admin, TOPIC_TS).get("message.timestamp.type");
            require(ts != null && ts.value().equals("CreateTime")
                && ts.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "created config " + ts);
        });
        check("admin.describeConfigs.broker", () -> {
            ConfigResource r = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(nodeId));
            Config c = admin.describeConfigs(List.of(r)).all().get(20, TimeUnit.SECONDS).get(r);
            require(!c.entries().isEmpty(), "no broker config entries");
            require(c.get("num.partitions") != null, "no num.partitions");
        });
        check("admin.incrementalAlterConfigs.set", () -> {
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
            admin.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET))))
                .all().get(20, TimeUnit.SECONDS);
            ConfigEntry e = topicConfig(admin, TOPIC).get("retention.ms");
            require(e != null && e.value().equals("3600000"), "after set: " + e);
            require(e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "source " + e.source());
        });
        check("admin.incrementalAlterConfigs.delete", () -> {
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
            admin.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE))))
                .all().get(20, TimeUnit.SECONDS);
            ConfigEntry e = topicConfig(admin, TOPIC).get("retention.ms");
            require(e != null && !e.value().equals("3600000"), "after delete: " + e);
            require(e.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "source " + e.source());
        });
        check("admin.incrementalAlterConfigs.invalid", () -> {
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
            try {
                admin.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                    new ConfigEntry("retention.ms", "not-a-number"), AlterConfigOp.OpType.SET))))
                    .all().get(20, TimeUnit.SECONDS);
                throw new AssertionError("no error");
            } catch (ExecutionException e) {
                // Kafka answers INVALID_CONFIG (40) for a value of the wrong type
                require(e.getCause() instanceof InvalidConfigurationException, "got " + e.getCause());
            }
        });
    }

    static void produceCases() {
        for (String codec : CODECS) {
            check("produce.idempotent.acksAll." + codec, () -> {
                List<Future<RecordMetadata>> futures = new ArrayList<>();
                List<Expected> sent = new ArrayList<>();
                try (KafkaProducer<byte[], byte[]> p = producer(codec, "all", true)) {
                    for (int i = 0; i < PER_CODEC * 2; i++) {
                        boolean keyed = i % 2 == 0;
                        byte[] key = keyed ? b("key-" + (i % 23)) : null;
                        byte[] value = i % 37 == 5 ? null : b(codec + "-value-" + i + "-" + "x".repeat(i % 50));
                        List<Header> hs = new ArrayList<>();
                        if (i % 3 != 0) {
                            hs.add(new RecordHeader("trace", b("t" + i)));
                            hs.add(new RecordHeader("dup", b("first")));
                            hs.add(new RecordHeader("dup", b("second")));
                            hs.add(new RecordHeader("nullvalue", (byte[]) null));
                        }
                        futures.add(p.send(new ProducerRecord<>(TOPIC, null, key, value, hs)));
                        sent.add(new Expected(codec, key, value, hs));
                    }
                    p.flush();
                }
                for (int i = 0; i < futures.size(); i++) {
                    RecordMetadata md = futures.get(i).get(30, TimeUnit.SECONDS);
                    TopicPartition tp = new TopicPartition(md.topic(), md.partition());
                    Expected prev = expected.computeIfAbsent(tp, k -> new TreeMap<>()).put(md.offset(), sent.get(i));
                    require(prev == null, "offset " + md.offset() + " of " + tp + " given twice");
                }
            });
        }
        check("produce.keyed.murmur2", () -> {
            Map<String, Integer> seen = new HashMap<>();
            int keyed = 0;
            for (var e : expected.entrySet()) {
                for (Expected x : e.getValue().values()) {
                    if (x.key() == null) continue;
                    keyed++;
                    int want = Utils.toPositive(Utils.murmur2(x.key())) % PARTITIONS;
                    require(e.getKey().partition() == want, s(x.key()) + " on " + e.getKey() + ", murmur2 says " + want);
                    Integer before = seen.put(s(x.key()), e.getKey().partition());
                    require(before == null || before == e.getKey().partition(), s(x.key()) + " on two partitions");
                }
            }
            require(keyed == PER_CODEC * CODECS.length, "keyed records acknowledged: " + keyed);
        });
        check("produce.offsets.contiguous", () -> {
            int total = 0;
            for (var e : expected.entrySet()) {
                long want = 0;
                for (long o : e.getValue().keySet()) {
                    require(o == want, e.getKey() + " offset " + o + " where " + want + " was next");
                    want++;
                }
                total += e.getValue().size();
            }
            require(total == PER_CODEC * 2 * CODECS.length, "acknowledged " + total);
        });
        for (String acks : List.of("0", "1")) {
            check("produce.acks" + acks, () -> {
                try (KafkaProducer<byte[], byte[]> p = producer("none", acks, false)) {
                    RecordMetadata md = p.send(new ProducerRecord<>(TOPIC_DEL, b("k"), b("acks" + acks))).get(30, TimeUnit.SECONDS);
                    require(acks.equals("0") ? md.offset() == -1 : md.offset() >= 0, "offset " + md.offset());
                }
            });
        }
        check("produce.recordTooLarge", () -> {
            try (KafkaProducer<byte[], byte[]> p = producer("none", "all", true)) {
                p.send(new ProducerRecord<>(TOPIC_DEL, new byte[2 << 20])).get(30, TimeUnit.SECONDS);
                throw new AssertionError("a 2 MiB record was accepted");
            } catch (ExecutionException e) {
                require(e.getCause() instanceof RecordTooLargeException, "got " + e.getCause());
            }
        });
    }

    static void consumeCases() {
        List<TopicPartition> tps = partitions(TOPIC, PARTITIONS);
        int total = expected.values().stream().mapToInt(Map::size).sum();
        check("consume.assign.seekToBeginning.all", () -> {
            require(total > 0, "nothing was produced");
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                c.assign(tps);
                c.seekToBeginning(tps);
                List<ConsumerRecord<byte[], byte[]>> got = pollN(c, total);
                Set<String> seen = new HashSet<>();
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    require(seen.add(tp + "@" + r.offset()), "record " + tp + "@" + r.offset() + " delivered twice");
                    Expected x = expected.getOrDefault(tp, new TreeMap<>()).get(r.offset());
                    require(x != null, "unexpected record " + tp + "@" + r.offset());
                    String where = tp + "@" + r.offset() + " (" + x.codec() + ")";
                    require(Arrays.equals(x.key(), r.key()), where + " key " + s(r.key()) + " != " + s(x.key()));
                    require(Arrays.equals(x.value(), r.value()), where + " value " + s(r.value()) + " != " + s(x.value()));
                    require(headersToString(x.headers()).equals(headersToString(r.headers())),
                        where + " headers " + headersToString(r.headers()) + " != " + headersToString(x.headers()));
                    require(r.timestampType() == TimestampType.CREATE_TIME, where + " timestamp type " + r.timestampType());
                }
                require(got.size() == total, "read " + got.size() + " of " + total);
            }
        });
        check("consume.seek.everyCodec", () -> {
            require(total > 0, "nothing was produced");
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                for (var e : expected.entrySet()) {
                    Set<String> done = new HashSet<>();
                    for (var x : e.getValue().entrySet()) {
                        // the first record of each codec past offset 0: mostly inside a batch
                        if (x.getKey() == 0 || !done.add(x.getValue().codec())) continue;
                        long o = x.getKey() + 1;
                        if (!e.getValue().containsKey(o)) continue;
                        c.assign(List.of(e.getKey()));
                        c.seek(e.getKey(), o);
                        List<ConsumerRecord<byte[], byte[]>> got = pollN(c, 1);
                        require(!got.isEmpty(), "nothing after seek to " + e.getKey() + "@" + o);
                        require(got.get(0).offset() == o, "seek to " + o + " gave offset " + got.get(0).offset());
                        require(Arrays.equals(got.get(0).value(), e.getValue().get(o).value()), "value at " + o);
                    }
                }
            }
        });
        check("consume.group.commitSync.committed", () -> {
            Properties p = new Properties();
            p.put(ConsumerConfig.GROUP_ID_CONFIG, "java-round-trips");
            // The consumer protocol's client (KIP-848) commits and fetches offsets by topic id
            // (OffsetCommit/OffsetFetch v10); the classic one stays at v9, by name.
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
            try (KafkaConsumer<byte[], byte[]> c = consumer(p)) {
                TopicPartition tp = tps.get(0);
                long want = expected.getOrDefault(tp, new TreeMap<>()).size();
                require(want > 0, "nothing was produced to " + tp);
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                require(pollN(c, (int) want).size() == want, "read " + tp);
                c.commitSync();
                var committed = c.committed(Set.of(tp)).get(tp);
                require(committed != null && committed.offset() == want,
                    tp + " committed " + committed + " != " + want);
            }
        });
        check("consume.seekToEnd.beginningEndOffsets", () -> {
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                c.assign(tps);
                c.seekToEnd(tps);
                Map<TopicPartition, Long> end = c.endOffsets(tps);
                Map<TopicPartition, Long> begin = c.beginningOffsets(tps);
                for (TopicPartition tp : tps) {
                    long want = expected.getOrDefault(tp, new TreeMap<>()).size();
                    require(c.position(tp) == want, tp + " position after seekToEnd " + c.position(tp) + " != " + want);
                    require(end.get(tp) == want, tp + " end offset " + end.get(tp) + " != " + want);
                    require(begin.get(tp) == 0, tp + " beginning offset " + begin.get(tp));
                }
                require(c.poll(Duration.ofMillis(500)).isEmpty(), "records after seekToEnd");
            }
        });
    }

    static void timestampCases(Admin admin) {
        long base = System.currentTimeMillis() - 3_600_000L;
        TopicPartition tp = new TopicPartition(TOPIC_TS, 0);
        check("produce.timestamps", () -> {
            try (KafkaProducer<byte[], byte[]> p = producer("lz4", "all", true)) {
                for (int i = 0; i < 10; i++) {
                    RecordMetadata md = p.send(new ProducerRecord<>(TOPIC_TS, 0, base + i * 1000L, b("k" + i), b("ts" + i))).get(30, TimeUnit.SECONDS);
                    require(md.offset() == i && md.timestamp() == base + i * 1000L, "metadata " + md);
                }
            }
        });
        check("consume.offsetsForTimes", () -> {
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                Map<Long, Long> cases = Map.of(base + 3000, 3L, base + 3500, 4L, base - 10, 0L, base + 9000, 9L);
                for (var e : cases.entrySet()) {
                    OffsetAndTimestamp ot = c.offsetsForTimes(Map.of(tp, e.getKey())).get(tp);
                    require(ot != null && ot.offset() == e.getValue(), "for " + (e.getKey() - base) + ": " + ot);
                    require(ot.timestamp() == base + e.getValue() * 1000, "timestamp " + ot);
                }
                require(c.offsetsForTimes(Map.of(tp, base + 99_000)).get(tp) == null, "found a future timestamp");
            }
        });
        check("admin.listOffsets", () -> {
            var r = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get(20, TimeUnit.SECONDS);
            require(r.offset() == 0, "earliest " + r.offset());
            r = admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get(20, TimeUnit.SECONDS);
            require(r.offset() == 10, "latest " + r.offset());
            r = admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp).get(20, TimeUnit.SECONDS);
            require(r.offset() == 9 && r.timestamp() == base + 9000, "max timestamp " + r.offset() + "/" + r.timestamp());
        });
        check("admin.deleteRecords", () -> {
            long low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp)
                .get(20, TimeUnit.SECONDS).lowWatermark();
            require(low == 4, "low watermark " + low);
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                require(c.beginningOffsets(List.of(tp)).get(tp) == 4, "beginning offset " + c.beginningOffsets(List.of(tp)));
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                List<ConsumerRecord<byte[], byte[]>> got = pollN(c, 6);
                require(got.size() == 6 && got.get(0).offset() == 4 && s(got.get(0).value()).equals("ts4"),
                    "after deleteRecords read " + got.size() + " records, first " + (got.isEmpty() ? "none" : got.get(0).offset()));
            }
        });
    }

    static void fetchCases(Admin admin) {
        TopicPartition tp0 = new TopicPartition(TOPIC, 0);
        check("consume.outOfRange.resetEarliest", () -> {
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                c.assign(List.of(tp0));
                c.seek(tp0, 1_000_000L);
                List<ConsumerRecord<byte[], byte[]>> got = pollN(c, 1);
                require(!got.isEmpty() && got.get(0).offset() == 0, "after OFFSET_OUT_OF_RANGE: "
                    + (got.isEmpty() ? "nothing" : "offset " + got.get(0).offset()));
            }
        });
        check("consume.outOfRange.resetNone", () -> {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                c.assign(List.of(tp0));
                c.seek(tp0, 1_000_000L);
                long deadline = System.currentTimeMillis() + 15000;
                while (System.currentTimeMillis() < deadline) {
                    try {
                        c.poll(Duration.ofMillis(200));
                    } catch (org.apache.kafka.clients.consumer.OffsetOutOfRangeException e) {
                        return;
                    }
                }
                throw new AssertionError("no OffsetOutOfRangeException within 15 s");
            }
        });
        check("consume.longPoll.wokenByAppend", () -> {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10000);
            p.put(ConsumerConfig.FETCH_MIN_BYTES_CONFIG, 1);
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
                 KafkaProducer<byte[], byte[]> prod = producer("none", "all", true)) {
                TopicPartition tp = new TopicPartition(TOPIC_DEL, 0);
                c.assign(List.of(tp));
                c.seekToEnd(List.of(tp));
                c.position(tp);
                c.poll(Duration.ofMillis(300)); // the long-polling fetch is now parked at the broker
                long sent = System.nanoTime();
                prod.send(new ProducerRecord<>(TOPIC_DEL, 0, null, b("wake"))).get(30, TimeUnit.SECONDS);
                List<ConsumerRecord<byte[], byte[]>> got = pollN(c, 1);
                long ms = (System.nanoTime() - sent) / 1_000_000;
                require(got.size() == 1 && s(got.get(0).value()).equals("wake"), "read " + got.size());
                require(ms < 5000, "record arrived " + ms + " ms after the append (fetch.max.wait.ms=10000)");
            }
        });
        check("produce.logAppendTime", () -> {
            String topic = "java-lat-" + RUN;
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                .configs(Map.of("message.timestamp.type", "LogAppendTime")))).all().get(20, TimeUnit.SECONDS);
            long before = System.currentTimeMillis();
            try (KafkaProducer<byte[], byte[]> p = producer("gzip", "all", true)) {
                RecordMetadata md = p.send(new ProducerRecord<>(topic, 0, 12345L, b("k"), b("v"))).get(30, TimeUnit.SECONDS);
                require(md.timestamp() >= before - 1000, "metadata timestamp " + md.timestamp() + " is not the append time");
            }
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                TopicPartition tp = new TopicPartition(topic, 0);
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                List<ConsumerRecord<byte[], byte[]>> got = pollN(c, 1);
                require(got.size() == 1, "read " + got.size());
                require(got.get(0).timestampType() == TimestampType.LOG_APPEND_TIME && got.get(0).timestamp() >= before - 1000,
                    "read " + got.get(0).timestampType() + " " + got.get(0).timestamp());
            }
        });
    }

    static void laterAdminCases(Admin admin) {
        check("admin.createPartitions", () -> {
            admin.createPartitions(Map.of(TOPIC, NewPartitions.increaseTo(PARTITIONS + 1))).all().get(20, TimeUnit.SECONDS);
            TopicDescription d = admin.describeTopics(List.of(TOPIC)).allTopicNames().get(20, TimeUnit.SECONDS).get(TOPIC);
            require(d.partitions().size() == PARTITIONS + 1, "partitions " + d.partitions().size());
            try (KafkaProducer<byte[], byte[]> p = producer("none", "all", true)) {
                RecordMetadata md = p.send(new ProducerRecord<>(TOPIC, PARTITIONS, b("new"), b("partition"))).get(30, TimeUnit.SECONDS);
                require(md.partition() == PARTITIONS && md.offset() == 0, "produce to new partition " + md);
            }
            try (KafkaConsumer<byte[], byte[]> c = consumer()) {
                TopicPartition tp = new TopicPartition(TOPIC, PARTITIONS);
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                List<ConsumerRecord<byte[], byte[]>> got = pollN(c, 1);
                require(got.size() == 1 && s(got.get(0).value()).equals("partition"), "read back " + got.size());
            }
        });
        check("admin.describeLogDirs", () -> {
            Map<String, LogDirDescription> dirs = admin.describeLogDirs(List.of(nodeId)).allDescriptions()
                .get(20, TimeUnit.SECONDS).get(nodeId);
            require(dirs != null && !dirs.isEmpty(), "no log dirs");
            boolean found = dirs.values().stream().anyMatch(d -> d.replicaInfos().containsKey(new TopicPartition(TOPIC, 0)));
            require(found, "partition " + TOPIC + "-0 not in " + dirs.keySet());
        });
        check("admin.deleteTopics", () -> {
            admin.deleteTopics(List.of(TOPIC_DEL)).all().get(20, TimeUnit.SECONDS);
            long deadline = System.currentTimeMillis() + 10000;
            while (admin.listTopics().names().get(20, TimeUnit.SECONDS).contains(TOPIC_DEL)) {
                require(System.currentTimeMillis() < deadline, "still listed 10 s after deletion");
                Thread.sleep(100);
            }
            try {
                admin.describeTopics(List.of(TOPIC_DEL)).allTopicNames().get(20, TimeUnit.SECONDS);
                throw new AssertionError("describe after delete succeeded");
            } catch (ExecutionException e) {
                require(e.getCause() instanceof UnknownTopicOrPartitionException, "got " + e.getCause());
            }
        });
    }
}
