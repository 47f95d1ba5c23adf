/*
 * compat/share/ShareGroups.java -- share groups (KIP-932) with the Java KafkaShareConsumer of
 * kafka-clients 4.4.0 against a running broker started with
 * group.share.record.lock.duration.ms=5000. Owns the Java cases of the "share" suite
 * (compat/share/run.sh).
 *
 * Run: compat/kafka-tools.sh run compat/share/ShareGroups.java SOURCE_PATH 127.0.0.1:PORT
 * (SOURCE_PATH is this file: the lock case starts a second JVM running it, then SIGKILLs it).
 * Each case prints `PASS share.name` or `FAIL share.name: why` and INFO lines with figures.
 *
 * Share-partitions start at the high watermark when first fetched (share.auto.offset.reset
 * latest), so every case first makes its consumers fetch: it produces marker records until one
 * is delivered, and only then the records it counts.
 *
 * Cases:
 *   parallel   five implicit-mode consumers on one partition read 100,000 records together:
 *              each delivered once (delivery count 1), all of them, and by more than one member;
 *   release    explicit mode: a RELEASEd record comes back with delivery count 2, a REJECTed one
 *              never comes back, ACCEPTed ones never come back;
 *   limit      a record released on every delivery is delivered 5 times
 *              (group.share.delivery.count.limit) and then never again;
 *   lock       with share.auto.offset.reset=earliest set as a group config (and read back), a
 *              consumer in another JVM acquires 50 records and is SIGKILLed: another consumer
 *              gets all of them after the lock duration, with delivery count 2;
 *   admin      Admin.listGroups shows the share group (type SHARE), describeShareGroups lists
 *              its members and their assignment;
 *   restart    (modes restart1 / restart2, driven by run.sh around a SIGKILL and restart of the
 *              broker) 60 of 100 records accepted, the rest held; after the restart the 40 come
 *              back and none of the 60.
 */

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

public class ShareGroups {
    interface Check { void run() throws Exception; }

    static int passed, failed;
    static String bootstrap, source;
    static final String RUN = Long.toString(System.currentTimeMillis() % 1_000_000_000L);
    static final String MARK = "marker";

    static void check(String name, Check c) {
        long t0 = System.nanoTime();
        try {
            c.run();
            passed++;
            System.out.println("PASS share." + name);
        } catch (Throwable t) {
            failed++;
            Throwable cause = t instanceof ExecutionException && t.getCause() != null ? t.getCause() : t;
            System.out.println("FAIL share." + name + ": " + cause.getClass().getSimpleName() + ": "
                + String.valueOf(cause.getMessage()).replace('\n', ' '));
            t.printStackTrace();
        }
        System.err.printf("[share] %s took %d ms%n", name, (System.nanoTime() - t0) / 1_000_000);
        System.out.flush();
    }

    static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return Admin.create(p);
    }

    static KafkaProducer<String, String> producer() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static KafkaShareConsumer<String, String> consumer(String group, boolean explicit) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("share.acknowledgement.mode", explicit ? "explicit" : "implicit");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        return new KafkaShareConsumer<>(p);
    }

    static void createTopic(String topic) throws Exception {
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    static short count(ConsumerRecord<String, String> r) {
        return r.deliveryCount().orElse((short) -1);
    }

    /** Produces markers until `consumer` is delivered one (its share-partition then exists). */
    static void warmUp(KafkaProducer<String, String> producer, String topic,
                       KafkaShareConsumer<String, String> consumer) throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < deadline) {
            producer.send(new ProducerRecord<>(topic, MARK, MARK)).get(10, TimeUnit.SECONDS);
            ConsumerRecords<String, String> got = consumer.poll(Duration.ofMillis(500));
            boolean seen = false;
            for (ConsumerRecord<String, String> r : got) {
                if (MARK.equals(r.key())) seen = true;
                if (isExplicit(consumer)) consumer.acknowledge(r, AcknowledgeType.ACCEPT);
            }
            if (isExplicit(consumer)) consumer.commitSync();
            if (seen) return;
        }
        throw new AssertionError("no marker delivered within 60 s");
    }

    static final Set<KafkaShareConsumer<?, ?>> EXPLICIT = ConcurrentHashMap.newKeySet();

    static boolean isExplicit(KafkaShareConsumer<?, ?> c) {
        return EXPLICIT.contains(c);
    }

    static KafkaShareConsumer<String, String> explicitConsumer(String group) {
        KafkaShareConsumer<String, String> c = consumer(group, true);
        EXPLICIT.add(c);
        return c;
    }

    // ---- parallel ------------------------------------------------------------------------
    static void parallel() throws Exception {
        final int n = 100_000, members = 5;
        String topic = "share-par-" + RUN, group = "share-par-g-" + RUN;
        createTopic(topic);
        ConcurrentHashMap<String, Integer> deliveries = new ConcurrentHashMap<>();
        AtomicInteger redelivered = new AtomicInteger();
        int[] perMember = new int[members];
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger counted = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(members);
        List<Future<?>> running = new ArrayList<>();
        CountDownLatch ready = new CountDownLatch(1);
        try (KafkaProducer<String, String> producer = producer()) {
            for (int m = 0; m < members; m++) {
                final int me = m;
                running.add(pool.submit(() -> {
                    try (KafkaShareConsumer<String, String> c = consumer(group, false)) {
                        c.subscribe(List.of(topic));
                        while (!stop.get()) {
                            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                                if (MARK.equals(r.key())) { ready.countDown(); continue; }
                                if (count(r) != 1) redelivered.incrementAndGet();
                                if (deliveries.merge(r.value(), 1, Integer::sum) == 1) counted.incrementAndGet();
                                perMember[me]++;
                            }
                        }
                    }
                    return null;
                }));
            }
            long deadline = System.currentTimeMillis() + 60_000;
            while (ready.getCount() > 0 && System.currentTimeMillis() < deadline) {
                producer.send(new ProducerRecord<>(topic, MARK, MARK)).get(10, TimeUnit.SECONDS);
                ready.await(500, TimeUnit.MILLISECONDS);
            }
            require(ready.getCount() == 0, "no marker delivered within 60 s");
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) producer.send(new ProducerRecord<>(topic, null, "v" + i));
            producer.flush();
            deadline = System.currentTimeMillis() + 120_000;
            while (counted.get() < n && System.currentTimeMillis() < deadline) Thread.sleep(100);
            double secs = (System.nanoTime() - t0) / 1e9;
            Thread.sleep(1_000); // late duplicates would show now
            stop.set(true);
            for (Future<?> f : running) f.get(60, TimeUnit.SECONDS);
            int total = deliveries.values().stream().mapToInt(Integer::intValue).sum();
            long active = Arrays.stream(perMember).filter(x -> x > 0).count();
            System.out.printf("INFO share.parallel: %d records to %d members in %.1f s (%s), %d deliveries, %d redelivered%n",
                deliveries.size(), members, secs, Arrays.toString(perMember), total, redelivered.get());
            require(deliveries.size() == n, "distinct records delivered " + deliveries.size() + ", want " + n);
            require(total == n, "deliveries " + total + " for " + n + " records: some record was delivered twice");
            require(redelivered.get() == 0, redelivered.get() + " records came with a delivery count above 1");
            require(active >= 2, "only " + active + " member(s) got records: " + Arrays.toString(perMember));
        } finally {
            stop.set(true);
            pool.shutdownNow();
        }
    }

    // ---- release / reject ----------------------------------------------------------------
    static void release() throws Exception {
        String topic = "share-ack-" + RUN, group = "share-ack-g-" + RUN;
        createTopic(topic);
        try (KafkaProducer<String, String> producer = producer();
             KafkaShareConsumer<String, String> c = explicitConsumer(group)) {
            c.subscribe(List.of(topic));
            warmUp(producer, topic, c);
            for (int i = 0; i < 10; i++) producer.send(new ProducerRecord<>(topic, "k", "r" + i));
            producer.flush();
            Map<String, List<Short>> seen = new TreeMap<>();
            long deadline = System.currentTimeMillis() + 20_000;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
                    if (MARK.equals(r.key())) { c.acknowledge(r, AcknowledgeType.ACCEPT); continue; }
                    seen.computeIfAbsent(r.value(), k -> new ArrayList<>()).add(count(r));
                    AcknowledgeType type = AcknowledgeType.ACCEPT;
                    if (r.value().equals("r0") && count(r) == 1) type = AcknowledgeType.RELEASE;
                    if (r.value().equals("r1")) type = AcknowledgeType.REJECT;
                    c.acknowledge(r, type);
                }
                c.commitSync(Duration.ofSeconds(10));
                if (seen.size() == 10 && seen.get("r0").size() == 2) break;
            }
            // Anything delivered again would show within a few more polls.
            long settle = System.currentTimeMillis() + 3_000;
            while (System.currentTimeMillis() < settle) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
                    seen.computeIfAbsent(r.value(), k -> new ArrayList<>()).add(count(r));
                    c.acknowledge(r, AcknowledgeType.ACCEPT);
                }
                c.commitSync(Duration.ofSeconds(10));
            }
            System.out.println("INFO share.release: delivery counts " + seen);
            require(seen.size() == 10, "records delivered: " + seen.keySet());
            require(seen.get("r0").equals(List.of((short) 1, (short) 2)), "released r0: " + seen.get("r0"));
            require(seen.get("r1").equals(List.of((short) 1)), "rejected r1: " + seen.get("r1"));
            for (int i = 2; i < 10; i++)
                require(seen.get("r" + i).equals(List.of((short) 1)), "accepted r" + i + ": " + seen.get("r" + i));
        }
    }

    // ---- delivery count limit ------------------------------------------------------------
    static void limit() throws Exception {
        String topic = "share-limit-" + RUN, group = "share-limit-g-" + RUN;
        createTopic(topic);
        try (KafkaProducer<String, String> producer = producer();
             KafkaShareConsumer<String, String> c = explicitConsumer(group)) {
            c.subscribe(List.of(topic));
            warmUp(producer, topic, c);
            producer.send(new ProducerRecord<>(topic, "k", "poison")).get(10, TimeUnit.SECONDS);
            List<Short> counts = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 20_000;
            long quietSince = -1;
            while (System.currentTimeMillis() < deadline) {
                boolean any = false;
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
                    if (MARK.equals(r.key())) { c.acknowledge(r, AcknowledgeType.ACCEPT); continue; }
                    any = true;
                    counts.add(count(r));
                    c.acknowledge(r, AcknowledgeType.RELEASE);
                }
                c.commitSync(Duration.ofSeconds(10));
                if (any) quietSince = -1;
                else if (counts.size() > 0 && quietSince < 0) quietSince = System.currentTimeMillis();
                if (quietSince > 0 && System.currentTimeMillis() - quietSince > 3_000) break;
            }
            System.out.println("INFO share.limit: delivery counts of the released record " + counts);
            require(counts.equals(List.of((short) 1, (short) 2, (short) 3, (short) 4, (short) 5)),
                "want deliveries 1..5 and then none, got " + counts);
        }
    }

    // ---- lock expiry after SIGKILL ---------------------------------------------------------
    static void lock() throws Exception {
        final int n = 50;
        String topic = "share-lock-" + RUN, group = "share-lock-g-" + RUN;
        createTopic(topic);
        setGroupConfig(group, "share.auto.offset.reset", "earliest");
        try (KafkaProducer<String, String> producer = producer()) {
            for (int i = 0; i < n; i++) producer.send(new ProducerRecord<>(topic, "k", "h" + i));
            producer.flush();
            String java = ProcessHandle.current().info().command().orElse("java");
            Process holder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                source, "hold", bootstrap, topic, group)
                .redirectErrorStream(true).start();
            BufferedReaderLines lines = new BufferedReaderLines(holder);
            try {
                long deadline = System.currentTimeMillis() + 60_000;
                int held = -1;
                while (held < 0 && System.currentTimeMillis() < deadline) {
                    String line = lines.poll(500);
                    if (line != null && line.startsWith("HELD ")) held = Integer.parseInt(line.substring(5).trim());
                }
                require(held == n, "the holding consumer reported " + held + " records, want all " + n);
                holder.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                long killedAt = System.currentTimeMillis();
                try (KafkaShareConsumer<String, String> c = consumer(group, false)) {
                    c.subscribe(List.of(topic));
                    Map<String, Short> got = new HashMap<>();
                    long until = System.currentTimeMillis() + 40_000;
                    long firstAt = -1;
                    while (System.currentTimeMillis() < until && got.size() < n) {
                        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
                            if (firstAt < 0) firstAt = System.currentTimeMillis();
                            got.putIfAbsent(r.value(), count(r));
                        }
                    }
                    long second = got.values().stream().filter(x -> x == 2).count();
                    System.out.printf("INFO share.lock: the SIGKILLed consumer held %d records; %d came back, %d with delivery count 2, the first %d ms after the kill (lock 5000 ms)%n",
                        held, got.size(), second, firstAt < 0 ? -1 : firstAt - killedAt);
                    require(got.size() == n, "records delivered after the kill: " + got.size() + " of " + n);
                    require(second == n, second + " of " + n + " came with delivery count 2");
                    require(firstAt - killedAt >= 3_000, "redelivered " + (firstAt - killedAt) + " ms after the kill, before the lock could expire");
                }
            } finally {
                holder.destroyForcibly();
            }
        }
    }

    static void setGroupConfig(String group, String key, String value) throws Exception {
        try (Admin admin = admin()) {
            ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
            admin.incrementalAlterConfigs(Map.of(resource,
                List.of(new AlterConfigOp(new ConfigEntry(key, value), AlterConfigOp.OpType.SET))))
                .all().get(20, TimeUnit.SECONDS);
            String got = admin.describeConfigs(List.of(resource)).all().get(20, TimeUnit.SECONDS)
                .get(resource).get(key).value();
            require(value.equals(got), "describeConfigs gives " + key + "=" + got + " after setting " + value);
        }
    }

    /** Reads a child's output lines on a thread, so the parent can poll them with a bound. */
    static final class BufferedReaderLines {
        final BlockingQueue<String> queue = new LinkedBlockingQueue<>();
        BufferedReaderLines(Process p) {
            Thread t = new Thread(() -> {
                try (var r = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        System.err.println("[holder] " + l);
                        queue.add(l);
                    }
                } catch (java.io.IOException ignored) { }
            });
            t.setDaemon(true);
            t.start();
        }
        String poll(long ms) throws InterruptedException { return queue.poll(ms, TimeUnit.MILLISECONDS); }
    }

    /** The child of `lock`: acquires records in explicit mode, never acknowledges, reports. */
    static void hold(String topic, String group) throws Exception {
        KafkaShareConsumer<String, String> c = consumer(group, true);
        c.subscribe(List.of(topic));
        long deadline = System.currentTimeMillis() + 90_000;
        while (System.currentTimeMillis() < deadline) {
            ConsumerRecords<String, String> got = c.poll(Duration.ofMillis(500));
            if (got.count() > 0) {
                System.out.println("HELD " + got.count());
                System.out.flush();
                Thread.sleep(90_000); // holds them until SIGKILLed
            }
        }
    }

    // ---- admin -----------------------------------------------------------------------------
    static void adminCase() throws Exception {
        String topic = "share-admin-" + RUN, group = "share-admin-g-" + RUN;
        createTopic(topic);
        try (KafkaProducer<String, String> producer = producer();
             KafkaShareConsumer<String, String> c = consumer(group, false);
             Admin admin = admin()) {
            c.subscribe(List.of(topic));
            warmUp(producer, topic, c);
            Collection<GroupListing> groups = admin.listGroups(ListGroupsOptions.forShareGroups())
                .all().get(20, TimeUnit.SECONDS);
            GroupListing listing = groups.stream().filter(g -> g.groupId().equals(group)).findFirst()
                .orElseThrow(() -> new AssertionError(group + " not listed: " + groups));
            require(listing.type().equals(Optional.of(GroupType.SHARE)), "type " + listing.type());
            ShareGroupDescription d = admin.describeShareGroups(List.of(group)).describedGroups().get(group)
                .get(20, TimeUnit.SECONDS);
            System.out.println("INFO share.admin: " + d.groupState() + ", " + d.members().size() + " member(s), assignment "
                + d.members().iterator().next().assignment().topicPartitions());
            require(d.members().size() == 1, "members " + d.members());
            require(d.members().iterator().next().assignment().topicPartitions().stream()
                .anyMatch(tp -> tp.topic().equals(topic)), "assignment " + d.members());
        }
    }

    // ---- restart (driven by run.sh: restart1, SIGKILL of the broker, restart2) -----------------
    static final int RESTART_RECORDS = 100, RESTART_ACCEPTED = 60;

    /** Before the broker's SIGKILL: accepts the first 60 of 100 records, holds the rest. */
    static void restart1(String topic, String group) throws Exception {
        try {
            createTopic(topic);
        } catch (ExecutionException e) {
            // The cluster run creates the topic itself, replicated.
            if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) throw e;
        }
        setGroupConfig(group, "share.auto.offset.reset", "earliest");
        try (KafkaProducer<String, String> producer = producer()) {
            for (int i = 0; i < RESTART_RECORDS; i++) producer.send(new ProducerRecord<>(topic, "k", "r" + i));
            producer.flush();
        }
        KafkaShareConsumer<String, String> c = explicitConsumer(group);
        c.subscribe(List.of(topic));
        // One poll returns every record (one partition, all produced before, 500 per poll): the
        // first 60 are accepted, the others are left acquired and never acknowledged.
        int accepted = 0, got = 0;
        long deadline = System.currentTimeMillis() + 30_000;
        while (got == 0 && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
                got++;
                if (Integer.parseInt(r.value().substring(1)) < RESTART_ACCEPTED) {
                    c.acknowledge(r, AcknowledgeType.ACCEPT);
                    accepted++;
                }
            }
        }
        c.commitSync(Duration.ofSeconds(10));
        System.out.println("ACCEPTED " + accepted);
        System.out.flush();
        Runtime.getRuntime().halt(accepted == RESTART_ACCEPTED ? 0 : 1); // no close: nothing released
    }

    /** After the restart: every record not accepted comes back, no accepted one does. */
    static void restart2(String topic, String group) throws Exception {
        try (KafkaShareConsumer<String, String> c = consumer(group, false)) {
            c.subscribe(List.of(topic));
            Set<Integer> got = new TreeSet<>();
            long deadline = System.currentTimeMillis() + 40_000, quietSince = -1;
            while (System.currentTimeMillis() < deadline) {
                int n = 0;
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) {
                    got.add(Integer.parseInt(r.value().substring(1)));
                    n++;
                }
                if (n > 0) quietSince = -1;
                else if (!got.isEmpty() && quietSince < 0) quietSince = System.currentTimeMillis();
                if (quietSince > 0 && System.currentTimeMillis() - quietSince > 3_000) break;
            }
            long accepted = got.stream().filter(n -> n < RESTART_ACCEPTED).count();
            long rest = got.stream().filter(n -> n >= RESTART_ACCEPTED).count();
            System.out.println("INFO share.restart: after the SIGKILL " + rest + " of "
                + (RESTART_RECORDS - RESTART_ACCEPTED) + " unaccepted records came back, " + accepted + " accepted ones did");
            if (accepted == 0 && rest == RESTART_RECORDS - RESTART_ACCEPTED) {
                System.out.println("PASS share.restart");
            } else {
                System.out.println("FAIL share.restart: " + accepted + " accepted records delivered again, "
                    + rest + " of " + (RESTART_RECORDS - RESTART_ACCEPTED) + " others delivered");
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length >= 1 && args[0].equals("hold")) {
            bootstrap = args[1];
            hold(args[2], args[3]);
            return;
        }
        if (args.length >= 1 && args[0].startsWith("restart")) {
            bootstrap = args[1];
            if (args[0].equals("restart1")) restart1(args[2], args[3]); else restart2(args[2], args[3]);
            return;
        }
        source = args[0];
        bootstrap = args[1];
        check("parallel", ShareGroups::parallel);
        check("release", ShareGroups::release);
        check("limit", ShareGroups::limit);
        check("lock", ShareGroups::lock);
        check("admin", ShareGroups::adminCase);
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
