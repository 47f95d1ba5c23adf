/*
 * compat/security/QuotaClients.java -- the Java kafka-clients (4.4.0) cases of compat/security/quotas.sh:
 * client quotas (KIP-13, KIP-219) seen by real producers and consumers on a PLAINTEXT listener
 * (principal User:ANONYMOUS), with the quotas quotas.sh sets through ConfigCommand before:
 *   clients/SLOW_PRODUCER  producer_byte_rate=RATE      clients/SLOW_CONSUMER  consumer_byte_rate=RATE
 *   clients/<default>      producer_byte_rate=4194304 (far above what one producer here sends)
 * and none for FREE_PRODUCER / FREE_CONSUMER beyond that default.
 *
 * Run: compat/kafka-tools.sh run compat/security/QuotaClients.java --bootstrap ADDR --topic-free TF
 *        --topic-slow TS [--records 100] [--size 10240] [--rate 50000] [--min-secs 5]
 *        [--slow-producer slow-producer] [--free-producer free-producer]
 *        [--slow-consumer slow-consumer] [--free-consumer free-consumer]
 *   or:  ... QuotaClients.java --bootstrap ADDR --held-rate 5242880 --topic-held T --topic-free TF [...]
 * Every check is a named case printing `PASS name` / `FAIL name: reason` (`INFO ...` for figures);
 * the last line is `N passed, N failed`; exit status 1 when any failed.
 *
 * Cases:
 *   quotas.java.admin.describe_slow_clients  Admin.describeClientQuotas finds RATE for both slow ids
 *   quotas.java.admin.unknown_key_rejected   Admin.alterClientQuotas with an unknown key: the broker
 *                                            answers InvalidRequestException (ConfigCommand stops
 *                                            such a key before sending it)
 *   quotas.java.admin.mutation_quota_refuses  Admin.alterClientQuotas clients/quota-mutator
 *                                      controller_mutation_rate=2 (quota.window.num=2 of 1 s: a budget
 *                                      of 4 partitions); the quota-mutator Admin creates 10- and
 *                                      1-partition topics in one call with retryOnQuotaViolation
 *                                      false: the first is created, the second fails with
 *                                      ThrottlingQuotaExceededException and throttleTimeMs > 0
 *   quotas.java.admin.mutation_quota_retried  the same Admin creates another topic with default
 *                                      options: the Admin waits out the throttle and it is created
 *   quotas.java.producer_unthrottled   FREE_PRODUCER sends RECORDS x SIZE bytes to TF (acks=all,
 *                                      linger.ms=0, batch.size=16384): every record acknowledged,
 *                                      produce-throttle-time-max (producer-metrics) 0 throughout
 *   then, at the same time (two threads; their lines are printed when both are done):
 *   quotas.java.producer_throttled     SLOW_PRODUCER sends the same to TS as fast as it can: every
 *                                      record acknowledged within 90 s, produce-throttle-time-max
 *                                      > 0, and the run took at least MIN_SECS (INFO: the rate)
 *   quotas.java.consumer_throttled     SLOW_CONSUMER (no group: assign partition 0, seekToBeginning)
 *                                      reads TF: all RECORDS within 90 s, fetch-throttle-time-max
 *                                      (consumer-fetch-manager-metrics) > 0, at least MIN_SECS
 *   quotas.java.consumer_unthrottled   FREE_CONSUMER reads TF: all RECORDS, fetch-throttle-time-max 0
 * The throttle metrics are Max stats over the clients' 30 s sample windows; they are read every
 * 250 ms while a client runs and the largest value kept.
 *
 * With --held-rate BYTES_PER_S (quotas.sh runs it against a broker of its own, with no other
 * quota): the acceptance, "a producer under a 5 MB/s producer_byte_rate quota is held to
 * 5 MB/s +-10% over 30 s, while an unthrottled client beside it is not slowed". Options:
 *   --held-secs 30 --solo-secs 5 --warm-secs 2 --held-size 16384 --held-tolerance 0.10 --min-solo-share 0.70
 *   --held-producer producer-5mbps --free-producer producer-free --topic-held T --topic-free TF
 * Both producers: acks=1, linger.ms=5, batch.size=262144, records of HELD_SIZE random bytes (one
 * array reused), sent to partition 0 as fast as send() takes them until the time is up; the bytes
 * counted are those whose acknowledgement came within the time, from the first send on.
 *   quotas.java.held.set_quota                Admin.alterClientQuotas: clients/HELD_PRODUCER
 *                                             producer_byte_rate=BYTES_PER_S, described back
 *   then FREE_PRODUCER alone for WARM_SECS (not measured: the JIT warms up), alone for SOLO_SECS
 *   (its solo rate), then both at once for HELD_SECS:
 *   quotas.java.producer_5mbps_30s            HELD_PRODUCER's acknowledged bytes / HELD_SECS within
 *                                             BYTES_PER_S +- HELD_TOLERANCE, produce-throttle-time-max
 *                                             > 0, no send failed (INFO: the rate)
 *   quotas.java.unthrottled_beside_5mbps      FREE_PRODUCER: produce-throttle-time-max 0, no send
 *                                             failed, and its rate beside the held one at least
 *                                             MIN_SOLO_SHARE of its solo rate (INFO: both rates). The
 *                                             machine this runs on has 2 cores shared by the broker,
 *                                             both producers and whatever else runs: the share is
 *                                             loose on purpose; a quota leaking onto other clients
 *                                             (a shared sensor, a muted connection of the wrong
 *                                             client) shows as throttle time or a rate near 5 MB/s.
 */

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.errors.ThrottlingQuotaExceededException;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

public class QuotaClients {
    static int passed = 0, failed = 0;
    static final Map<String, String> arg = new HashMap<>();
    static String bootstrap;
    static final long BOUND_SECS = 90;

    interface Body { void run(StringBuilder out) throws Exception; }

    /** Runs BODY; returns its INFO lines and then its PASS/FAIL line (printed by the caller). */
    static String check(String name, Body body) {
        StringBuilder out = new StringBuilder();
        try {
            body.run(out);
            out.append("PASS ").append(name).append('\n');
        } catch (Throwable t) {
            String msg = (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ');
            out.append("FAIL ").append(name).append(": ").append(msg.length() > 400 ? msg.substring(0, 400) : msg).append('\n');
            t.printStackTrace();
        }
        return out.toString();
    }

    static synchronized void print(String lines) {
        for (String line : lines.split("\n")) {
            if (line.isEmpty()) continue;
            if (line.startsWith("PASS ")) passed++;
            if (line.startsWith("FAIL ")) failed++;
            System.out.println(line);
        }
        System.out.flush();
    }

    static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static Properties conf(String clientId) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.CLIENT_ID_CONFIG, clientId);
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(CommonClientConfigs.RECONNECT_BACKOFF_MAX_MS_CONFIG, "1000");
        return p;
    }

    /** The value of the client metric NAME in GROUP (NaN: no such metric or no sample yet). */
    static double metric(Map<MetricName, ? extends Metric> metrics, String group, String name) {
        for (Map.Entry<MetricName, ? extends Metric> e : metrics.entrySet()) {
            MetricName m = e.getKey();
            if (m.group().equals(group) && m.name().equals(name) && m.tags().keySet().stream().allMatch(k -> k.equals("client-id"))) {
                Object v = e.getValue().metricValue();
                return v instanceof Number n ? n.doubleValue() : Double.NaN;
            }
        }
        return Double.NaN;
    }

    static double maxOf(double seen, double now) {
        return Double.isNaN(now) ? seen : Math.max(seen, now);
    }

    static String rate(long bytes, double secs) {
        return String.format("%.0f B/s (%d bytes in %.1f s)", bytes / Math.max(secs, 0.001), bytes, secs);
    }

    record Outcome(long bytes, double secs, double throttleMax) { }

    /** CLIENT_ID sends RECORDS values of SIZE bytes to partition 0 of TOPIC, all at once, and waits
     *  (at most BOUND_SECS) for every acknowledgement, reading produce-throttle-time-max meanwhile. */
    static Outcome produce(String clientId, String topic, int records, int size) throws Exception {
        Properties p = conf(clientId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "16384");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString((BOUND_SECS + 30) * 1000));
        Random random = new Random(clientId.hashCode());
        double throttleMax = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            // Metadata first, so the clock measures the sends only.
            producer.partitionsFor(topic);
            long start = System.nanoTime(), deadline = start + TimeUnit.SECONDS.toNanos(BOUND_SECS);
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < records; i++) {
                byte[] value = new byte[size];
                random.nextBytes(value);
                sent.add(producer.send(new ProducerRecord<>(topic, 0, null, value)));
            }
            int acked = 0;
            for (Future<RecordMetadata> f : sent) {
                while (true) {
                    throttleMax = maxOf(throttleMax, metric(producer.metrics(), "producer-metrics", "produce-throttle-time-max"));
                    if (System.nanoTime() > deadline) {
                        producer.close(Duration.ZERO);
                        throw new AssertionError(acked + "/" + records + " records acknowledged in " + BOUND_SECS
                                + " s (produce-throttle-time-max " + throttleMax + " ms)");
                    }
                    try {
                        f.get(250, TimeUnit.MILLISECONDS);
                        acked++;
                        break;
                    } catch (TimeoutException e) {
                        // keep waiting, reading the metric
                    }
                }
            }
            double secs = (System.nanoTime() - start) / 1e9;
            throttleMax = maxOf(throttleMax, metric(producer.metrics(), "producer-metrics", "produce-throttle-time-max"));
            return new Outcome((long) records * size, secs, throttleMax);
        }
    }

    /** CLIENT_ID reads partition 0 of TOPIC from its start (no group) until RECORDS records came
     *  (at most BOUND_SECS), reading fetch-throttle-time-max meanwhile. */
    static Outcome consume(String clientId, String topic, int records) {
        Properties p = conf(clientId);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        KafkaConsumer<byte[], byte[]> k = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        double throttleMax = 0;
        try {
            TopicPartition tp = new TopicPartition(topic, 0);
            k.assign(List.of(tp));
            k.seekToBeginning(List.of(tp));
            long start = System.nanoTime(), deadline = start + TimeUnit.SECONDS.toNanos(BOUND_SECS);
            int count = 0;
            long bytes = 0;
            while (count < records && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : k.poll(Duration.ofMillis(250))) {
                    count++;
                    bytes += r.value() == null ? 0 : r.value().length;
                }
                throttleMax = maxOf(throttleMax, metric(k.metrics(), "consumer-fetch-manager-metrics", "fetch-throttle-time-max"));
            }
            double secs = (System.nanoTime() - start) / 1e9;
            require(count == records, "read " + count + "/" + records + " records in " + String.format("%.1f", secs)
                    + " s (fetch-throttle-time-max " + throttleMax + " ms)");
            return new Outcome(bytes, secs, throttleMax);
        } finally {
            k.close(CloseOptions.timeout(Duration.ofSeconds(5)));
        }
    }

    record Blast(long bytes, double secs, double throttleMax, long failures, String firstFailure) {
        double rate() { return bytes / secs; }
    }

    /** CLIENT_ID sends SIZE-byte records to partition 0 of TOPIC as fast as send() takes them for
     *  SECS, starting when every party of START has arrived (null: at once); counts the bytes
     *  acknowledged within SECS of the first send. Unsent or unacknowledged records are dropped
     *  at the end (close with no wait); only failures before the end count. */
    static Blast blast(String clientId, String topic, int size, double secs, CyclicBarrier start) throws Exception {
        Properties p = conf(clientId);
        p.put(ProducerConfig.ACKS_CONFIG, "1");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "262144");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        byte[] value = new byte[size];
        new Random(clientId.hashCode()).nextBytes(value);
        AtomicLong acked = new AtomicLong(), failures = new AtomicLong();
        String[] firstFailure = new String[1];
        double throttleMax = 0;
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        try {
            producer.partitionsFor(topic);
            if (start != null) start.await(60, TimeUnit.SECONDS);
            long t0 = System.nanoTime(), end = t0 + (long) (secs * 1e9), nextMetric = t0;
            while (System.nanoTime() < end) {
                producer.send(new ProducerRecord<>(topic, 0, null, value), (meta, e) -> {
                    if (System.nanoTime() > end) return;
                    if (e == null) {
                        acked.addAndGet(size);
                    } else if (failures.getAndIncrement() == 0) {
                        firstFailure[0] = e.toString();
                    }
                });
                long now = System.nanoTime();
                if (now >= nextMetric) {
                    throttleMax = maxOf(throttleMax, metric(producer.metrics(), "producer-metrics", "produce-throttle-time-max"));
                    nextMetric = now + 250_000_000L;
                }
            }
            // send() may have blocked past the end (a full buffer): wait for the end, then read.
            long left = end - System.nanoTime();
            if (left > 0) TimeUnit.NANOSECONDS.sleep(left);
            throttleMax = maxOf(throttleMax, metric(producer.metrics(), "producer-metrics", "produce-throttle-time-max"));
            return new Blast(acked.get(), secs, throttleMax, failures.get(), firstFailure[0]);
        } finally {
            producer.close(Duration.ZERO);
        }
    }

    static String mbps(double bytesPerSec) {
        return String.format("%.2f MB/s", bytesPerSec / 1048576);
    }

    /** --held-rate: the 30 s case (see the header). */
    static void held() throws Exception {
        double bound = Double.parseDouble(arg.get("held-rate"));
        double secs = Double.parseDouble(arg.getOrDefault("held-secs", "30"));
        double soloSecs = Double.parseDouble(arg.getOrDefault("solo-secs", "5"));
        double warmSecs = Double.parseDouble(arg.getOrDefault("warm-secs", "2"));
        int size = Integer.parseInt(arg.getOrDefault("held-size", "16384"));
        double tolerance = Double.parseDouble(arg.getOrDefault("held-tolerance", "0.10"));
        double minShare = Double.parseDouble(arg.getOrDefault("min-solo-share", "0.70"));
        String heldProducer = arg.getOrDefault("held-producer", "producer-5mbps");
        String freeProducer = arg.getOrDefault("free-producer", "producer-free");
        String th = arg.get("topic-held"), tf = arg.get("topic-free");
        String tag = String.format("quotas.java.producer_%.0fmbps_%.0fs", bound / 1048576, secs);
        String freeTag = String.format("quotas.java.unthrottled_beside_%.0fmbps", bound / 1048576);
        System.out.println("# kafka-clients " + org.apache.kafka.common.utils.internals.AppInfoParser.getVersion()
                + ", Java " + System.getProperty("java.version") + ", held: " + heldProducer + " at " + (long) bound
                + " B/s for " + secs + " s beside " + freeProducer + " (solo " + soloSecs + " s first), " + size + "-byte records");

        Properties admin = conf("quota-admin");
        boolean[] quotaSet = {false};
        print(check("quotas.java.held.set_quota", out -> {
            try (Admin ad = Admin.create(admin)) {
                ad.createTopics(List.of(new NewTopic(th, 1, (short) 1), new NewTopic(tf, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
                var entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, heldProducer));
                ad.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                        List.of(new ClientQuotaAlteration.Op("producer_byte_rate", bound))))).all().get(30, TimeUnit.SECONDS);
                var got = ad.describeClientQuotas(ClientQuotaFilter.all()).entities().get(30, TimeUnit.SECONDS);
                require(got.equals(Map.of(entity, Map.of("producer_byte_rate", bound))), "the broker's quotas: " + got);
            }
            quotaSet[0] = true;
        }));
        if (!quotaSet[0]) {
            print("FAIL " + tag + ": no quota set\nFAIL " + freeTag + ": no quota set\n");
            return;
        }

        blast(freeProducer, tf, size, warmSecs, null);  // JIT warm-up: a cold solo run would understate the rate
        Blast solo = blast(freeProducer, tf, size, soloSecs, null);
        System.out.println("INFO " + freeTag + ": " + freeProducer + " alone for " + soloSecs + " s: " + mbps(solo.rate())
                + ", produce-throttle-time-max " + solo.throttleMax + " ms, " + solo.failures + " failed sends");
        CyclicBarrier start = new CyclicBarrier(2);
        ExecutorService two = Executors.newFixedThreadPool(2);
        Future<Blast> heldRun = two.submit(() -> blast(heldProducer, th, size, secs, start));
        Future<Blast> freeRun = two.submit(() -> blast(freeProducer, tf, size, secs, start));
        two.shutdown();
        print(check(tag, out -> {
            Blast b = heldRun.get((long) secs + 90, TimeUnit.SECONDS);
            double lo = bound * (1 - tolerance), hi = bound * (1 + tolerance);
            out.append(String.format("INFO %s: client.id=%s %s (%d bytes acknowledged in %.0f s; bound %s, +-%.0f%%: %s..%s), "
                            + "produce-throttle-time-max %.0f ms, %d failed sends\n", tag, heldProducer, mbps(b.rate()), b.bytes, b.secs,
                    mbps(bound), tolerance * 100, mbps(lo), mbps(hi), b.throttleMax, b.failures));
            require(b.failures == 0, b.failures + " sends failed, the first: " + b.firstFailure);
            require(b.rate() >= lo && b.rate() <= hi, mbps(b.rate()) + " is outside " + mbps(lo) + ".." + mbps(hi));
            require(b.throttleMax > 0, "produce-throttle-time-max " + b.throttleMax + " ms, want > 0");
        }));
        print(check(freeTag, out -> {
            Blast b = freeRun.get((long) secs + 90, TimeUnit.SECONDS);
            out.append(String.format("INFO %s: client.id=%s %s beside %s (%d bytes in %.0f s), alone %s: %.0f%% of it (want >= %.0f%%), "
                            + "produce-throttle-time-max %.0f ms, %d failed sends\n", freeTag, freeProducer, mbps(b.rate()), heldProducer,
                    b.bytes, b.secs, mbps(solo.rate()), 100 * b.rate() / solo.rate(), minShare * 100, b.throttleMax, b.failures));
            require(solo.failures == 0 && b.failures == 0, (solo.failures + b.failures) + " sends failed, the first: "
                    + (solo.firstFailure != null ? solo.firstFailure : b.firstFailure));
            require(solo.throttleMax == 0 && b.throttleMax == 0, "produce-throttle-time-max " + solo.throttleMax + " ms alone, "
                    + b.throttleMax + " ms beside, want 0");
            require(b.rate() >= minShare * solo.rate(), mbps(b.rate()) + " beside the held producer, under "
                    + Math.round(minShare * 100) + "% of " + mbps(solo.rate()) + " alone");
        }));
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) throw new IllegalArgumentException("unknown argument " + args[i]);
            arg.put(args[i].substring(2), args[i + 1]);
        }
        bootstrap = arg.get("bootstrap");
        if (arg.containsKey("held-rate")) {
            held();
            System.out.println(passed + " passed, " + failed + " failed");
            System.out.flush();
            System.exit(failed == 0 ? 0 : 1);
        }
        String tf = arg.get("topic-free"), ts = arg.get("topic-slow");
        int records = Integer.parseInt(arg.getOrDefault("records", "100"));
        int size = Integer.parseInt(arg.getOrDefault("size", "10240"));
        double quota = Double.parseDouble(arg.getOrDefault("rate", "50000"));
        double minSecs = Double.parseDouble(arg.getOrDefault("min-secs", "5"));
        String slowProducer = arg.getOrDefault("slow-producer", "slow-producer");
        String freeProducer = arg.getOrDefault("free-producer", "free-producer");
        String slowConsumer = arg.getOrDefault("slow-consumer", "slow-consumer");
        String freeConsumer = arg.getOrDefault("free-consumer", "free-consumer");
        System.out.println("# kafka-clients " + org.apache.kafka.common.utils.internals.AppInfoParser.getVersion()
                + ", Java " + System.getProperty("java.version") + ", " + records + " x " + size + " bytes, quota " + quota + " B/s");

        Properties admin = conf("quota-admin");
        try (Admin ad = Admin.create(admin)) {
            ad.createTopics(List.of(new NewTopic(tf, 1, (short) 1), new NewTopic(ts, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.out.println("FAIL quotas.java.connect: creating " + tf + " and " + ts + " on " + bootstrap + ": " + e);
            System.exit(1);
        }

        print(check("quotas.java.admin.describe_slow_clients", out -> {
            try (Admin ad = Admin.create(admin)) {
                var got = ad.describeClientQuotas(ClientQuotaFilter.containsOnly(List.of(
                        ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.CLIENT_ID)))).entities().get(30, TimeUnit.SECONDS);
                var producerQuota = got.get(new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, slowProducer)));
                var consumerQuota = got.get(new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, slowConsumer)));
                require(producerQuota != null && Double.valueOf(quota).equals(producerQuota.get("producer_byte_rate"))
                        && consumerQuota != null && Double.valueOf(quota).equals(consumerQuota.get("consumer_byte_rate")),
                        "client-id quotas: " + got);
            }
        }));
        print(check("quotas.java.admin.unknown_key_rejected", out -> {
            try (Admin ad = Admin.create(admin)) {
                var entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, freeProducer));
                try {
                    ad.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                            List.of(new ClientQuotaAlteration.Op("no_such_quota", 5.0))))).all().get(30, TimeUnit.SECONDS);
                    throw new AssertionError("the broker accepted no_such_quota=5.0 for client-id " + freeProducer);
                } catch (java.util.concurrent.ExecutionException e) {
                    out.append("INFO quotas.java.admin.unknown_key_rejected: ").append(e.getCause()).append('\n');
                    require(e.getCause() instanceof InvalidRequestException, "not an InvalidRequestException: " + e.getCause());
                }
            }
        }));

        var mutator = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, "quota-mutator"));
        print(check("quotas.java.admin.mutation_quota_refuses", out -> {
            try (Admin ad = Admin.create(admin)) {
                ad.alterClientQuotas(List.of(new ClientQuotaAlteration(mutator,
                        List.of(new ClientQuotaAlteration.Op("controller_mutation_rate", 2.0))))).all().get(30, TimeUnit.SECONDS);
            }
            try (Admin ad = Admin.create(conf("quota-mutator"))) {
                var result = ad.createTopics(List.of(new NewTopic(tf + "-wide", 10, (short) 1), new NewTopic(tf + "-refused", 1, (short) 1)),
                        new CreateTopicsOptions().retryOnQuotaViolation(false)).values();
                result.get(tf + "-wide").get(30, TimeUnit.SECONDS);
                try {
                    result.get(tf + "-refused").get(30, TimeUnit.SECONDS);
                    throw new AssertionError("the second topic was created past controller_mutation_rate=2");
                } catch (java.util.concurrent.ExecutionException e) {
                    out.append("INFO quotas.java.admin.mutation_quota_refuses: ").append(e.getCause()).append('\n');
                    require(e.getCause() instanceof ThrottlingQuotaExceededException t && t.throttleTimeMs() > 0,
                            "not a ThrottlingQuotaExceededException with a throttle: " + e.getCause());
                }
            }
        }));
        print(check("quotas.java.admin.mutation_quota_retried", out -> {
            try (Admin ad = Admin.create(conf("quota-mutator"))) {
                long started = System.nanoTime();
                ad.createTopics(List.of(new NewTopic(tf + "-retried", 1, (short) 1))).all().get(60, TimeUnit.SECONDS);
                out.append(String.format("INFO quotas.java.admin.mutation_quota_retried: created after %.1f s%n",
                        (System.nanoTime() - started) / 1e9));
            }
        }));

        String[] produced = new String[1];
        print(check("quotas.java.producer_unthrottled", out -> {
            Outcome o = produce(freeProducer, tf, records, size);
            out.append("INFO quotas.java.producer_unthrottled: client.id=").append(freeProducer).append(' ')
                    .append(rate(o.bytes, o.secs)).append(", produce-throttle-time-max ").append(o.throttleMax).append(" ms\n");
            produced[0] = "ok";
            require(o.throttleMax == 0, "produce-throttle-time-max " + o.throttleMax + " ms, want 0");
        }));

        Supplier<String> slowProduce = () -> check("quotas.java.producer_throttled", out -> {
            Outcome o = produce(slowProducer, ts, records, size);
            out.append("INFO quotas.java.producer_throttled: client.id=").append(slowProducer).append(' ')
                    .append(rate(o.bytes, o.secs)).append(" against producer_byte_rate=").append((long) quota)
                    .append(", produce-throttle-time-max ").append(o.throttleMax).append(" ms\n");
            require(o.throttleMax > 0, "produce-throttle-time-max " + o.throttleMax + " ms, want > 0");
            require(o.secs >= minSecs, String.format("%d bytes took %.1f s, want at least %.1f s (%s)", o.bytes, o.secs, minSecs,
                    rate(o.bytes, o.secs)));
        });
        Supplier<String> slowConsume = () -> check("quotas.java.consumer_throttled", out -> {
            require(produced[0] != null, "nothing to read: " + tf + " was not filled");
            Outcome o = consume(slowConsumer, tf, records);
            out.append("INFO quotas.java.consumer_throttled: client.id=").append(slowConsumer).append(' ')
                    .append(rate(o.bytes, o.secs)).append(" against consumer_byte_rate=").append((long) quota)
                    .append(", fetch-throttle-time-max ").append(o.throttleMax).append(" ms\n");
            require(o.throttleMax > 0, "fetch-throttle-time-max " + o.throttleMax + " ms, want > 0");
            require(o.secs >= minSecs, String.format("%d bytes took %.1f s, want at least %.1f s (%s)", o.bytes, o.secs, minSecs,
                    rate(o.bytes, o.secs)));
        });
        CompletableFuture<String> p = CompletableFuture.supplyAsync(slowProduce);
        CompletableFuture<String> c = CompletableFuture.supplyAsync(slowConsume);
        print(p.get(BOUND_SECS + 60, TimeUnit.SECONDS));
        print(c.get(BOUND_SECS + 60, TimeUnit.SECONDS));

        print(check("quotas.java.consumer_unthrottled", out -> {
            require(produced[0] != null, "nothing to read: " + tf + " was not filled");
            Outcome o = consume(freeConsumer, tf, records);
            out.append("INFO quotas.java.consumer_unthrottled: client.id=").append(freeConsumer).append(' ')
                    .append(rate(o.bytes, o.secs)).append(", fetch-throttle-time-max ").append(o.throttleMax).append(" ms\n");
            require(o.throttleMax == 0, "fetch-throttle-time-max " + o.throttleMax + " ms, want 0");
        }));

        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }
}
