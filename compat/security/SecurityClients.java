/*
 * compat/security/SecurityClients.java -- the Java kafka-clients (4.4.0) cases of the "security"
 * suite: TLS, mutual TLS and SASL_SSL against the listeners compat/security/run.sh starts.
 *
 * Run: compat/kafka-tools.sh run compat/security/SecurityClients.java \
 *        --ssl ADDR --mtls ADDR --sasl-ssl ADDR --certs DIR --sasl MECH:USER:PASSWORD [--sasl ...]
 * (--sasl once per mechanism enabled on the SASL_SSL listener, with a user that exists for it:
 * PLAIN today, SCRAM-SHA-256/512 once the broker serves them.)
 * Every check is a named case printing `PASS name` / `FAIL name: reason` (`INFO ...` for what
 * the client reported); the last line is `N passed, N failed`; exit status 1 when any failed.
 *
 * Stores are PEM, as Kafka's clients read them: ssl.truststore.type=PEM with ca.pem, and for a
 * client certificate ssl.keystore.type=PEM with ssl.keystore.location = one file holding the
 * unencrypted PKCS#8 key followed by the certificate (client.pem). Hostname verification
 * (ssl.endpoint.identification.algorithm=https, the default) checks the broker's IP SAN.
 *
 * Cases:
 *   java.tls.round_trip                 SSL listener: Admin createTopics, an acks=all producer, a
 *                                       consumer by assignment reading every record back
 *   java.mtls.round_trip                the MTLS listener (ssl.client.auth=required) with client.pem
 *   java.mtls.no_cert_rejected          no keystore: send fails with SslAuthenticationException,
 *                                       nothing delivered
 *   java.mtls.untrusted_cert_rejected   a key store whose certificate is signed by rogue-ca: the
 *                                       same (JSSE picks a client certificate by the CA names the
 *                                       server asks for, so it sends none here; clients.py has a
 *                                       raw case that presents the untrusted certificate)
 *   java.sasl.MECH.round_trip           SASL_SSL as the good user (PlainLoginModule / ScramLoginModule)
 *   java.sasl.MECH.wrong_password       send fails with SaslAuthenticationException, nothing delivered
 *   java.sasl.MECH.good_client_after    a new good client (Admin listTopics and a round trip) works
 */

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

public class SecurityClients {
    static int passed = 0, failed = 0;
    static final String RUN = Long.toString(System.currentTimeMillis() % 1_000_000_000L);
    static String ssl, mtls, saslSsl, certs;
    static final List<String[]> sasl = new ArrayList<>();

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

    static Properties base(String bootstrap, String protocol) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, protocol);
        p.put("ssl.truststore.type", "PEM");
        p.put("ssl.truststore.location", certs + "/ca.pem");
        p.put("ssl.endpoint.identification.algorithm", "https");
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        p.put(CommonClientConfigs.RECONNECT_BACKOFF_MAX_MS_CONFIG, "1000");
        return p;
    }

    static Properties mtlsConf(String keystore) {
        Properties p = base(mtls, "SSL");
        if (keystore != null) {
            p.put("ssl.keystore.type", "PEM");
            p.put("ssl.keystore.location", certs + "/" + keystore);
        }
        return p;
    }

    static String loginModule(String mech) {
        if (mech.equals("PLAIN")) return "org.apache.kafka.common.security.plain.PlainLoginModule";
        if (mech.startsWith("SCRAM-")) return "org.apache.kafka.common.security.scram.ScramLoginModule";
        throw new IllegalArgumentException("no login module known for " + mech);
    }

    static Properties saslConf(String mech, String user, String password) {
        Properties p = base(saslSsl, "SASL_SSL");
        p.put("sasl.mechanism", mech);
        p.put("sasl.jaas.config", loginModule(mech) + " required username=\"" + user + "\" password=\"" + password + "\";");
        return p;
    }

    static Properties with(Properties p, Object... kv) {
        Properties q = new Properties();
        q.putAll(p);
        for (int i = 0; i < kv.length; i += 2) q.put(kv[i], kv[i + 1]);
        return q;
    }

    /** Create TOPIC through CONF's listener, send N records (acks=all), read them back. */
    static void roundTrip(Properties conf, String topic, int n) throws Exception {
        try (Admin admin = Admin.create(conf)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(with(conf,
                ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000", ProducerConfig.LINGER_MS_CONFIG, "5"),
                new StringSerializer(), new StringSerializer())) {
            List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
            for (int i = 0; i < n; i++) sent.add(producer.send(new ProducerRecord<>(topic, 0, "k" + i, topic + "-v" + i)));
            for (var f : sent) f.get(30, TimeUnit.SECONDS);
        }
        List<String> got = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(with(conf,
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false", ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"),
                new StringDeserializer(), new StringDeserializer())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (got.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) got.add(r.value());
            }
        }
        List<String> want = new ArrayList<>();
        for (int i = 0; i < n; i++) want.add(topic + "-v" + i);
        require(got.equals(want), "read " + got.size() + "/" + n + " records back; first " + got.subList(0, Math.min(2, got.size())));
    }

    /** One send with CONF must fail; returns the exception chain (nothing may be delivered). */
    static Throwable expectSendFails(Properties conf, String topic) {
        Throwable error = null;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(with(conf,
                ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.MAX_BLOCK_MS_CONFIG, "15000",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "20000", ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000"),
                new StringSerializer(), new StringSerializer())) {
            try {
                var meta = producer.send(new ProducerRecord<>(topic, "must-not-arrive")).get(40, TimeUnit.SECONDS);
                throw new AssertionError("a record was delivered: offset " + meta.offset());
            } catch (AssertionError e) {
                throw e;
            } catch (Throwable t) {
                error = t;
            }
            producer.close(Duration.ofSeconds(5));
        }
        return error;
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

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--ssl" -> ssl = args[i + 1];
                case "--mtls" -> mtls = args[i + 1];
                case "--sasl-ssl" -> saslSsl = args[i + 1];
                case "--certs" -> certs = args[i + 1];
                case "--sasl" -> sasl.add(args[i + 1].split(":", 3));
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        System.out.println("# kafka-clients " + org.apache.kafka.common.utils.internals.AppInfoParser.getVersion()
                + ", Java " + System.getProperty("java.version"));

        check("java.tls.round_trip", () -> roundTrip(base(ssl, "SSL"), "sec-java-tls-" + RUN, 20));
        check("java.mtls.round_trip", () -> roundTrip(mtlsConf("client.pem"), "sec-java-mtls-" + RUN, 20));
        for (String[] c : new String[][] {{"no_cert_rejected", null}, {"untrusted_cert_rejected", "rogue-client.pem"}}) {
            check("java.mtls." + c[0], () -> {
                Throwable t = expectSendFails(mtlsConf(c[1]), "sec-java-mtls-" + RUN);
                System.out.println("INFO java.mtls." + c[0] + ": " + chain(t));
                require(find(t, SslAuthenticationException.class) != null,
                        "no SslAuthenticationException, got: " + chain(t));
            });
        }
        for (String[] s : sasl) {
            String mech = s[0], user = s[1], password = s[2], tag = mech.toLowerCase();
            String topic = "sec-java-sasl-" + tag + "-" + RUN;
            check("java.sasl." + tag + ".round_trip", () -> roundTrip(saslConf(mech, user, password), topic, 20));
            check("java.sasl." + tag + ".wrong_password", () -> {
                Throwable t = expectSendFails(saslConf(mech, user, password + "-wrong"), topic);
                System.out.println("INFO java.sasl." + tag + ".wrong_password: " + chain(t));
                require(find(t, SaslAuthenticationException.class) != null,
                        "no SaslAuthenticationException, got: " + chain(t));
            });
            check("java.sasl." + tag + ".good_client_after", () -> {
                try (Admin admin = Admin.create(saslConf(mech, user, password))) {
                    Set<String> names = admin.listTopics().names().get(30, TimeUnit.SECONDS);
                    require(names.contains(topic), topic + " not listed: " + names);
                }
                roundTrip(saslConf(mech, user, password), topic + "-after", 10);
            });
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }
}
