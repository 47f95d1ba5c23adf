/*
 * compat/security/AclClients.java -- the Java kafka-clients (4.4.0) cases of compat/security/acls.sh:
 * what ACLs (StandardAuthorizer semantics) allow and deny, seen by real clients on a
 * SASL_PLAINTEXT listener with PLAIN users alice (some ACLs) and bob (none).
 *
 * Run: compat/kafka-tools.sh run compat/security/AclClients.java --bootstrap ADDR --phase PHASE
 *        --admin USER:PASSWORD (a super user) --alice USER:PASSWORD --bob USER:PASSWORD --topic T --other-topic U --describe-topic V
 *        --deny-topic W --group G --other-group G2 --group-prefix GP --txn TXN [--n N]
 * The ACLs acls.sh gives alice before the "main" phase:
 *   topic T: READ, WRITE, DESCRIBE          group G: READ        transactional id TXN: WRITE, DESCRIBE
 *   topic V: DESCRIBE only                  topic W: ALL allowed and WRITE denied
 *   groups with the PREFIXED name GP: READ  topic U and group G2: nothing
 * Every check is a named case printing `PASS name` / `FAIL name: reason` (`INFO ...` for the
 * error a denied client saw); the last line is `N passed, N failed`; exit status 1 when any failed.
 *
 * Phases (cases, all as alice unless named bob):
 *   main     acls.java.alice.produce_allowed, consume_group_allowed (group G, commit, committed),
 *            produce_unauthorized_topic, consume_unauthorized_topic, assign_unauthorized_topic (U:
 *            TopicAuthorizationException naming U), produce_describe_only_topic (Produce check),
 *            fetch_describe_only_topic (Fetch check), deny_overrides_allow (W), list_topics (T V W,
 *            not U), describe_unauthorized_topic, create_topic_denied, group_other_denied (classic,
 *            G2: GroupAuthorizationException), kip848.prefixed_group_allowed, kip848.group_other_denied,
 *            txn_commit (TXN, then read_committed), txn_offsets_group_allowed (G),
 *            txn_offsets_group_denied (G2), txn_unauthorized_id (TransactionalIdAuthorizationException),
 *            acl_apis_denied (Create/Describe/DeleteAcls: ClusterAuthorizationException), delete_topic_denied (V);
 *            acls.java.admin.create_existing_acl_no_duplicate (creating an existing ACL leaves one),
 *            admin.describe_match_prefixed (a MATCH filter for group GP+"848" finds the PREFIXED GP one);
 *            acls.java.bob.produce_denied, bob.idempotent_produce_denied, bob.list_topics_empty,
 *            bob.consume_denied
 *   restart  acls.restart.alice.produce_allowed, .produce_unauthorized_topic, .txn_commit
 *   removed  (after every ACL on T and the DENY on W were removed)
 *            acls.remove.alice.produce_denied, .list_topics, .deny_removed_produce_allowed
 * Timeouts are short (max.block.ms, default.api.timeout.ms 15 s) so a denial fails fast.
 */

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.ClusterAuthorizationException;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.TransactionalIdAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

public class AclClients {
    static int passed = 0, failed = 0;
    static final String RUN = Long.toString(System.currentTimeMillis() % 1_000_000_000L);
    static final Map<String, String> arg = new HashMap<>();
    static String bootstrap;

    interface Body { void run() throws Exception; }

    static void check(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("PASS " + name);
        } catch (Throwable t) {
            failed++;
            String msg = (t.getClass().getSimpleName() + ": " + t.getMessage()).replace('\n', ' ');
            System.out.println("FAIL " + name + ": " + (msg.length() > 400 ? msg.substring(0, 400) : msg));
            t.printStackTrace();
        }
        System.out.flush();
    }

    static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static Properties conf(String userPassword) {
        String[] up = userPassword.split(":", 2);
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        p.put("sasl.mechanism", "PLAIN");
        p.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
                + up[0] + "\" password=\"" + up[1] + "\";");
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        p.put(CommonClientConfigs.RECONNECT_BACKOFF_MAX_MS_CONFIG, "1000");
        return p;
    }

    static Properties with(Properties p, Object... kv) {
        Properties q = new Properties();
        q.putAll(p);
        for (int i = 0; i < kv.length; i += 2) q.put(kv[i], kv[i + 1]);
        return q;
    }

    static Properties producerConf(Properties c, boolean idempotent) {
        return with(c, ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.MAX_BLOCK_MS_CONFIG, "15000",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "20000", ProducerConfig.LINGER_MS_CONFIG, "5",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(idempotent));
    }

    static KafkaProducer<String, String> producer(Properties p) {
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    static KafkaConsumer<String, String> consumer(Properties p) {
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    static void close(KafkaConsumer<?, ?> c) {
        c.close(CloseOptions.timeout(Duration.ofSeconds(5)));
    }

    static List<String> values(String prefix, int n) {
        List<String> v = new ArrayList<>();
        for (int i = 0; i < n; i++) v.add(prefix + i);
        return v;
    }

    /** Send VALUES to partition 0 of TOPIC and wait for every acknowledgement. */
    static void produce(Properties c, String topic, List<String> values) throws Exception {
        try (KafkaProducer<String, String> p = producer(producerConf(c, true))) {
            List<Future<?>> sent = new ArrayList<>();
            for (String v : values) sent.add(p.send(new ProducerRecord<>(topic, 0, null, v)));
            for (Future<?> f : sent) f.get(30, TimeUnit.SECONDS);
        }
    }

    /** One send must fail; returns the error (AssertionError if the record was delivered). */
    static Throwable expectProduceFails(Properties c, String topic, boolean idempotent) {
        Throwable error = null;
        try (KafkaProducer<String, String> p = producer(producerConf(c, idempotent))) {
            try {
                var meta = p.send(new ProducerRecord<>(topic, "must-not-arrive")).get(30, TimeUnit.SECONDS);
                throw new AssertionError("a record was delivered to " + topic + ": offset " + meta.offset());
            } catch (AssertionError e) {
                throw e;
            } catch (Throwable t) {
                error = t;
            }
            p.close(Duration.ofSeconds(5));
        }
        return error;
    }

    /** Consume TOPIC in GROUP (subscribe) until N records arrived; commit; return the values. */
    static List<String> consumeGroup(Properties c, String topic, String group, String protocol, int n) {
        List<String> got = new ArrayList<>();
        KafkaConsumer<String, String> k = consumer(with(c, ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol, ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false"));
        try {
            k.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            while (got.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : k.poll(Duration.ofMillis(500))) got.add(r.value());
            }
            require(got.size() >= n, "read " + got.size() + "/" + n + " records in 40 s");
            k.commitSync(Duration.ofSeconds(15));
            TopicPartition tp = new TopicPartition(topic, 0);
            OffsetAndMetadata committed = k.committed(Set.of(tp), Duration.ofSeconds(15)).get(tp);
            require(committed != null && committed.offset() == k.position(tp),
                    "committed offset " + committed + ", position " + k.position(tp));
        } finally {
            close(k);
        }
        return got;
    }

    /** The records of partition 0 of TOPIC from its start (assign, no group), read_committed or
     *  not, until they contain WANT (or 30 s passed). */
    static List<String> readUntil(Properties c, String topic, boolean committedOnly, List<String> want) {
        List<String> got = new ArrayList<>();
        KafkaConsumer<String, String> k = consumer(with(c, ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false",
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, committedOnly ? "read_committed" : "read_uncommitted"));
        try {
            TopicPartition tp = new TopicPartition(topic, 0);
            k.assign(List.of(tp));
            k.seekToBeginning(List.of(tp));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!got.containsAll(want) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : k.poll(Duration.ofMillis(500))) got.add(r.value());
            }
        } finally {
            close(k);
        }
        return got;
    }

    /** A consumer (subscribe with GROUP, or assign partition 0 when GROUP is null) must fail. */
    static Throwable expectConsumeFails(Properties c, String topic, String group, String protocol) {
        Properties p = with(c, ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        if (group != null) p = with(p, ConsumerConfig.GROUP_ID_CONFIG, group, ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        KafkaConsumer<String, String> k = consumer(p);
        try {
            if (group != null) {
                k.subscribe(List.of(topic));
            } else {
                TopicPartition tp = new TopicPartition(topic, 0);
                k.assign(List.of(tp));
                k.seekToBeginning(List.of(tp));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(25);
            while (System.nanoTime() < deadline) {
                int n = k.poll(Duration.ofMillis(500)).count();
                if (n > 0) throw new AssertionError("read " + n + " records from " + topic);
            }
            throw new AssertionError("no error within 25 s of polling " + topic);
        } catch (AssertionError e) {
            throw e;
        } catch (Throwable t) {
            return t;
        } finally {
            try { close(k); } catch (Throwable ignored) { }
        }
    }

    static <T extends Throwable> T find(Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause()) if (type.isInstance(c)) return type.cast(c);
        return null;
    }

    static String chain(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (sb.length() > 0) sb.append(" <- ");
            sb.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        String s = sb.toString().replace('\n', ' ');
        return s.length() > 300 ? s.substring(0, 300) : s;
    }

    /** T must be (or be caused by) TYPE; prints the chain as INFO. */
    static <T extends Throwable> T expect(String name, Throwable t, Class<T> type) {
        System.out.println("INFO " + name + ": " + chain(t));
        T found = find(t, type);
        require(found != null, "no " + type.getSimpleName() + ", got: " + chain(t));
        return found;
    }

    static void expectTopicDenied(String name, Throwable t, String topic) {
        TopicAuthorizationException e = expect(name, t, TopicAuthorizationException.class);
        require(e.unauthorizedTopics().contains(topic), "unauthorized topics " + e.unauthorizedTopics() + " lack " + topic);
    }

    /** Run BODY, which must throw; returns what it threw. */
    static Throwable thrown(Body body) {
        try {
            body.run();
        } catch (Throwable t) {
            return t;
        }
        throw new AssertionError("no error");
    }

    static Set<String> listTopics(Properties c) throws Exception {
        try (Admin a = Admin.create(c)) {
            return a.listTopics().names().get(20, TimeUnit.SECONDS);
        }
    }

    /** GROUP's metadata as a consumer that has not joined it sees it (generation -1). */
    static ConsumerGroupMetadata groupMetadata(Properties c, String group) {
        KafkaConsumer<String, String> k = consumer(with(c, ConsumerConfig.GROUP_ID_CONFIG, group));
        try {
            return k.groupMetadata();
        } finally {
            close(k);
        }
    }

    /** A transactional producer with TXN: init, one transaction of VALUES to TOPIC, commit. */
    static void transaction(Properties c, String txn, String topic, List<String> values) throws Exception {
        try (KafkaProducer<String, String> p = producer(with(producerConf(c, true), ProducerConfig.TRANSACTIONAL_ID_CONFIG, txn,
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "30000"))) {
            p.initTransactions();
            p.beginTransaction();
            for (String v : values) p.send(new ProducerRecord<>(topic, 0, null, v));
            p.commitTransaction();
        }
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) throw new IllegalArgumentException("unknown argument " + args[i]);
            arg.put(args[i].substring(2), args[i + 1]);
        }
        bootstrap = arg.get("bootstrap");
        String phase = arg.get("phase");
        Properties admin = conf(arg.get("admin")), alice = conf(arg.get("alice")), bob = conf(arg.get("bob"));
        String t = arg.get("topic"), u = arg.get("other-topic"), v = arg.get("describe-topic"), w = arg.get("deny-topic");
        String g = arg.get("group"), g2 = arg.get("other-group"), gp = arg.get("group-prefix"), txn = arg.get("txn");
        int n = Integer.parseInt(arg.getOrDefault("n", "50"));
        System.out.println("# kafka-clients " + org.apache.kafka.common.utils.internals.AppInfoParser.getVersion()
                + ", Java " + System.getProperty("java.version") + ", phase " + phase);

        // Fail fast when the broker is not there (or alice cannot log in) instead of timing out case by case.
        try (Admin ad = Admin.create(alice)) {
            ad.describeCluster().clusterId().get(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.out.println("FAIL acls.java." + phase + ".connect: alice's Admin describeCluster on " + bootstrap + ": " + chain(e));
            System.exit(1);
        }
        switch (phase) {
            case "main" -> mainPhase(admin, alice, bob, t, u, v, w, g, g2, gp, txn, n);
            case "restart" -> {
                String a = "acls.restart.alice.";
                check(a + "produce_allowed", () -> produce(alice, t, values("restart-" + RUN + "-", 5)));
                check(a + "produce_unauthorized_topic", () -> expectTopicDenied(a + "produce_unauthorized_topic",
                        expectProduceFails(alice, u, true), u));
                check(a + "txn_commit", () -> {
                    List<String> vals = values("restart-txn-" + RUN + "-", 5);
                    transaction(alice, txn, t, vals);
                    List<String> got = readUntil(alice, t, true, vals);
                    require(got.containsAll(vals), "read_committed did not return the committed records (" + got.size() + " read)");
                });
            }
            case "removed" -> {
                String a = "acls.remove.alice.";
                check(a + "produce_denied", () -> expectTopicDenied(a + "produce_denied", expectProduceFails(alice, t, false), t));
                check(a + "list_topics", () -> {
                    Set<String> names = listTopics(alice);
                    require(!names.contains(t) && names.contains(w), "listed " + names + " (want " + w + ", not " + t + ")");
                });
                check(a + "deny_removed_produce_allowed", () -> produce(alice, w, values("w-" + RUN + "-", 3)));
            }
            default -> throw new IllegalArgumentException("unknown phase " + phase);
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }

    static void mainPhase(Properties admin, Properties alice, Properties bob, String t, String u, String v, String w, String g, String g2,
                     String gp, String txn, int n) {
        String a = "acls.java.alice.";
        List<String> sent = values("v-" + RUN + "-", n);
        check(a + "produce_allowed", () -> produce(alice, t, sent));
        check(a + "consume_group_allowed", () -> {
            List<String> got = consumeGroup(alice, t, g, "classic", n);
            require(got.equals(sent), "read " + got.size() + " records, not the " + n + " sent; first "
                    + got.subList(0, Math.min(2, got.size())));
        });
        check(a + "produce_unauthorized_topic", () -> expectTopicDenied(a + "produce_unauthorized_topic",
                expectProduceFails(alice, u, true), u));
        check(a + "consume_unauthorized_topic", () -> expectTopicDenied(a + "consume_unauthorized_topic",
                expectConsumeFails(alice, u, g, "classic"), u));
        check(a + "assign_unauthorized_topic", () -> expectTopicDenied(a + "assign_unauthorized_topic",
                expectConsumeFails(alice, u, null, null), u));
        check(a + "produce_describe_only_topic", () -> expectTopicDenied(a + "produce_describe_only_topic",
                expectProduceFails(alice, v, true), v));
        check(a + "fetch_describe_only_topic", () -> expectTopicDenied(a + "fetch_describe_only_topic",
                expectConsumeFails(alice, v, null, null), v));
        check(a + "deny_overrides_allow", () -> expectTopicDenied(a + "deny_overrides_allow",
                expectProduceFails(alice, w, true), w));
        check(a + "list_topics", () -> {
            Set<String> names = listTopics(alice);
            require(names.containsAll(List.of(t, v, w)) && !names.contains(u),
                    "listed " + names + " (want " + t + ", " + v + ", " + w + ", not " + u + ")");
        });
        check(a + "describe_unauthorized_topic", () -> {
            try (Admin ad = Admin.create(alice)) {
                expect(a + "describe_unauthorized_topic", thrown(() -> ad.describeTopics(List.of(u)).allTopicNames()
                        .get(20, TimeUnit.SECONDS)), TopicAuthorizationException.class);
            }
        });
        check(a + "create_topic_denied", () -> {
            String name = "alice-new-" + RUN;
            try (Admin ad = Admin.create(alice)) {
                expect(a + "create_topic_denied", thrown(() -> ad.createTopics(List.of(new NewTopic(name, 1, (short) 1)))
                        .all().get(20, TimeUnit.SECONDS)), TopicAuthorizationException.class);
            }
        });
        check(a + "group_other_denied", () -> expect(a + "group_other_denied",
                expectConsumeFails(alice, t, g2, "classic"), GroupAuthorizationException.class));
        check(a + "kip848.prefixed_group_allowed", () -> {
            List<String> got = consumeGroup(alice, t, gp + "848", "consumer", n);
            require(got.equals(sent), "read " + got.size() + " records, not the " + n + " sent");
        });
        check(a + "kip848.group_other_denied", () -> expect(a + "kip848.group_other_denied",
                expectConsumeFails(alice, t, g2 + "-848", "consumer"), GroupAuthorizationException.class));
        List<String> txnValues = values("txn-" + RUN + "-", 10);
        check(a + "txn_commit", () -> {
            transaction(alice, txn, t, txnValues);
            List<String> all = new ArrayList<>(sent);
            all.addAll(txnValues);
            List<String> got = readUntil(alice, t, true, all);
            require(got.containsAll(sent) && got.containsAll(txnValues),
                    "read_committed read " + got.size() + " records, want the " + n + " plain and " + txnValues.size() + " transactional ones");
        });
        TopicPartition tp0 = new TopicPartition(t, 0);
        check(a + "txn_offsets_group_allowed", () -> {
            try (KafkaProducer<String, String> p = producer(with(producerConf(alice, true), ProducerConfig.TRANSACTIONAL_ID_CONFIG, txn))) {
                p.initTransactions();
                p.beginTransaction();
                p.send(new ProducerRecord<>(t, 0, null, "txn-offsets-" + RUN));
                p.sendOffsetsToTransaction(Map.of(tp0, new OffsetAndMetadata(1)), groupMetadata(alice, g));
                p.commitTransaction();
            }
            try (Admin ad = Admin.create(alice)) {
                var offsets = ad.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get(20, TimeUnit.SECONDS);
                require(offsets.get(tp0) != null && offsets.get(tp0).offset() == 1, "group " + g + " offsets " + offsets + ", want 1 for " + tp0);
            }
        });
        check(a + "txn_offsets_group_denied", () -> {
            try (KafkaProducer<String, String> p = producer(with(producerConf(alice, true), ProducerConfig.TRANSACTIONAL_ID_CONFIG, txn))) {
                p.initTransactions();
                p.beginTransaction();
                p.send(new ProducerRecord<>(t, 0, null, "txn-offsets-denied-" + RUN));
                Throwable e = thrown(() -> {
                    p.sendOffsetsToTransaction(Map.of(tp0, new OffsetAndMetadata(2)), groupMetadata(alice, g2));
                    p.commitTransaction();
                });
                expect(a + "txn_offsets_group_denied", e, GroupAuthorizationException.class);
                p.abortTransaction();
            }
        });
        check(a + "txn_unauthorized_id", () -> {
            try (KafkaProducer<String, String> p = producer(with(producerConf(alice, true),
                    ProducerConfig.TRANSACTIONAL_ID_CONFIG, "tx-other-" + RUN))) {
                expect(a + "txn_unauthorized_id", thrown(p::initTransactions), TransactionalIdAuthorizationException.class);
                p.close(Duration.ofSeconds(5));
            }
        });
        check(a + "acl_apis_denied", () -> {
            try (Admin ad = Admin.create(alice)) {
                AclBinding binding = new AclBinding(new ResourcePattern(ResourceType.TOPIC, u, PatternType.LITERAL),
                        new AccessControlEntry("User:alice", "*", AclOperation.ALL, AclPermissionType.ALLOW));
                expect(a + "acl_apis_denied.create", thrown(() -> ad.createAcls(List.of(binding)).all().get(20, TimeUnit.SECONDS)),
                        ClusterAuthorizationException.class);
                expect(a + "acl_apis_denied.describe", thrown(() -> ad.describeAcls(AclBindingFilter.ANY).values().get(20, TimeUnit.SECONDS)),
                        ClusterAuthorizationException.class);
                expect(a + "acl_apis_denied.delete", thrown(() -> ad.deleteAcls(List.of(AclBindingFilter.ANY)).all().get(20, TimeUnit.SECONDS)),
                        ClusterAuthorizationException.class);
            }
        });
        check(a + "delete_topic_denied", () -> {
            try (Admin ad = Admin.create(alice)) {
                expect(a + "delete_topic_denied", thrown(() -> ad.deleteTopics(List.of(v)).all().get(20, TimeUnit.SECONDS)),
                        TopicAuthorizationException.class);
            }
            require(listTopics(alice).contains(v), v + " is gone");
        });

        String su = "acls.java.admin.";
        check(su + "create_existing_acl_no_duplicate", () -> {
            try (Admin adm = Admin.create(admin)) {
                ResourcePattern topicT = new ResourcePattern(ResourceType.TOPIC, t, PatternType.LITERAL);
                adm.createAcls(List.of(new AclBinding(topicT, new AccessControlEntry("User:alice", "*", AclOperation.READ,
                        AclPermissionType.ALLOW)))).all().get(20, TimeUnit.SECONDS);
                var got = adm.describeAcls(new AclBindingFilter(topicT.toFilter(), new AccessControlEntryFilter("User:alice", null,
                        AclOperation.ANY, AclPermissionType.ANY))).values().get(20, TimeUnit.SECONDS);
                require(got.size() == 3, "alice's ACLs on " + t + " after re-creating READ: " + got + " (want READ, WRITE, DESCRIBE once each)");
            }
        });
        check(su + "describe_match_prefixed", () -> {
            try (Admin adm = Admin.create(admin)) {
                var filter = new AclBindingFilter(new ResourcePatternFilter(ResourceType.GROUP, gp + "848", PatternType.MATCH),
                        AccessControlEntryFilter.ANY);
                var got = adm.describeAcls(filter).values().get(20, TimeUnit.SECONDS);
                require(got.size() == 1 && got.iterator().next().pattern().equals(new ResourcePattern(ResourceType.GROUP, gp, PatternType.PREFIXED)),
                        "MATCH group " + gp + "848 gave " + got + " (want the PREFIXED " + gp + " binding)");
            }
        });

        String b = "acls.java.bob.";
        check(b + "produce_denied", () -> expectTopicDenied(b + "produce_denied", expectProduceFails(bob, t, false), t));
        check(b + "idempotent_produce_denied", () -> {
            // InitProducerId (no IDEMPOTENT_WRITE, no WRITE on any topic) or the topic check, whichever comes first
            Throwable e = expectProduceFails(bob, t, true);
            System.out.println("INFO " + b + "idempotent_produce_denied: " + chain(e));
            require(find(e, TopicAuthorizationException.class) != null || find(e, ClusterAuthorizationException.class) != null,
                    "neither TopicAuthorizationException nor ClusterAuthorizationException: " + chain(e));
        });
        check(b + "list_topics_empty", () -> {
            Set<String> names = listTopics(bob);
            require(names.stream().noneMatch(x -> x.equals(t) || x.equals(u) || x.equals(v) || x.equals(w)), "bob sees " + names);
        });
        check(b + "consume_denied", () -> {
            // the group (FindCoordinator) or the topic (Metadata) check, whichever comes first
            Throwable e = expectConsumeFails(bob, t, g, "classic");
            System.out.println("INFO " + b + "consume_denied: " + chain(e));
            require(find(e, GroupAuthorizationException.class) != null || find(e, TopicAuthorizationException.class) != null,
                    "neither GroupAuthorizationException nor TopicAuthorizationException: " + chain(e));
        });
    }
}
