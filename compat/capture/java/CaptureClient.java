// Java kafka-clients workload for the golden-vector capture (compat/capture/capture.sh).
// Run: java -cp "$KAFKA_LIB/*" CaptureClient.java BOOTSTRAP TOPIC GROUP
// Creates TOPIC (AdminClient), produces a few keyed records with a header (idempotent, acks=all,
// no compression), then consumes them in a classic consumer group (subscribe, commitSync), and
// finally once more with a KIP-848 consumer group (group.protocol=consumer) in GROUP-848.
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.*;
import org.apache.kafka.common.utils.internals.AppInfoParser;

public class CaptureClient {
    static final int RECORDS = 3;

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], group = args[2];
        System.err.println("client: java kafka-clients " + AppInfoParser.getVersion());

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.CLIENT_ID_CONFIG, "runnel-capture-java-admin");
        try (Admin admin = Admin.create(ap)) {
            try {
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
            } catch (java.util.concurrent.ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
        }

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "runnel-capture-java-producer");
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        try (Producer<String, String> p = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < RECORDS; i++) {
                ProducerRecord<String, String> r = new ProducerRecord<>(topic, null, "key-" + i, "value-" + i);
                r.headers().add(new RecordHeader("h", ("hv-" + i).getBytes(StandardCharsets.UTF_8)));
                p.send(r);
            }
            p.flush();
        }

        consume(bootstrap, topic, group, "classic");
        consume(bootstrap, topic, group + "-848", "consumer");
        System.err.println("java client done");
    }

    static void consume(String bootstrap, String topic, String group, String protocol) {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "runnel-capture-java-consumer-" + protocol);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        if (protocol.equals("classic")) {
            cp.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "200");
            cp.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        }
        int got = 0;
        try (Consumer<String, String> c = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 30_000;
            while (got < RECORDS && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    got++;
                    System.err.printf("  [%s] %s@%d %s=%s%n", protocol, r.topic(), r.offset(), r.key(), r.value());
                }
            }
            c.commitSync();
            // keep polling a little so that heartbeats are exchanged
            long until = System.currentTimeMillis() + 1500;
            while (System.currentTimeMillis() < until) c.poll(Duration.ofMillis(200));
        }
        if (got < RECORDS) throw new IllegalStateException(protocol + " consumer got only " + got + " records");
    }
}
