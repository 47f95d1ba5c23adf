/*
 * compat/groups/GroupMembership.java -- Java kafka-clients (4.4.0) consumer groups against a
 * running broker, with group.protocol=classic or group.protocol=consumer (KIP-848). Part of the
 * "groups" suite of compat/run.sh (compat/groups/run.sh).
 *
 * Run: compat/kafka-tools.sh run compat/groups/GroupMembership.java classic|consumer 127.0.0.1:PORT
 *
 * One JVM: a producer writes to a fresh 6-partition topic the whole time; 3 consumers join one
 * group; a 4th joins, the 1st leaves, a 5th joins, the 2nd leaves. Each consumer processes
 * records and commits synchronously after processing (and in onPartitionsRevoked).
 * The ownership check is sound because it is made where a consumer uses a partition: a shared
 * table (one lock) maps each partition to the consumer between its onPartitionsAssigned and its
 * onPartitionsRevoked/Lost callbacks (the Java client fetches a partition only in between);
 * taking a partition another consumer holds is a violation, and so is processing a record of a
 * partition the table does not give to the processing consumer.
 * Cases: no_two_owners, stable_covers_all (every partition owned once the group settles),
 * none_skipped (per partition, consumed offsets cover every acknowledged produced offset).
 */

import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class GroupMembership {
    static final int PARTITIONS = 6;
    static final Map<Integer, String> owners = new HashMap<>();
    static final List<String> violations = Collections.synchronizedList(new ArrayList<>());
    static final Map<Integer, Set<Long>> consumed = new ConcurrentHashMap<>();
    static final Map<Integer, Set<Long>> produced = new ConcurrentHashMap<>();

    static synchronized void take(String me, Collection<TopicPartition> parts) {
        for (TopicPartition tp : parts) {
            String owner = owners.get(tp.partition());
            if (owner != null && !owner.equals(me)) {
                violations.add(me + " got " + tp + " while " + owner + " owns it");
            }
            owners.put(tp.partition(), me);
        }
    }

    static synchronized void give(String me, Collection<TopicPartition> parts) {
        for (TopicPartition tp : parts) {
            if (me.equals(owners.get(tp.partition()))) owners.remove(tp.partition());
        }
    }

    static synchronized boolean owns(String me, int partition) {
        return me.equals(owners.get(partition));
    }

    static synchronized int ownedCount() { return owners.size(); }

    static class Member implements Runnable {
        final String name;
        final Properties props;
        final String topic;
        final AtomicBoolean stop = new AtomicBoolean();
        final Thread thread;

        Member(String name, Properties props, String topic) {
            this.name = name; this.props = props; this.topic = topic;
            this.thread = new Thread(this, name);
        }

        public void run() {
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
                consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                        try { consumer.commitSync(); } catch (Exception e) { /* the group moved on: a new owner re-reads */ }
                        give(name, parts);
                    }
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) { take(name, parts); }
                    public void onPartitionsLost(Collection<TopicPartition> parts) { give(name, parts); }
                });
                while (!stop.get()) {
                    ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                    for (ConsumerRecord<String, String> r : records) {
                        if (!owns(name, r.partition())) {
                            violations.add(name + " processed " + r.partition() + "@" + r.offset() + " without owning it");
                        }
                        consumed.computeIfAbsent(r.partition(), k -> ConcurrentHashMap.newKeySet()).add(r.offset());
                    }
                    if (!records.isEmpty()) {
                        try { consumer.commitSync(); } catch (Exception e) { System.err.println(name + " commit: " + e); }
                    }
                }
            } catch (Exception e) {
                violations.add(name + " failed: " + e);
                e.printStackTrace();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        String protocol = args[0];
        String bootstrap = args[1];
        String topic = "membership-" + protocol;
        String group = "membership-group-" + protocol;
        int passed = 0, failed = 0;
        Properties admin = new Properties();
        admin.put("bootstrap.servers", bootstrap);
        try (Admin a = Admin.create(admin)) {
            a.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get();
        }
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        pp.put("linger.ms", "5");
        AtomicBoolean producing = new AtomicBoolean(true);
        Thread producer = new Thread(() -> {
            try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
                long i = 0;
                while (producing.get()) {
                    p.send(new ProducerRecord<>(topic, (int) (i % PARTITIONS), "k" + i, "v" + i), (md, e) -> {
                        if (e == null) produced.computeIfAbsent(md.partition(), k -> ConcurrentHashMap.newKeySet()).add(md.offset());
                    });
                    i++;
                    Thread.sleep(2);
                }
                p.flush();
            } catch (Exception e) { violations.add("producer: " + e); }
        });
        producer.start();

        List<Member> members = new ArrayList<>();
        int[] counter = {0};
        java.util.function.Supplier<Member> newMember = () -> {
            Properties cp = new Properties();
            cp.put("bootstrap.servers", bootstrap);
            cp.put("group.id", group);
            cp.put("group.protocol", protocol);
            cp.put("key.deserializer", StringDeserializer.class.getName());
            cp.put("value.deserializer", StringDeserializer.class.getName());
            cp.put("auto.offset.reset", "earliest");
            cp.put("enable.auto.commit", "false");
            if (protocol.equals("classic")) {
                cp.put("session.timeout.ms", "10000");
                cp.put("heartbeat.interval.ms", "500");
            }
            Member m = new Member("m" + (++counter[0]), cp, topic);
            m.thread.start();
            members.add(m);
            return m;
        };
        for (int i = 0; i < 3; i++) newMember.get();
        Thread.sleep(8000);
        newMember.get();
        Thread.sleep(6000);
        stopMember(members.get(0));
        Thread.sleep(6000);
        newMember.get();
        Thread.sleep(6000);
        stopMember(members.get(1));
        // Settle: every partition owned by the three left.
        long deadline = System.currentTimeMillis() + 60_000;
        while (ownedCount() < PARTITIONS && System.currentTimeMillis() < deadline) Thread.sleep(200);
        int stableOwned = ownedCount();
        producing.set(false);
        producer.join();
        // Drain: wait until every produced offset was consumed (bounded).
        deadline = System.currentTimeMillis() + 60_000;
        while (!allConsumed() && System.currentTimeMillis() < deadline) Thread.sleep(500);
        boolean none = allConsumed();
        for (Member m : members) stopMember(m);

        if (violations.isEmpty()) { System.out.println("PASS " + protocol + ".no_two_owners"); passed++; }
        else { System.out.println("FAIL " + protocol + ".no_two_owners: " + violations.subList(0, Math.min(3, violations.size()))); failed++; }
        if (stableOwned == PARTITIONS) { System.out.println("PASS " + protocol + ".stable_covers_all"); passed++; }
        else { System.out.println("FAIL " + protocol + ".stable_covers_all: " + stableOwned + " of " + PARTITIONS + " owned after 60 s"); failed++; }
        long total = produced.values().stream().mapToLong(Set::size).sum();
        if (none && total > 0) { System.out.println("PASS " + protocol + ".none_skipped"); passed++; }
        else { System.out.println("FAIL " + protocol + ".none_skipped: " + missing()); failed++; }
        System.out.println("INFO " + protocol + ": " + total + " records produced, " + consumed.values().stream().mapToLong(Set::size).sum() + " distinct consumed");
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    static void stopMember(Member m) throws InterruptedException {
        m.stop.set(true);
        m.thread.join(30_000);
    }

    static boolean allConsumed() {
        for (Map.Entry<Integer, Set<Long>> e : produced.entrySet()) {
            Set<Long> got = consumed.getOrDefault(e.getKey(), Set.of());
            if (!got.containsAll(e.getValue())) return false;
        }
        return true;
    }

    static String missing() {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Integer, Set<Long>> e : produced.entrySet()) {
            Set<Long> got = consumed.getOrDefault(e.getKey(), Set.of());
            long miss = e.getValue().stream().filter(o -> !got.contains(o)).count();
            if (miss > 0) sb.append("p").append(e.getKey()).append(" missing ").append(miss).append("; ");
        }
        return sb.toString();
    }
}
