/*
 * bench/group-scale/GroupScale.java -- one measurement of bench/group-scale.sh: how long a
 * consumer group of N members (default 100) on a P-partition topic (default 100) takes to reach
 * a stable assignment, and how long it takes to be stable again after one member leaves.
 *
 * What this file owns: the measurement inside one client JVM (the broker's start/stop and the
 * repetitions belong to bench/group-scale.sh). Run by hand through that script:
 *   java -Xmx1g -cp CLASSES:KAFKA_LIB/* GroupScale --bootstrap 127.0.0.1:PORT \
 *        --protocol classic|consumer --group G [--topic T --members 100 --partitions 100
 *        --quiet-ms 2000 --timeout-ms 120000]
 *
 * Procedure: the topic is created with P partitions if missing; one warm-up consumer joins a
 * separate group and gets its assignment (so the group coordinator, __consumer_offsets and the
 * client code paths are warm; not timed); then N KafkaConsumer instances, each polling
 * (100 ms) in its own thread, subscribe to the topic with the same group id.
 * Ownership is what the clients see: a member owns a partition between its
 * onPartitionsAssigned and its onPartitionsRevoked/onPartitionsLost callbacks (the Java client
 * fetches a partition only in between). Every change of a member's owned set is time-stamped.
 *
 * STABLE (printed with the results): every partition is owned by exactly one live member, every
 * live member owns between floor(P/L) and ceil(P/L) partitions (L = live members), and no
 * member's owned set has changed for --quiet-ms. The reported time ends at the LAST ownership
 * change before that quiet period (i.e. the quiet period is not counted).
 *   join_ms  = last change - the moment the N member threads are started
 *   leave_ms = last change - the moment close() is called on one member (the member in the
 *              middle of the list); close_ms is how long that close() call took.
 * Also reported: changes (ownership changes, a churn measure), overlaps (a member was assigned
 * a partition another live member still owned -- must be 0), errors (exceptions from poll).
 *
 * Output: lines starting with "RESULT " (key=value, "NA" when not stable within --timeout-ms)
 * and "STATE " snapshots on timeouts; client logs go to stderr. The JVM halts at the end after
 * closing every member (bounded), so nothing it starts outlives it.
 */

import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class GroupScale {
    static String bootstrap, protocol, group, topic = "group-scale";
    static int members = 100, partitions = 100;
    static long quietMs = 2000, timeoutMs = 120000;

    // Ownership table, guarded by LOCK: member index -> owned partitions (live members only).
    static final Object LOCK = new Object();
    static final Map<Integer, Set<Integer>> owned = new HashMap<>();
    static long lastChangeNanos;
    static int changes, overlaps;
    static final List<String> notes = new ArrayList<>();
    static final AtomicInteger errors = new AtomicInteger();

    static void note(String s) {
        synchronized (LOCK) { if (notes.size() < 10) notes.add(s); }
    }

    static void assigned(int me, Collection<TopicPartition> parts) {
        synchronized (LOCK) {
            Set<Integer> mine = owned.get(me);
            if (mine == null) return; // already left
            boolean changed = false;
            for (TopicPartition tp : parts) {
                for (Map.Entry<Integer, Set<Integer>> e : owned.entrySet()) {
                    if (e.getKey() != me && e.getValue().contains(tp.partition())) {
                        overlaps++;
                        if (notes.size() < 10) notes.add("overlap: member " + me + " got " + tp + " still owned by member " + e.getKey());
                    }
                }
                changed |= mine.add(tp.partition());
            }
            if (changed) { changes++; lastChangeNanos = System.nanoTime(); }
        }
    }

    static void released(int me, Collection<TopicPartition> parts) {
        synchronized (LOCK) {
            Set<Integer> mine = owned.get(me);
            if (mine == null) return;
            boolean changed = false;
            for (TopicPartition tp : parts) changed |= mine.remove(tp.partition());
            if (changed) { changes++; lastChangeNanos = System.nanoTime(); }
        }
    }

    /** Last change time if the group is STABLE now (see the header), else -1. */
    static long stableSince() {
        synchronized (LOCK) {
            int live = owned.size();
            if (live == 0) return -1;
            int lo = partitions / live, hi = (partitions + live - 1) / live;
            int[] count = new int[partitions];
            for (Set<Integer> s : owned.values()) {
                if (s.size() < lo || s.size() > hi) return -1;
                for (int p : s) count[p]++;
            }
            for (int c : count) if (c != 1) return -1;
            if (System.nanoTime() - lastChangeNanos < quietMs * 1_000_000L) return -1;
            return lastChangeNanos;
        }
    }

    static String snapshot() {
        synchronized (LOCK) {
            int[] count = new int[partitions];
            int min = Integer.MAX_VALUE, max = 0, empty = 0;
            for (Set<Integer> s : owned.values()) {
                min = Math.min(min, s.size()); max = Math.max(max, s.size());
                if (s.isEmpty()) empty++;
                for (int p : s) count[p]++;
            }
            int unowned = 0, multi = 0;
            for (int c : count) { if (c == 0) unowned++; if (c > 1) multi++; }
            return String.format("live=%d unowned_partitions=%d multiply_owned=%d member_min=%d member_max=%d members_without_partitions=%d ms_since_last_change=%.0f changes=%d",
                owned.size(), unowned, multi, min, max, empty, (System.nanoTime() - lastChangeNanos) / 1e6, changes);
        }
    }

    /** Waits for STABLE; the last change time, or -1 after timeoutMs from startNanos. */
    static long waitStable(long startNanos) throws InterruptedException {
        while (System.nanoTime() - startNanos < timeoutMs * 1_000_000L) {
            long t = stableSince();
            if (t >= 0) return t;
            Thread.sleep(20);
        }
        return -1;
    }

    static Properties consumerProps(String groupId, String clientId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return p;
    }

    /** One member: its own thread creates, polls and closes its consumer. */
    static final class Member implements Runnable {
        final int index;
        final Thread thread;
        volatile boolean leave;
        volatile KafkaConsumer<byte[], byte[]> consumer;
        volatile long closeStartNanos, closeEndNanos;
        final CountDownLatch created = new CountDownLatch(1);

        Member(int index) {
            this.index = index;
            this.thread = new Thread(this, "member-" + index);
            this.thread.setDaemon(true);
        }

        public void run() {
            try {
                consumer = new KafkaConsumer<>(consumerProps(group, "gs-" + index));
            } catch (Exception e) {
                errors.incrementAndGet(); note("member " + index + " create: " + e);
                created.countDown();
                return;
            }
            created.countDown();
            try {
                consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    public void onPartitionsRevoked(Collection<TopicPartition> p) { released(index, p); }
                    public void onPartitionsLost(Collection<TopicPartition> p) { released(index, p); }
                    public void onPartitionsAssigned(Collection<TopicPartition> p) { assigned(index, p); }
                });
                while (!leave) {
                    try {
                        consumer.poll(Duration.ofMillis(100));
                    } catch (WakeupException e) {
                        // leave was asked for
                    } catch (Exception e) {
                        errors.incrementAndGet(); note("member " + index + " poll: " + e);
                        Thread.sleep(100);
                    }
                }
            } catch (Exception e) {
                errors.incrementAndGet(); note("member " + index + ": " + e);
            } finally {
                closeStartNanos = System.nanoTime();
                try {
                    consumer.close(CloseOptions.timeout(Duration.ofSeconds(10)));
                } catch (Exception e) {
                    errors.incrementAndGet(); note("member " + index + " close: " + e);
                }
                closeEndNanos = System.nanoTime();
                synchronized (LOCK) {
                    Set<Integer> mine = owned.remove(index);
                    if (mine != null && !mine.isEmpty()) { changes++; lastChangeNanos = System.nanoTime(); }
                }
            }
        }

        void askLeave() {
            leave = true;
            KafkaConsumer<byte[], byte[]> c = consumer;
            if (c != null) c.wakeup();
        }
    }

    static void ensureTopic() throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            try {
                admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(60, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (true) {
                int n = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic).partitions().size();
                if (n == partitions) break;
                if (System.nanoTime() > deadline) throw new IllegalStateException(topic + " has " + n + " partitions, want " + partitions);
                Thread.sleep(100);
            }
        }
    }

    static void warmUp() {
        long start = System.nanoTime();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(group + "-warmup", "gs-warmup"))) {
            c.subscribe(List.of(topic));
            while (c.assignment().isEmpty() && System.nanoTime() - start < 60_000_000_000L) c.poll(Duration.ofMillis(100));
            System.out.printf("WARMUP assigned=%d ms=%.0f%n", c.assignment().size(), (System.nanoTime() - start) / 1e6);
        }
    }

    static String ms(long fromNanos, long toNanos) {
        return toNanos < 0 ? "NA" : String.format("%.0f", (toNanos - fromNanos) / 1e6);
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--bootstrap" -> bootstrap = v;
                case "--protocol" -> protocol = v;
                case "--group" -> group = v;
                case "--topic" -> topic = v;
                case "--members" -> members = Integer.parseInt(v);
                case "--partitions" -> partitions = Integer.parseInt(v);
                case "--quiet-ms" -> quietMs = Long.parseLong(v);
                case "--timeout-ms" -> timeoutMs = Long.parseLong(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (bootstrap == null || protocol == null || group == null) throw new IllegalArgumentException("--bootstrap, --protocol and --group are required");
        int status = 0;
        List<Member> all = new ArrayList<>();
        try {
            ensureTopic();
            warmUp();
            for (int i = 0; i < members; i++) {
                all.add(new Member(i));
                owned.put(i, new HashSet<>());
            }
            long start = System.nanoTime();
            synchronized (LOCK) { lastChangeNanos = start; }
            for (Member m : all) m.thread.start();
            long joined = waitStable(start);
            int joinChanges, joinOverlaps;
            synchronized (LOCK) { joinChanges = changes; joinOverlaps = overlaps; changes = 0; overlaps = 0; }
            System.out.printf("RESULT phase=join ms=%s changes=%d overlaps=%d errors=%d%n", ms(start, joined), joinChanges, joinOverlaps, errors.get());
            if (joined < 0) { System.out.println("STATE join " + snapshot()); status = 2; }
            else {
                Member leaver = all.get(members / 2);
                leaver.askLeave();
                leaver.thread.join(30_000);
                long leaveStart = leaver.closeStartNanos;
                long stable = leaveStart == 0 ? -1 : waitStable(leaveStart);
                String closeMs = leaver.closeEndNanos == 0 ? "NA" : ms(leaveStart, leaver.closeEndNanos);
                synchronized (LOCK) {
                    System.out.printf("RESULT phase=leave ms=%s close_ms=%s changes=%d overlaps=%d errors=%d%n", ms(leaveStart, stable), closeMs, changes, overlaps, errors.get());
                }
                if (stable < 0) { System.out.println("STATE leave " + snapshot()); status = 2; }
            }
        } catch (Exception e) {
            System.out.println("FAILED " + e);
            status = 1;
        } finally {
            synchronized (LOCK) { for (String n : notes) System.out.println("NOTE " + n); }
            for (Member m : all) m.askLeave();
            long deadline = System.nanoTime() + 30_000_000_000L;
            for (Member m : all) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left > 0 && m.thread.isAlive()) m.thread.join(left);
            }
            System.out.flush();
            Runtime.getRuntime().halt(status);
        }
    }
}
