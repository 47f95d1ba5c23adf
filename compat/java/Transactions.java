/*
 * compat/java/Transactions.java -- exactly-once (transactions) with the Java kafka-clients
 * 4.4.0 against a running broker, addressed by its bootstrap address only (broker-agnostic:
 * the same run passes on Apache Kafka 4.4.0). Owns the transaction cases of the "java" suite of
 * compat/run.sh.
 *
 * Run: compat/kafka-tools.sh run compat/java/Transactions.java 127.0.0.1:PORT
 * Every check is a named case printing `PASS txn.name` or `FAIL txn.name: reason` (and `INFO`
 * lines with what the broker answered, e.g. the exception classes of fencing and timeouts); the
 * last line is `N passed, N failed`; the exit status is 1 when any case failed.
 *
 * Cases: commit, abort, mixed (two producers' transactions interleaved in the same partitions,
 * commits and aborts), lso (an open transaction holds read_committed back: endOffsets and
 * Admin.listOffsets READ_COMMITTED give its first offset), fencing (a second producer with the
 * same transactional.id), consume-transform-produce (sendOffsetsToTransaction with the group's
 * metadata; group offsets only visible after the commit, unchanged by an abort), timeout (the
 * broker aborts a transaction past transaction.timeout.ms; the commit must fail), admin
 * (listTransactions, describeTransactions, describeProducers).
 * Topic and transactional-id names carry a per-run suffix; every wait is bounded.
 */

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

public class Transactions {
    interface Check { void run() throws Exception; }
    interface Probe { boolean holds() throws Exception; }

    static int passed, failed;
    static String bootstrap;
    static final String RUN = Long.toString(System.currentTimeMillis() % 1_000_000_000L);
    static final int P = 3;       // partitions of the multi-partition topics
    static final long T = 20;     // seconds, bound of each admin call

    static void check(String name, Check c) {
        long t0 = System.nanoTime();
        try {
            c.run();
            passed++;
            System.out.println("PASS txn." + name);
        } catch (Throwable t) {
            failed++;
            Throwable cause = t instanceof ExecutionException && t.getCause() != null ? t.getCause() : t;
            System.out.println("FAIL txn." + name + ": " + cause.getClass().getSimpleName() + ": "
                + String.valueOf(cause.getMessage()).replace('\n', ' '));
            t.printStackTrace();
        }
        System.err.printf("[txn] %s took %d ms%n", name, (System.nanoTime() - t0) / 1_000_000);
        System.out.flush();
    }

    static void require(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static void info(String line) { System.out.println("INFO " + line); }

    /** Polls cond every 200 ms until it holds or ms elapse (an exception counts as not yet). */
    static boolean waitFor(long ms, Probe cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + ms;
        while (true) {
            try {
                if (cond.holds()) return true;
            } catch (Exception e) {
                // not yet
            }
            if (System.currentTimeMillis() > deadline) return false;
            Thread.sleep(200);
        }
    }

    // ---- clients ----

    static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20000);
        return Admin.create(p);
    }

    /** A transactional producer (txId) or, with txId null, a plain idempotent acks=all one. */
    static KafkaProducer<String, String> producer(String txId, Integer txTimeoutMs) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30000);  // also bounds initTransactions/commit
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30000);
        if (txId != null) p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txId);
        if (txTimeoutMs != null) p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, txTimeoutMs);
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    static KafkaConsumer<String, String> consumer(String isolation, String groupId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20000);
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 200);
        if (groupId != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    static void createTopic(Admin admin, String topic, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(T, TimeUnit.SECONDS);
    }

    static List<TopicPartition> tps(String topic, int n) {
        List<TopicPartition> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(new TopicPartition(topic, i));
        return out;
    }

    /** Values by partition, in offset order. */
    static Map<Integer, List<String>> byPartition(List<ConsumerRecord<String, String>> recs) {
        Map<Integer, List<String>> out = new TreeMap<>();
        for (ConsumerRecord<String, String> r : recs) out.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.value());
        return out;
    }

    /**
     * Reads a topic from the beginning with the isolation level until every partition's position
     * reaches the end offset that level reports (the LSO for read_committed), within secs.
     */
    static List<ConsumerRecord<String, String>> readAll(String topic, int parts, String isolation, int secs) {
        try (KafkaConsumer<String, String> c = consumer(isolation, null)) {
            List<TopicPartition> all = tps(topic, parts);
            c.assign(all);
            c.seekToBeginning(all);
            Map<TopicPartition, Long> end = c.endOffsets(all);
            List<ConsumerRecord<String, String>> out = new ArrayList<>();
            long deadline = System.currentTimeMillis() + secs * 1000L;
            while (true) {
                boolean done = true;
                for (TopicPartition tp : all) done &= c.position(tp) >= end.get(tp);
                if (done) return out;
                require(System.currentTimeMillis() < deadline, isolation + " read of " + topic + " did not reach "
                    + end + " within " + secs + " s (read " + out.size() + ")");
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) out.add(r);
            }
        }
    }

    /** Polls a subscribed consumer until n records came, within secs. */
    static List<ConsumerRecord<String, String>> pollN(KafkaConsumer<String, String> c, int n, int secs) {
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        long deadline = System.currentTimeMillis() + secs * 1000L;
        while (out.size() < n && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) out.add(r);
        }
        require(out.size() == n, "polled " + out.size() + " records, wanted " + n);
        return out;
    }

    /** Sends count records to each partition, values prefix-pN-i, and flushes. */
    static List<String> sendEach(KafkaProducer<String, String> p, String topic, int parts, String prefix, int count)
            throws Exception {
        List<String> sent = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            for (int part = 0; part < parts; part++) {
                String v = prefix + "-p" + part + "-" + i;
                p.send(new ProducerRecord<>(topic, part, "k" + i, v));
                sent.add(v);
            }
        }
        p.flush();
        return sent;
    }

    @SafeVarargs
    static Map<Integer, List<String>> expectedByPartition(List<String>... lists) {
        Map<Integer, List<String>> out = new TreeMap<>();
        for (List<String> l : lists) {
            for (String v : l) {
                int part = Integer.parseInt(v.substring(v.lastIndexOf("-p") + 2, v.lastIndexOf('-')));
                out.computeIfAbsent(part, k -> new ArrayList<>()).add(v);
            }
        }
        return out;
    }

    static void close(KafkaProducer<?, ?> p) { if (p != null) p.close(Duration.ofSeconds(5)); }

    /** The exception classes in a cause chain, outermost first. */
    static String chain(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (sb.length() > 0) sb.append(" <- ");
            sb.append(c.getClass().getSimpleName());
        }
        return sb.toString();
    }

    static boolean causedBy(Throwable t, Class<?>... classes) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            for (Class<?> k : classes) if (k.isInstance(c)) return true;
        }
        return false;
    }

    static Map<TopicPartition, Long> listOffsets(Admin admin, List<TopicPartition> parts, IsolationLevel level)
            throws Exception {
        Map<TopicPartition, OffsetSpec> req = new HashMap<>();
        for (TopicPartition tp : parts) req.put(tp, OffsetSpec.latest());
        Map<TopicPartition, Long> out = new HashMap<>();
        admin.listOffsets(req, new ListOffsetsOptions(level)).all().get(T, TimeUnit.SECONDS)
            .forEach((tp, info) -> out.put(tp, info.offset()));
        return out;
    }

    static Map<TopicPartition, Long> groupOffsets(Admin admin, String group) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(group)
            .partitionsToOffsetAndMetadata().get(T, TimeUnit.SECONDS);
        m.forEach((tp, om) -> { if (om != null) out.put(tp, om.offset()); });
        return out;
    }

    static Map<TopicPartition, Long> uniform(String topic, int parts, long offset) {
        Map<TopicPartition, Long> out = new HashMap<>();
        for (TopicPartition tp : tps(topic, parts)) out.put(tp, offset);
        return out;
    }

    static TransactionDescription describeTxn(Admin admin, String txId) throws Exception {
        return admin.describeTransactions(List.of(txId)).description(txId).get(T, TimeUnit.SECONDS);
    }

    // ---- cases ----

    public static void main(String[] args) throws Exception {
        bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
        try (Admin admin = admin()) {
            check("commit", () -> caseCommit(admin));
            check("abort", () -> caseAbort(admin));
            check("mixed", () -> caseMixed(admin));
            check("lso", () -> caseLso(admin));
            check("fencing", () -> caseFencing(admin));
            check("consume_transform_produce", () -> caseCtp(admin));
            check("timeout", () -> caseTimeout(admin));
            check("admin", () -> caseAdmin(admin));
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    /** 10 records per partition in one committed transaction: read_committed sees each once. */
    static void caseCommit(Admin admin) throws Exception {
        String topic = "java-txn-commit-" + RUN;
        createTopic(admin, topic, P);
        KafkaProducer<String, String> p = producer("java-txn-commit-" + RUN, null);
        List<String> sent;
        try {
            p.initTransactions();
            p.beginTransaction();
            sent = sendEach(p, topic, P, "c", 10);
            p.commitTransaction();
        } finally {
            close(p);
        }
        List<ConsumerRecord<String, String>> got = readAll(topic, P, "read_committed", 30);
        require(byPartition(got).equals(expectedByPartition(sent)),
            "read_committed got " + byPartition(got) + ", wanted " + expectedByPartition(sent));
        for (ConsumerRecord<String, String> r : got) require(r.offset() < 10, "record at offset " + r.offset());
        // the commit marker takes one offset after the 10 records of each partition
        for (IsolationLevel level : IsolationLevel.values()) {
            Map<TopicPartition, Long> ends = listOffsets(admin, tps(topic, P), level);
            require(ends.equals(uniform(topic, P, 11)), level + " end offsets " + ends + ", wanted 11 each");
        }
    }

    /** An aborted transaction: read_committed sees nothing, read_uncommitted sees the records only. */
    static void caseAbort(Admin admin) throws Exception {
        String topic = "java-txn-abort-" + RUN;
        createTopic(admin, topic, P);
        KafkaProducer<String, String> p = producer("java-txn-abort-" + RUN, null);
        List<String> sent;
        try {
            p.initTransactions();
            p.beginTransaction();
            sent = sendEach(p, topic, P, "a", 10);
            p.abortTransaction();
        } finally {
            close(p);
        }
        List<ConsumerRecord<String, String>> committed = readAll(topic, P, "read_committed", 30);
        require(committed.isEmpty(), "read_committed got " + committed.size() + " aborted records: " + byPartition(committed));
        List<ConsumerRecord<String, String>> all = readAll(topic, P, "read_uncommitted", 30);
        require(byPartition(all).equals(expectedByPartition(sent)),
            "read_uncommitted got " + byPartition(all) + ", wanted " + expectedByPartition(sent));
        for (ConsumerRecord<String, String> r : all) {
            require(r.offset() < 10, "a record at offset " + r.offset() + " (the ABORT marker's?): " + r.value());
        }
        Map<TopicPartition, Long> lso = listOffsets(admin, tps(topic, P), IsolationLevel.READ_COMMITTED);
        require(lso.equals(uniform(topic, P, 11)), "read_committed end offsets " + lso + " after the abort, wanted 11 each");
    }

    /**
     * Two producers' transactions interleaved in the same partitions: A commits while B (written
     * in between) aborts, then A aborts one and commits another. read_committed sees exactly A's
     * committed records, in order per partition; read_uncommitted sees all.
     */
    static void caseMixed(Admin admin) throws Exception {
        String topic = "java-txn-mixed-" + RUN;
        createTopic(admin, topic, P);
        KafkaProducer<String, String> a = producer("java-txn-mixed-a-" + RUN, null);
        KafkaProducer<String, String> b = producer("java-txn-mixed-b-" + RUN, null);
        List<String> a1, a2, b1, b2, a3, a4, plain;
        try {
            a.initTransactions();
            b.initTransactions();
            a.beginTransaction();
            b.beginTransaction();
            a1 = sendEach(a, topic, P, "a1", 3);
            b1 = sendEach(b, topic, P, "b1", 3);
            a2 = sendEach(a, topic, 2, "a2", 2);          // partitions 0 and 1 only
            b2 = sendEach(b, topic, P, "b2", 2);
            b.abortTransaction();
            a.commitTransaction();
            a.beginTransaction();
            a3 = sendEach(a, topic, P, "a3", 2);
            a.abortTransaction();
            a.beginTransaction();
            a4 = sendEach(a, topic, P, "a4", 2);
            a.commitTransaction();
        } finally {
            close(a);
            close(b);
        }
        KafkaProducer<String, String> q = producer(null, null);
        try {
            plain = sendEach(q, topic, P, "plain", 1);     // after the markers: plain records count too
        } finally {
            close(q);
        }
        Map<Integer, List<String>> want = expectedByPartition(a1, a2, a4, plain);
        Map<Integer, List<String>> got = byPartition(readAll(topic, P, "read_committed", 30));
        require(got.equals(want), "read_committed got " + got + ", wanted " + want);
        Map<Integer, List<String>> gotAll = byPartition(readAll(topic, P, "read_uncommitted", 30));
        Map<Integer, List<String>> wantAll = expectedByPartition(a1, b1, a2, b2, a3, a4, plain);
        require(gotAll.equals(wantAll), "read_uncommitted got " + gotAll + ", wanted " + wantAll);
    }

    /**
     * An open transaction holds read_committed at its first offset (the LSO), also for plain
     * records written after it; the commit releases them.
     */
    static void caseLso(Admin admin) throws Exception {
        String topic = "java-txn-lso-" + RUN;
        createTopic(admin, topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        KafkaProducer<String, String> plain = producer(null, null);
        KafkaProducer<String, String> tx = producer("java-txn-lso-" + RUN, null);
        try (KafkaConsumer<String, String> rc = consumer("read_committed", null);
             KafkaConsumer<String, String> ru = consumer("read_uncommitted", null)) {
            List<String> before = sendEach(plain, topic, 1, "before", 5);   // offsets 0-4
            tx.initTransactions();
            tx.beginTransaction();
            List<String> open = sendEach(tx, topic, 1, "open", 5);         // 5-9, open
            List<String> after = sendEach(plain, topic, 1, "after", 5);    // 10-14
            Map<TopicPartition, Long> lso = listOffsets(admin, List.of(tp), IsolationLevel.READ_COMMITTED);
            Map<TopicPartition, Long> hw = listOffsets(admin, List.of(tp), IsolationLevel.READ_UNCOMMITTED);
            require(lso.get(tp) == 5 && hw.get(tp) == 15, "open transaction at 5: Admin.listOffsets read_committed "
                + lso.get(tp) + " (want 5), read_uncommitted " + hw.get(tp) + " (want 15)");
            rc.assign(List.of(tp));
            ru.assign(List.of(tp));
            require(rc.endOffsets(List.of(tp)).get(tp) == 5, "read_committed consumer endOffsets " + rc.endOffsets(List.of(tp)));
            require(ru.endOffsets(List.of(tp)).get(tp) == 15, "read_uncommitted consumer endOffsets " + ru.endOffsets(List.of(tp)));
            rc.seekToBeginning(List.of(tp));
            List<String> got = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 4000;   // poll a while: nothing past offset 5 may come
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : rc.poll(Duration.ofMillis(200))) {
                    require(r.offset() < 5, "read_committed got offset " + r.offset() + " (" + r.value() + ") past the LSO 5");
                    got.add(r.value());
                }
            }
            require(got.equals(before), "read_committed before the commit got " + got + ", wanted " + before);
            require(rc.position(tp) == 5, "read_committed position " + rc.position(tp) + " while the transaction is open, wanted 5");
            tx.commitTransaction();
            List<String> rest = new ArrayList<>();
            deadline = System.currentTimeMillis() + 15000;
            while (rc.position(tp) < 16 && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : rc.poll(Duration.ofMillis(200))) rest.add(r.value());
            }
            List<String> want = new ArrayList<>(open);
            want.addAll(after);
            require(rest.equals(want), "read_committed after the commit got " + rest + ", wanted " + want);
            require(rc.position(tp) == 16, "read_committed position " + rc.position(tp) + " after the commit, wanted 16");
            lso = listOffsets(admin, List.of(tp), IsolationLevel.READ_COMMITTED);
            require(lso.get(tp) == 16, "read_committed end offset " + lso.get(tp) + " after the commit, wanted 16");
        } finally {
            close(plain);
            close(tx);
        }
    }

    /** A second producer with the same transactional.id fences the first, whose open transaction is aborted. */
    static void caseFencing(Admin admin) throws Exception {
        String topic = "java-txn-fence-" + RUN;
        String txId = "java-txn-fence-" + RUN;
        createTopic(admin, topic, P);
        KafkaProducer<String, String> first = producer(txId, null);
        KafkaProducer<String, String> second = null;
        List<String> sent2;
        try {
            first.initTransactions();
            first.beginTransaction();
            sendEach(first, topic, P, "first", 2);
            second = producer(txId, null);
            second.initTransactions();     // aborts the first producer's transaction and fences it
            Throwable error = null;
            try {
                first.send(new ProducerRecord<>(topic, 0, "k", "first-late")).get(30, TimeUnit.SECONDS);
                first.commitTransaction();
            } catch (Exception e) {
                error = e;
            }
            require(error != null, "the fenced producer's send and commit succeeded");
            info("txn.fencing: the fenced producer got " + chain(error) + ": " + error.getMessage());
            require(causedBy(error, ProducerFencedException.class, InvalidProducerEpochException.class),
                "the fenced producer got " + chain(error) + ", wanted ProducerFencedException or InvalidProducerEpochException");
            second.beginTransaction();
            sent2 = sendEach(second, topic, P, "second", 2);
            second.commitTransaction();
        } finally {
            close(first);
            close(second);
        }
        Map<Integer, List<String>> got = byPartition(readAll(topic, P, "read_committed", 30));
        require(got.equals(expectedByPartition(sent2)), "read_committed got " + got + ", wanted only the second producer's "
            + expectedByPartition(sent2));
    }

    /**
     * Consume-transform-produce in a group with read_committed: outputs and the consumed offsets
     * in one transaction (sendOffsetsToTransaction with consumer.groupMetadata()). The group's
     * offsets show only after the commit; an aborted round leaves them; the redone round
     * commits; the output holds every transformed input exactly once.
     */
    static void caseCtp(Admin admin) throws Exception {
        String in = "java-txn-ctp-in-" + RUN, out = "java-txn-ctp-out-" + RUN, group = "java-txn-ctp-" + RUN;
        createTopic(admin, in, P);
        createTopic(admin, out, P);
        KafkaProducer<String, String> seed = producer(null, null);
        KafkaProducer<String, String> tx = producer("java-txn-ctp-" + RUN, null);
        try (KafkaConsumer<String, String> c = consumer("read_committed", group)) {
            List<String> inputs = new ArrayList<>(sendEach(seed, in, P, "in1", 5));
            tx.initTransactions();
            c.subscribe(List.of(in));
            // round 1: committed
            transformRound(c, tx, out, 15);
            require(groupOffsets(admin, group).isEmpty(), "group offsets before the first commit: " + groupOffsets(admin, group));
            tx.commitTransaction();
            Map<TopicPartition, Long> five = uniform(in, P, 5);
            require(waitFor(10000, () -> groupOffsets(admin, group).equals(five)),
                "group offsets after the commit: " + groupOffsets(admin, group) + ", wanted 5 each");
            // round 2: aborted
            inputs.addAll(sendEach(seed, in, P, "in2", 5));
            transformRound(c, tx, out, 15);
            require(groupOffsets(admin, group).equals(five), "group offsets with the transaction open: " + groupOffsets(admin, group));
            tx.abortTransaction();
            Thread.sleep(1000);
            require(groupOffsets(admin, group).equals(five), "group offsets after the abort: " + groupOffsets(admin, group));
            Map<TopicPartition, OffsetAndMetadata> committed = c.committed(new HashSet<>(tps(in, P)), Duration.ofSeconds(T));
            for (TopicPartition tp : tps(in, P)) c.seek(tp, committed.get(tp));   // rewind to the committed offsets
            // round 3: the aborted round again, committed
            transformRound(c, tx, out, 15);
            tx.commitTransaction();
            Map<TopicPartition, Long> ten = uniform(in, P, 10);
            require(waitFor(10000, () -> groupOffsets(admin, group).equals(ten)),
                "group offsets after the second commit: " + groupOffsets(admin, group) + ", wanted 10 each");
            List<String> got = new ArrayList<>();
            for (ConsumerRecord<String, String> r : readAll(out, P, "read_committed", 30)) got.add(r.value());
            List<String> want = new ArrayList<>();
            for (String v : inputs) want.add("out:" + v);
            require(new HashSet<>(got).equals(new HashSet<>(want)) && got.size() == want.size(),
                "output (read_committed) has " + got.size() + " records, " + new HashSet<>(got).size() + " distinct, wanted "
                + want.size() + ": " + got);
        } finally {
            close(seed);
            close(tx);
        }
    }

    /** Polls n records, begins a transaction, sends the outputs and the offsets; leaves it open. */
    static void transformRound(KafkaConsumer<String, String> c, KafkaProducer<String, String> tx, String out, int n)
            throws Exception {
        List<ConsumerRecord<String, String>> recs = pollN(c, n, 40);
        tx.beginTransaction();
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (ConsumerRecord<String, String> r : recs) {
            tx.send(new ProducerRecord<>(out, r.partition(), r.key(), "out:" + r.value()));
            offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        tx.sendOffsetsToTransaction(offsets, c.groupMetadata());
        tx.flush();
    }

    /**
     * transaction.timeout.ms=3000: the broker aborts the open transaction (Kafka checks every
     * transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default), the commit
     * then fails, and read_committed never sees the records.
     */
    static void caseTimeout(Admin admin) throws Exception {
        String topic = "java-txn-timeout-" + RUN, txId = "java-txn-timeout-" + RUN;
        createTopic(admin, topic, P);
        KafkaProducer<String, String> p = producer(txId, 3000);
        try {
            p.initTransactions();
            p.beginTransaction();
            sendEach(p, topic, P, "t", 3);
            long t0 = System.currentTimeMillis();
            Thread.sleep(3500);
            // wait (bounded) for the coordinator to end the transaction; without describeTransactions, 20 s
            TransactionState[] state = {null};
            boolean ended = waitFor(21000, () -> (state[0] = describeTxn(admin, txId).state()) != TransactionState.ONGOING);
            info("txn.timeout: after " + (System.currentTimeMillis() - t0) + " ms the coordinator says " + state[0]);
            require(ended, "the transaction is still " + state[0] + " " + (System.currentTimeMillis() - t0)
                + " ms after it began with transaction.timeout.ms=3000");
            Throwable error = null;
            try {
                p.commitTransaction();
            } catch (KafkaException e) {
                error = e;
            }
            require(error != null, "commitTransaction succeeded after the broker aborted the timed-out transaction");
            info("txn.timeout: commitTransaction failed with " + chain(error) + ": " + error.getMessage());
        } finally {
            close(p);
        }
        List<ConsumerRecord<String, String>> got = readAll(topic, P, "read_committed", 30);
        require(got.isEmpty(), "read_committed sees " + got.size() + " records of the timed-out transaction");
        require(readAll(topic, P, "read_uncommitted", 30).size() == 3 * P, "read_uncommitted does not see the 9 records");
    }

    /** listTransactions, describeTransactions and describeProducers while open and after the commit. */
    static void caseAdmin(Admin admin) throws Exception {
        String topic = "java-txn-admin-" + RUN, txId = "java-txn-admin-" + RUN;
        createTopic(admin, topic, P);
        TopicPartition tp0 = new TopicPartition(topic, 0), tp1 = new TopicPartition(topic, 1);
        KafkaProducer<String, String> p = producer(txId, 60000);
        try {
            p.initTransactions();
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "v0"));
            p.send(new ProducerRecord<>(topic, 1, "k", "v1"));
            p.flush();
            Collection<TransactionListing> listed = admin.listTransactions().all().get(T, TimeUnit.SECONDS);
            TransactionListing mine = listed.stream().filter(l -> l.transactionalId().equals(txId)).findFirst().orElse(null);
            require(mine != null, "listTransactions does not list " + txId + ": " + listed);
            require(mine.state() == TransactionState.ONGOING, "listTransactions state " + mine.state() + ", wanted ONGOING");
            Collection<TransactionListing> ongoing = admin.listTransactions(new ListTransactionsOptions()
                .filterStates(List.of(TransactionState.ONGOING))).all().get(T, TimeUnit.SECONDS);
            require(ongoing.stream().anyMatch(l -> l.transactionalId().equals(txId)), "filterStates(ONGOING) misses it: " + ongoing);
            Collection<TransactionListing> byPid = admin.listTransactions(new ListTransactionsOptions()
                .filterProducerIds(List.of(mine.producerId()))).all().get(T, TimeUnit.SECONDS);
            require(byPid.size() == 1 && byPid.iterator().next().transactionalId().equals(txId),
                "filterProducerIds(" + mine.producerId() + ") gives " + byPid);
            TransactionDescription d = describeTxn(admin, txId);
            require(d.state() == TransactionState.ONGOING, "describeTransactions state " + d.state() + ", wanted ONGOING");
            require(d.producerId() == mine.producerId(), "describe producerId " + d.producerId() + " != listed " + mine.producerId());
            require(d.topicPartitions().equals(Set.of(tp0, tp1)), "describe partitions " + d.topicPartitions());
            require(d.transactionTimeoutMs() == 60000, "describe transactionTimeoutMs " + d.transactionTimeoutMs());
            require(d.transactionStartTimeMs().isPresent(), "describe: no transactionStartTimeMs while ONGOING");
            Set<Integer> nodes = new HashSet<>();
            admin.describeCluster().nodes().get(T, TimeUnit.SECONDS).forEach(n -> nodes.add(n.id()));
            require(nodes.contains(d.coordinatorId()), "describe coordinatorId " + d.coordinatorId() + " is not a broker of " + nodes);
            List<ProducerState> producers = admin.describeProducers(List.of(tp0)).partitionResult(tp0)
                .get(T, TimeUnit.SECONDS).activeProducers();
            ProducerState ps = producers.stream().filter(s -> s.producerId() == d.producerId()).findFirst().orElse(null);
            require(ps != null, "describeProducers(" + tp0 + ") lacks producer " + d.producerId() + ": " + producers);
            require(ps.producerEpoch() == d.producerEpoch(), "producer epoch " + ps.producerEpoch() + " vs coordinator " + d.producerEpoch());
            require(ps.currentTransactionStartOffset().isPresent() && ps.currentTransactionStartOffset().getAsLong() == 0,
                "currentTransactionStartOffset " + ps.currentTransactionStartOffset() + ", wanted 0");
            p.commitTransaction();
            TransactionDescription[] after = {null};
            require(waitFor(10000, () -> (after[0] = describeTxn(admin, txId)).state() == TransactionState.COMPLETE_COMMIT),
                "describeTransactions after the commit: " + after[0] + ", wanted COMPLETE_COMMIT");
            require(after[0].topicPartitions().isEmpty(), "partitions after the commit: " + after[0].topicPartitions());
            Collection<TransactionListing> done = admin.listTransactions(new ListTransactionsOptions()
                .filterStates(List.of(TransactionState.COMPLETE_COMMIT))).all().get(T, TimeUnit.SECONDS);
            require(done.stream().anyMatch(l -> l.transactionalId().equals(txId)), "filterStates(COMPLETE_COMMIT) misses it: " + done);
            ProducerState[] ps2 = {null};
            require(waitFor(10000, () -> {
                ps2[0] = admin.describeProducers(List.of(tp0)).partitionResult(tp0).get(T, TimeUnit.SECONDS)
                    .activeProducers().stream().filter(s -> s.producerId() == d.producerId()).findFirst().orElse(null);
                return ps2[0] != null && ps2[0].currentTransactionStartOffset().isEmpty();
            }), "describeProducers after the commit: " + ps2[0] + ", wanted no current transaction");
        } finally {
            close(p);
        }
    }
}
