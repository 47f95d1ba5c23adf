/*
 * bench/rdkafka-bench/rdkafka_bench.c -- the C client of bench/client-compare.sh
 * (BENCH_CLIENT=rdkafka): librdkafka (Debian's librdkafka-dev) driving one broker, with the
 * same subcommands, flags and one-line output as bench/client-bench (franz-go), so the script
 * runs either client unchanged.
 *
 * What this program owns: the client side of produce, consume and latency with librdkafka's
 * settings, the same against every broker. Subcommands:
 *
 *   create   -brokers B -topic T -partitions P       CreateTopics (replication factor 1), then
 *                                                   waits until every partition has a leader
 *   produce  -brokers B -topic T -records N -size S  idempotent producer (acks=all), N records of
 *            [-linger D] [-partitioner sticky|roundrobin]   S random bytes, as fast as it goes
 *   consume  -brokers B -topic T -records N          N records of partition 0 from offset 0
 *   latency  -brokers B -topic T -rate R -duration D idempotent acks=all producer at R records/s,
 *            [-warmup D] [-size S]                   linger 0; ack latency percentiles (us)
 *
 * Every subcommand takes -timeout D (a bound on the whole run). Durations are written as Go
 * writes them (500us, 5ms, 20s, 2m). Output: one line of key=value pairs on stdout (ok=1 when
 * the measurement is complete), errors on stderr; exit 2 when incomplete. MiB/s counts value
 * bytes; cpu_s is this process's user+system CPU over the measured interval (getrusage).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rdkafka-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* A Go-style duration ("500us", "5ms", "20s", "2m") in seconds; dies on anything else. */
static double duration_s(const char *text) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || v < 0) die("bad duration %s", text);
    if (strcmp(end, "us") == 0 || strcmp(end, "µs") == 0) return v / 1e6;
    if (strcmp(end, "ms") == 0) return v / 1e3;
    if (strcmp(end, "s") == 0) return v;
    if (strcmp(end, "m") == 0) return v * 60;
    if (strcmp(end, "h") == 0) return v * 3600;
    die("bad duration %s", text);
    return 0;
}

struct opts {
    const char *brokers, *topic, *partitioner;
    long records, size, partitions, rate;
    double linger_s, timeout_s, duration_s, warmup_s;
};

static void parse(int argc, char **argv, struct opts *o) {
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) die("flag %s needs a value", k);
        const char *v = argv[++i];
        if (strcmp(k, "-brokers") == 0) o->brokers = v;
        else if (strcmp(k, "-topic") == 0) o->topic = v;
        else if (strcmp(k, "-partitioner") == 0) o->partitioner = v;
        else if (strcmp(k, "-records") == 0) o->records = atol(v);
        else if (strcmp(k, "-size") == 0) o->size = atol(v);
        else if (strcmp(k, "-partitions") == 0) o->partitions = atol(v);
        else if (strcmp(k, "-rate") == 0) o->rate = atol(v);
        else if (strcmp(k, "-linger") == 0) o->linger_s = duration_s(v);
        else if (strcmp(k, "-timeout") == 0) o->timeout_s = duration_s(v);
        else if (strcmp(k, "-duration") == 0) o->duration_s = duration_s(v);
        else if (strcmp(k, "-warmup") == 0) o->warmup_s = duration_s(v);
        else die("unknown flag %s", k);
    }
    if (o->records < 0 || o->size < 0 || o->size > (64 << 20) || o->rate < 0)
        die("a count or size is out of range");
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("%s=%s: %s", key, value, err);
}

static rd_kafka_conf_t *base_conf(const struct opts *o) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", o->brokers);
    set(conf, "client.id", "rdkafka-bench");
    return conf;
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) die("client: %s", err);
    return rk;
}

/* Partitions of the topic with a leader, or -1 when the topic is not there yet. */
static int led_partitions(rd_kafka_t *rk, const char *topic, int *count) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    int led = -1;
    *count = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            led = 0;
            *count = md->topics[0].partition_cnt;
            for (int i = 0; i < md->topics[0].partition_cnt; i++)
                if (md->topics[0].partitions[i].err == 0 && md->topics[0].partitions[i].leader >= 0) led++;
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return led;
}

static void create(const struct opts *o) {
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, base_conf(o));
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, (int)o->partitions, 1, err, sizeof err);
    if (!nt) die("create %s: %s", o->topic, err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)(o->timeout_s * 1000));
    if (!ev) die("create %s: no answer", o->topic);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n;
    const rd_kafka_topic_result_t **results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            die("create %s: %s", o->topic, rd_kafka_err2str(e));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    double deadline = now_s() + o->timeout_s;
    int count;
    while (led_partitions(rk, o->topic, &count) != o->partitions || count != o->partitions) {
        if (now_s() > deadline) die("create %s: partitions without a leader", o->topic);
        usleep(50000);
    }
    rd_kafka_destroy(rk);
    printf("ok=1 topic=%s partitions=%ld\n", o->topic, o->partitions);
}

/* Delivery accounting shared by produce and latency. */
struct delivery {
    long delivered, failed;
    char first_error[256];
    int64_t *sent_ns; /* latency: send time per record index (opaque), else NULL */
    int64_t *latency_ns;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct delivery *d = opaque;
    intptr_t index = (intptr_t)m->_private;
    if (m->err) {
        if (d->failed++ == 0)
            snprintf(d->first_error, sizeof d->first_error, "%s", rd_kafka_err2str(m->err));
        if (d->latency_ns && index >= 0) d->latency_ns[index] = -1;
        return;
    }
    d->delivered++;
    if (d->latency_ns && index >= 0) d->latency_ns[index] = now_ns() - d->sent_ns[index];
}

static rd_kafka_t *new_producer(const struct opts *o, double linger_s, struct delivery *d) {
    rd_kafka_conf_t *conf = base_conf(o);
    char linger[32];
    snprintf(linger, sizeof linger, "%.3f", linger_s * 1000);
    set(conf, "acks", "all");
    set(conf, "enable.idempotence", "true");
    set(conf, "linger.ms", linger);
    set(conf, "queue.buffering.max.messages", "200000");
    set(conf, "queue.buffering.max.kbytes", "1048576");
    set(conf, "compression.type", "none");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    return new_client(RD_KAFKA_PRODUCER, conf);
}

/* Sends one record (value not copied: `value` outlives the producer), retrying while the
 * local queue is full. */
static int send_one(rd_kafka_t *rk, const char *topic, int32_t partition, const char *value,
                    long size, intptr_t index, double deadline) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_VALUE((void *)value, (size_t)size), RD_KAFKA_V_OPAQUE((void *)index),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || now_s() > deadline) {
            fprintf(stderr, "rdkafka-bench: produce: %s\n", rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(rk, 1);
    }
}

static char *random_value(long size) {
    char *v = malloc((size_t)size + 1);
    if (!v) die("out of memory");
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(v, 1, (size_t)size, f) != (size_t)size) die("reading /dev/urandom");
    fclose(f);
    return v;
}

static void warm_up(rd_kafka_t *rk, const struct opts *o, const char *value, struct delivery *d) {
    if (send_one(rk, o->topic, RD_KAFKA_PARTITION_UA, value, o->size, -1, now_s() + o->timeout_s))
        die("warm-up produce failed");
    rd_kafka_flush(rk, (int)(o->timeout_s * 1000));
    if (d->delivered != 1) die("warm-up produce: %s", d->failed ? d->first_error : "not acknowledged");
    d->delivered = 0;
}

static void produce(const struct opts *o) {
    struct delivery d = {0};
    char *value = random_value(o->size);
    rd_kafka_t *rk = new_producer(o, o->linger_s, &d);
    int partitions = 0;
    int round_robin = o->partitioner && strcmp(o->partitioner, "roundrobin") == 0;
    if (o->partitioner && !round_robin && strcmp(o->partitioner, "sticky") != 0)
        die("unknown partitioner %s", o->partitioner);
    if (round_robin && (led_partitions(rk, o->topic, &partitions) < 0 || partitions <= 0))
        die("no metadata for %s", o->topic);
    warm_up(rk, o, value, &d);
    double deadline = now_s() + o->timeout_s;
    double cpu0 = cpu_seconds(), t0 = now_s();
    long sent = 0;
    for (; sent < o->records && now_s() < deadline; sent++) {
        int32_t partition = round_robin ? (int32_t)(sent % partitions) : RD_KAFKA_PARTITION_UA;
        if (send_one(rk, o->topic, partition, value, o->size, -1, deadline)) break;
        if ((sent & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    int left_ms = (int)((deadline - now_s()) * 1000);
    rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, left_ms > 0 ? left_ms : 0);
    double secs = now_s() - t0, cpu = cpu_seconds() - cpu0;
    int ok = flushed == 0 && d.failed == 0 && sent == o->records && d.delivered == o->records;
    double bytes = (double)d.delivered * (double)o->size;
    printf("ok=%d records=%ld failed=%ld bytes=%.0f seconds=%.3f mibps=%.2f recps=%.0f cpu_s=%.2f", ok,
           sent, d.failed, bytes, secs, bytes / secs / (1 << 20), (double)d.delivered / secs, cpu);
    if (!ok) printf(" error=\"%s\"", d.failed ? d.first_error : rd_kafka_err2str(flushed));
    printf("\n");
    rd_kafka_destroy(rk);
    free(value);
    if (!ok) exit(2);
}

static void consume(const struct opts *o) {
    rd_kafka_conf_t *conf = base_conf(o);
    set(conf, "enable.partition.eof", "false");
    set(conf, "queued.max.messages.kbytes", "262144");
    set(conf, "fetch.message.max.bytes", "1048576");
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, conf);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (rd_kafka_consume_start(rkt, 0, RD_KAFKA_OFFSET_BEGINNING) == -1)
        die("consume start: %s", rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_message_t *batch[1024];
    double deadline = now_s() + o->timeout_s;
    double cpu0 = cpu_seconds(), t0 = now_s();
    long got = 0, bytes = 0;
    char error[256] = "";
    while (got < o->records && now_s() < deadline) {
        ssize_t n = rd_kafka_consume_batch(rkt, 0, 1000, batch, 1024);
        for (ssize_t i = 0; i < n; i++) {
            if (batch[i]->err) {
                if (!error[0]) snprintf(error, sizeof error, "%s", rd_kafka_message_errstr(batch[i]));
            } else {
                got++;
                bytes += (long)batch[i]->len + (long)batch[i]->key_len;
            }
            rd_kafka_message_destroy(batch[i]);
        }
    }
    double secs = now_s() - t0, cpu = cpu_seconds() - cpu0;
    int ok = got >= o->records;
    printf("ok=%d records=%ld bytes=%ld seconds=%.3f mibps=%.2f cpu_s=%.2f", ok, got, bytes, secs,
           (double)bytes / secs / (1 << 20), cpu);
    if (error[0]) printf(" error=\"%s\"", error);
    printf("\n");
    rd_kafka_consume_stop(rkt, 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (!ok) exit(2);
}

static int compare_ns(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void latency(const struct opts *o) {
    if (o->rate <= 0 || o->rate > 1000000) die("-rate must be 1..1000000");
    struct delivery d = {0};
    char *value = random_value(o->size);
    rd_kafka_t *rk = new_producer(o, 0, &d);
    warm_up(rk, o, value, &d);
    int64_t interval_ns = 1000000000 / o->rate;
    long warm = (long)(o->warmup_s * 1e9 / (double)interval_ns);
    long total = warm + (long)(o->duration_s * 1e9 / (double)interval_ns);
    d.sent_ns = calloc((size_t)total + 1, sizeof(int64_t));
    d.latency_ns = calloc((size_t)total + 1, sizeof(int64_t));
    if (!d.sent_ns || !d.latency_ns) die("out of memory");
    /* A timerfd, as the Go client: sub-millisecond sleeps are not reliable. */
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec spec = {{0, interval_ns}, {0, interval_ns}};
    if (tfd < 0 || timerfd_settime(tfd, 0, &spec, NULL) != 0) die("timerfd: %s", strerror(errno));
    double deadline = now_s() + o->timeout_s;
    double cpu0 = cpu_seconds(), start = now_s();
    long i = 0, late = 0;
    while (i < total && now_s() < deadline) {
        uint64_t due;
        if (read(tfd, &due, sizeof due) != sizeof due) die("timerfd: %s", strerror(errno));
        if (due > 1) late += (long)due - 1;
        for (; due > 0 && i < total; due--, i++) {
            d.sent_ns[i] = now_ns();
            if (send_one(rk, o->topic, RD_KAFKA_PARTITION_UA, value, o->size, (intptr_t)i, deadline)) {
                d.latency_ns[i] = -1;
                d.failed++;
            }
        }
        rd_kafka_poll(rk, 0);
    }
    double send_secs = now_s() - start;
    int left_ms = (int)((deadline - now_s()) * 1000);
    rd_kafka_flush(rk, left_ms > 0 ? left_ms : 0);
    double cpu = cpu_seconds() - cpu0;
    close(tfd);
    long samples = 0;
    for (long k = warm; k < i; k++)
        if (d.latency_ns[k] > 0) d.latency_ns[samples++] = d.latency_ns[k];
    qsort(d.latency_ns, (size_t)samples, sizeof(int64_t), compare_ns);
    double pct[4] = {0.50, 0.99, 0.999, 1.0}, us[4] = {0};
    for (int p = 0; p < 4 && samples > 0; p++) {
        long k = (long)(pct[p] * (double)samples + 0.5) - 1; /* nearest rank */
        if (k < 0) k = 0;
        if (k >= samples) k = samples - 1;
        us[p] = (double)d.latency_ns[k] / 1e3;
    }
    int ok = i == total && d.failed == 0;
    printf("ok=%d samples=%ld failed=%ld late=%ld rate=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f "
           "max_us=%.0f cpu_s=%.2f\n",
           ok, samples, d.failed, late, (double)i / send_secs, us[0], us[1], us[2], us[3], cpu);
    rd_kafka_destroy(rk);
    free(d.sent_ns);
    free(d.latency_ns);
    free(value);
    if (!ok) exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: rdkafka-bench create|produce|consume|latency [flags]");
    struct opts o = {.brokers = "127.0.0.1:9092", .topic = "bench", .records = 1000000,
                     .size = 1024, .partitions = 1, .rate = 2000, .linger_s = 0.005,
                     .timeout_s = 300, .duration_s = 20, .warmup_s = 1};
    parse(argc - 2, argv + 2, &o);
    const char *cmd = argv[1];
    if (strcmp(cmd, "create") == 0) create(&o);
    else if (strcmp(cmd, "produce") == 0) produce(&o);
    else if (strcmp(cmd, "consume") == 0) consume(&o);
    else if (strcmp(cmd, "latency") == 0) latency(&o);
    else die("unknown subcommand %s (conns is the Go client's)", cmd);
    return 0;
}
