/*
 * compat/security/SecurityClients.java -- the Java kafka-clients (4.4.0) cases of the "security"
 * suite: TLS, mutual TLS and SASL_SSL against the listeners compat/security/run.sh starts.
 *
 * Run: compat/kafka-tools.sh run compat/security/SecurityClients.java \
 *        --ssl ADDR --mtls ADDR --sasl-ssl ADDR --certs DIR --sasl MECH:USER:PASSWORD [--sasl ...]
 *        [--oauth ADDR]
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
 * With --oauth ADDR (the OAUTH listener: SASL_PLAINTEXT, OAUTHBEARER, Kafka's default unsecured
 * validator on the broker):
 *   java.oauthbearer.round_trip         sasl.mechanism=OAUTHBEARER, OAuthBearerLoginModule with
 *                                       unsecuredLoginStringClaim_sub="alice": the client makes an
 *                                       unsigned token itself ({"alg":"none"}, sub, iat, exp in
 *                                       fractional seconds); Admin createTopics, produce, consume
 *   java.oauthbearer.expired_login_rejected  the same login module with
 *                                       unsecuredLoginLifetimeSeconds="0" (a token expired when it
 *                                       arrives): send fails with SaslAuthenticationException naming
 *                                       invalid_token, nothing delivered
 *   java.oauthbearer.raw.* (raw frames over a socket: SaslHandshake v1, SaslAuthenticate v1 with
 *                                       the client's first message n,,\x01auth=Bearer TOKEN\x01\x01)
 *     valid_token_accepted              {"sub":"admin","exp":now+3600}: error 0, then ApiVersions
 *                                       answered on the connection (the framing is right)
 *     expired_token_rejected            exp a minute ago; garbage_token_rejected: "not.a-jwt";
 *     no_exp_rejected                   {"sub":"admin"} only: each answered first with error 0 and
 *                                       the challenge {"status":"invalid_token"}, the client's \x01
 *                                       then with SASL_AUTHENTICATION_FAILED (58) whose message
 *                                       holds that JSON, and the connection closed
 *   java.oauthbearer.good_client_after  a new good client (Admin listTopics and a round trip) works
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

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

public class SecurityClients {
    static int passed = 0, failed = 0;
    static final String RUN = Long.toString(System.currentTimeMillis() % 1_000_000_000L);
    static String ssl, mtls, saslSsl, certs, oauth;
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

    // ---- OAUTHBEARER (RFC 7628) on the OAUTH listener -----------------------------------------

    static final String OAUTH_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

    /** SASL_PLAINTEXT to the OAUTH listener; Kafka's unsecured login handler (the default) makes the token. */
    static Properties oauthConf(String options) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, oauth);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        p.put(CommonClientConfigs.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        p.put(CommonClientConfigs.RECONNECT_BACKOFF_MAX_MS_CONFIG, "1000");
        p.put("sasl.mechanism", "OAUTHBEARER");
        p.put("sasl.jaas.config", OAUTH_MODULE + " required " + options + ";");
        return p;
    }

    /** An unsecured JWS as Kafka's default validator takes it: base64url header, claims, empty signature. */
    static String unsecuredToken(String claimsJson) {
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        return b64.encodeToString("{\"alg\":\"none\"}".getBytes(StandardCharsets.UTF_8)) + "."
                + b64.encodeToString(claimsJson.getBytes(StandardCharsets.UTF_8)) + ".";
    }

    /** A plain TCP connection speaking just enough Kafka for SASL (request header v1, response header v0). */
    static final class Raw implements AutoCloseable {
        final Socket socket = new Socket();
        final DataInputStream in;
        final DataOutputStream out;
        int corr = 0;

        Raw(String addr) throws IOException {
            int colon = addr.lastIndexOf(':');
            socket.connect(new InetSocketAddress(addr.substring(0, colon), Integer.parseInt(addr.substring(colon + 1))), 10000);
            socket.setSoTimeout(10000);
            in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
            out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
        }

        /** The response after its correlation id, or null when the broker closed the connection instead. */
        ByteBuffer request(int apiKey, int version, byte[] body) throws IOException {
            byte[] clientId = "compat-security-java".getBytes(StandardCharsets.UTF_8);
            out.writeInt(2 + 2 + 4 + 2 + clientId.length + body.length);
            out.writeShort(apiKey);
            out.writeShort(version);
            out.writeInt(++corr);
            out.writeShort(clientId.length);
            out.write(clientId);
            out.write(body);
            out.flush();
            int size;
            try {
                size = in.readInt();
            } catch (EOFException | SocketException e) {
                return null;
            }
            byte[] resp = new byte[size];
            in.readFully(resp);
            ByteBuffer b = ByteBuffer.wrap(resp);
            int got = b.getInt();
            require(got == corr, "correlation id " + got + ", sent " + corr);
            return b;
        }

        /** SaslHandshake v1: the error code (the enabled mechanisms are not needed here). */
        short handshake(String mechanism) throws IOException {
            byte[] m = mechanism.getBytes(StandardCharsets.UTF_8);
            ByteBuffer body = ByteBuffer.allocate(2 + m.length).putShort((short) m.length).put(m);
            ByteBuffer r = request(17, 1, body.array());
            require(r != null, "closed without a SaslHandshake answer");
            return r.getShort();
        }

        record Auth(short error, String message, byte[] bytes) { }

        /** SaslAuthenticate v1, or null when the broker closed the connection instead of answering. */
        Auth authenticate(byte[] token) throws IOException {
            ByteBuffer body = ByteBuffer.allocate(4 + token.length).putInt(token.length).put(token);
            ByteBuffer r = request(36, 1, body.array());
            if (r == null) return null;
            short error = r.getShort();
            short len = r.getShort();
            String message = null;
            if (len >= 0) {
                byte[] m = new byte[len];
                r.get(m);
                message = new String(m, StandardCharsets.UTF_8);
            }
            int n = r.getInt();
            byte[] bytes = new byte[Math.max(n, 0)];
            r.get(bytes);
            return new Auth(error, message, bytes);
        }

        /** True when the broker closes the connection within MS without sending anything more. */
        boolean closedWithin(int ms) throws IOException {
            socket.setSoTimeout(ms);
            try {
                return in.read() == -1;
            } catch (SocketTimeoutException e) {
                return false;
            } catch (SocketException e) {
                return true;  // reset
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    static byte[] clientFirst(String token) {
        return ("n,,\u0001auth=Bearer " + token + "\u0001\u0001").getBytes(StandardCharsets.UTF_8);
    }

    /** A refused token: challenge {"status":"invalid_token"} (error 0), the client's 0x01, then 58. */
    static void expectRefused(String name, String token) throws Exception {
        try (Raw raw = new Raw(oauth)) {
            short hs = raw.handshake("OAUTHBEARER");
            require(hs == 0, "SaslHandshake OAUTHBEARER answered error " + hs);
            Raw.Auth first = raw.authenticate(clientFirst(token));
            require(first != null, "closed without answering the client's first message");
            String challenge = new String(first.bytes(), StandardCharsets.UTF_8);
            require(first.error() == 0 && challenge.replace(" ", "").equals("{\"status\":\"invalid_token\"}"),
                    "first answer: error " + first.error() + " message " + first.message() + " bytes " + challenge
                            + "; want error 0 with the challenge {\"status\":\"invalid_token\"}");
            Raw.Auth second = raw.authenticate(new byte[] {1});
            require(second != null, "closed without answering the client's 0x01");
            require(second.error() == 58 && second.message() != null && second.message().contains("invalid_token"),
                    "after 0x01: error " + second.error() + " message " + second.message()
                            + "; want 58 (SASL_AUTHENTICATION_FAILED) naming invalid_token");
            System.out.println("INFO " + name + ": challenge " + challenge + ", then error 58: " + second.message());
            require(raw.closedWithin(5000), "the connection is still open 5 s after the failure");
        }
    }

    static void oauthCases() {
        String topic = "sec-java-oauth-" + RUN;
        String alice = "unsecuredLoginStringClaim_sub=\"alice\"";
        check("java.oauthbearer.round_trip", () -> roundTrip(oauthConf(alice), topic, 20));
        check("java.oauthbearer.expired_login_rejected", () -> {
            Throwable t = expectSendFails(oauthConf(alice + " unsecuredLoginLifetimeSeconds=\"0\""), topic);
            System.out.println("INFO java.oauthbearer.expired_login_rejected: " + chain(t));
            SaslAuthenticationException e = find(t, SaslAuthenticationException.class);
            require(e != null, "no SaslAuthenticationException, got: " + chain(t));
            require(String.valueOf(e.getMessage()).contains("invalid_token"), "no invalid_token in: " + e.getMessage());
        });
        long now = System.currentTimeMillis() / 1000;
        check("java.oauthbearer.raw.valid_token_accepted", () -> {
            try (Raw raw = new Raw(oauth)) {
                require(raw.handshake("OAUTHBEARER") == 0, "SaslHandshake OAUTHBEARER refused");
                Raw.Auth a = raw.authenticate(clientFirst(unsecuredToken("{\"sub\":\"admin\",\"exp\":" + (now + 3600) + "}")));
                require(a != null && a.error() == 0, "a valid token: " + (a == null ? "closed" : "error " + a.error() + " " + a.message()));
                ByteBuffer av = raw.request(18, 0, new byte[0]);
                require(av != null && av.getShort() == 0, "ApiVersions after the login: " + (av == null ? "closed" : "an error"));
            }
        });
        check("java.oauthbearer.raw.expired_token_rejected", () -> expectRefused("java.oauthbearer.raw.expired_token_rejected",
                unsecuredToken("{\"sub\":\"admin\",\"exp\":" + (now - 60) + "}")));
        check("java.oauthbearer.raw.garbage_token_rejected", () -> expectRefused("java.oauthbearer.raw.garbage_token_rejected",
                "not.a-jwt"));
        check("java.oauthbearer.raw.no_exp_rejected", () -> expectRefused("java.oauthbearer.raw.no_exp_rejected",
                unsecuredToken("{\"sub\":\"admin\"}")));
        check("java.oauthbearer.good_client_after", () -> {
            try (Admin admin = Admin.create(oauthConf(alice))) {
                Set<String> names = admin.listTopics().names().get(30, TimeUnit.SECONDS);
                require(names.contains(topic), topic + " not listed: " + names);
            }
            roundTrip(oauthConf(alice), topic + "-after", 10);
        });
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--ssl" -> ssl = args[i + 1];
                case "--mtls" -> mtls = args[i + 1];
                case "--sasl-ssl" -> saslSsl = args[i + 1];
                case "--certs" -> certs = args[i + 1];
                case "--sasl" -> sasl.add(args[i + 1].split(":", 3));
                case "--oauth" -> oauth = args[i + 1];
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
        if (oauth != null) oauthCases();
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }
}
