// bench/compaction-compare/CompactionLoad.java -- the client of bench/compaction-compare.sh:
// kafka-clients 4.4.0's KafkaProducer and KafkaConsumer, the same settings against Runnel and
// Apache Kafka.
//
// What this program owns: the workloads of the compaction benchmark, the check of a compacted
// topic's contents, and their one-line results. Subcommands (compiled with javac against
// ~/.cache/runnel/kafka-4.4.0/lib/*):
//
//   fill --bootstrap B --topic T --bytes N --keys K --value-min A --value-max Z [--seed S]
//       Keyed records to partition 0 until N bytes of keys+values are sent: the key of each
//       record is "key-%08d" of a key drawn uniformly from K keys (so most keys are overwritten
//       many times); its value is one of 4096 random byte strings, made up front with lengths
//       drawn uniformly from [A, Z], drawn uniformly per record. The same options give the same
//       records in the same order, so both brokers get the same log.
//   verify (the same options as fill)
//       Replays fill's sequence to learn each key's last value, then reads partition 0 from the
//       earliest offset to the end offset (KafkaConsumer, assign, no group) and checks that
//       every key written is there and that its last record carries the last value written.
//   produce --bootstrap B --topic T --records N --size S
//       N unkeyed records of one random S-byte payload (as Kafka's ProducerPerformance sends),
//       as fast as the producer goes.
//
// Producer settings: acks=all, idempotence on, linger.ms=5, batch.size=131072, no compression,
// byte-array serializers; metadata is fetched before the clock starts. fill and produce take
// --go-file F: after the metadata, wait (at most 120 s, then exit 4) until file F exists, so the
// caller can start the JVM early and the clock at a moment of its choosing. Output on stdout,
// one line, then exit 0 when complete:
//   RESULT fill|produce records=.. bytes=.. start_ms=.. end_ms=.. seconds=.. mib_per_s=.. records_per_s=.. errors=..
//       start_ms: wall clock (epoch ms) of the first send; end_ms: of the last acknowledgement;
//       bytes: keys plus values. Exit 2 when a send failed.
//   RESULT verify records_written=.. keys_written=.. records_read=.. keys_read=.. missing=.. wrong=.. unknown=..
//       missing: keys written but not read; wrong: keys whose last record read does not carry
//       the last value written; unknown: records whose key was never written. Exit 3 when any
//       of the three is not 0 or the end offset was not reached in 120 s.
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class CompactionLoad {
    /** fill's record sequence: key and value indexes, the same for the same options. */
    static final class Keyed {
        final byte[][] keys;
        final byte[][] values = new byte[4096][];
        final Random rnd;
        final long target;
        long bytes;
        int key, value;

        Keyed(Map<String, String> opt) {
            int keyCount = Integer.parseInt(need(opt, "keys"));
            int vmin = Integer.parseInt(need(opt, "value-min"));
            int vmax = Integer.parseInt(need(opt, "value-max"));
            target = Long.parseLong(need(opt, "bytes"));
            rnd = new Random(Long.parseLong(opt.getOrDefault("seed", "42")));
            keys = new byte[keyCount][];
            for (int k = 0; k < keyCount; k++) keys[k] = String.format("key-%08d", k).getBytes();
            for (int v = 0; v < values.length; v++) {
                values[v] = new byte[vmin + rnd.nextInt(vmax - vmin + 1)];
                rnd.nextBytes(values[v]);
            }
        }

        /** The next record's key and value indexes; false once the target is reached. */
        boolean next() {
            if (bytes >= target) return false;
            key = rnd.nextInt(keys.length);
            value = rnd.nextInt(values.length);
            bytes += keys[key].length + values[value].length;
            return true;
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) usage();
        String cmd = args[0];
        Map<String, String> opt = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) usage();
            opt.put(args[i].substring(2), args[i + 1]);
        }
        switch (cmd) {
            case "fill", "produce" -> produce(cmd, opt);
            case "verify" -> verify(opt);
            default -> usage();
        }
    }

    static void produce(String cmd, Map<String, String> opt) throws InterruptedException {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, need(opt, "bootstrap"));
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, "131072");
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        String topic = need(opt, "topic");
        AtomicLong errors = new AtomicLong();
        AtomicReference<String> firstError = new AtomicReference<>();
        AtomicLong lastAck = new AtomicLong();
        Callback cb = (md, e) -> {
            if (e != null) {
                errors.incrementAndGet();
                firstError.compareAndSet(null, e.toString());
            } else {
                lastAck.accumulateAndGet(System.currentTimeMillis(), Math::max);
            }
        };
        long records = 0, bytes = 0, start;
        // The workload is made before the producer exists (and before the clock starts).
        Keyed keyed = cmd.equals("fill") ? new Keyed(opt) : null;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            producer.partitionsFor(topic);
            String go = opt.get("go-file");
            if (go != null) {
                long deadline = System.currentTimeMillis() + 120_000;
                while (!new java.io.File(go).exists()) {
                    if (System.currentTimeMillis() > deadline) {
                        System.err.println("no " + go + " after 120 s");
                        System.exit(4);
                    }
                    Thread.sleep(10);
                }
            }
            start = System.currentTimeMillis();
            if (keyed != null) {
                // The producer copies each record into its batch: the arrays can be sent again.
                while (keyed.next()) {
                    producer.send(new ProducerRecord<>(topic, 0, keyed.keys[keyed.key], keyed.values[keyed.value]), cb);
                    records++;
                }
                bytes = keyed.bytes;
            } else {
                long n = Long.parseLong(need(opt, "records"));
                byte[] payload = new byte[Integer.parseInt(need(opt, "size"))];
                new Random(7).nextBytes(payload);
                for (; records < n; records++) {
                    producer.send(new ProducerRecord<>(topic, payload), cb);
                    bytes += payload.length;
                }
            }
            producer.flush();
        }
        long end = Math.max(lastAck.get(), start + 1);
        double secs = (end - start) / 1000.0;
        System.out.printf("RESULT %s records=%d bytes=%d start_ms=%d end_ms=%d seconds=%.3f mib_per_s=%.2f records_per_s=%.0f errors=%d%n",
                cmd, records, bytes, start, end, secs, bytes / 1048576.0 / secs, records / secs, errors.get());
        if (errors.get() > 0) {
            System.err.println("first error: " + firstError.get());
            System.exit(2);
        }
    }

    static void verify(Map<String, String> opt) {
        Keyed keyed = new Keyed(opt);
        int[] last = new int[keyed.keys.length];
        Arrays.fill(last, -1);
        long written = 0;
        while (keyed.next()) {
            last[keyed.key] = keyed.value;
            written++;
        }
        Map<String, Integer> index = new HashMap<>();
        for (int k = 0; k < keyed.keys.length; k++) index.put(new String(keyed.keys[k]), k);

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, need(opt, "bootstrap"));
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        TopicPartition tp = new TopicPartition(need(opt, "topic"), 0);
        byte[][] seen = new byte[keyed.keys.length][];
        long read = 0, unknown = 0;
        boolean complete = false;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            long deadline = System.currentTimeMillis() + 120_000;
            while (System.currentTimeMillis() < deadline) {
                if (consumer.position(tp) >= end) {
                    complete = true;
                    break;
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    read++;
                    Integer k = r.key() == null ? null : index.get(new String(r.key()));
                    if (k == null) unknown++;
                    else seen[k] = r.value();
                }
            }
        }
        long keysWritten = 0, keysRead = 0, missing = 0, wrong = 0;
        for (int k = 0; k < last.length; k++) {
            if (seen[k] != null) keysRead++;
            if (last[k] < 0) continue;
            keysWritten++;
            if (seen[k] == null) missing++;
            else if (!Arrays.equals(seen[k], keyed.values[last[k]])) wrong++;
        }
        System.out.printf("RESULT verify records_written=%d keys_written=%d records_read=%d keys_read=%d missing=%d wrong=%d unknown=%d complete=%b%n",
                written, keysWritten, read, keysRead, missing, wrong, unknown, complete);
        if (!complete || missing > 0 || wrong > 0 || unknown > 0) System.exit(3);
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
        System.err.println("usage: CompactionLoad fill|verify|produce --bootstrap B --topic T ... (see the file's header)");
        System.exit(64);
    }
}
