// bench/client-bench/main.go -- the non-JVM client of bench/client-compare.sh: a small franz-go
// (github.com/twmb/franz-go/pkg/kgo) program that drives one broker and prints one result line.
//
// What this program owns: the client side of every measurement in bench/client-compare.sh, with
// the same client settings against every broker. Subcommands (all flags have defaults; -h lists):
//
//	create   -brokers B -topic T -partitions P       CreateTopics (replication factor 1), waits
//	                                                 until every partition has a leader
//	produce  -brokers B -topic T -records N -size S   idempotent producer (acks=all), N records of S
//	                                                 random bytes, as fast as the client goes
//	                                                 (-partitioner sticky|roundrobin)
//	consume  -brokers B -topic T -records N          read N records of partition 0 from offset 0
//	latency  -brokers B -topic T -rate R -duration D  idempotent acks=all producer at R records/s,
//	                                                 linger 0; ack latency percentiles (sorted
//	                                                 samples, microseconds)
//	conns    -addr A -n N -ready-file F -hold D      N plain TCP connections, one ApiVersions v0
//	                                                 request answered on each, then held idle
//	                                                 until SIGTERM or -hold; writes F when all up
//
// Output: one line of key=value pairs on stdout (ok=1 when the measurement is complete), errors on
// stderr. Every run is bounded by -timeout (or -hold). MiB = 2^20 bytes; MiB/s counts record
// value bytes, as Kafka's perf tools do. cpu_s is this process's user+system CPU time over the
// measured interval (getrusage), so cpu_s/seconds says how busy the client itself was.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "client-bench: "+format+"\n", args...)
	os.Exit(1)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func main() {
	if len(os.Args) < 2 {
		die("usage: client-bench create|produce|consume|latency|conns [flags]")
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap host:port")
	topic := fs.String("topic", "bench", "topic")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on the whole run")
	switch cmd {
	case "create":
		parts := fs.Int("partitions", 1, "partitions")
		fs.Parse(args)
		create(*brokers, *topic, int32(*parts), *timeout)
	case "produce":
		records := fs.Int("records", 1000000, "records to produce")
		size := fs.Int("size", 1024, "value bytes per record")
		linger := fs.Duration("linger", 5*time.Millisecond, "producer linger")
		batch := fs.Int("batch-max-bytes", 1000012, "max record batch bytes (franz-go's default)")
		buffered := fs.Int("max-buffered", 50000, "max buffered records (franz-go's default)")
		part := fs.String("partitioner", "sticky", "sticky (franz-go's default: switch every 64 KiB) or roundrobin")
		fs.Parse(args)
		var pt kgo.Partitioner
		switch *part {
		case "sticky":
			pt = kgo.UniformBytesPartitioner(64<<10, true, true, nil)
		case "roundrobin":
			pt = kgo.RoundRobinPartitioner()
		default:
			die("unknown partitioner %q", *part)
		}
		produce(*brokers, *topic, *records, *size, *linger, int32(*batch), *buffered, pt, *timeout)
	case "consume":
		records := fs.Int("records", 1000000, "records to consume")
		partBytes := fs.Int("fetch-partition-bytes", 1<<20, "max bytes per partition per fetch")
		fs.Parse(args)
		consume(*brokers, *topic, *records, int32(*partBytes), *timeout)
	case "latency":
		rate := fs.Int("rate", 2000, "records per second")
		dur := fs.Duration("duration", 20*time.Second, "measured duration")
		warm := fs.Duration("warmup", time.Second, "unmeasured lead-in at the same rate")
		size := fs.Int("size", 1024, "value bytes per record")
		fs.Parse(args)
		latency(*brokers, *topic, *rate, *dur, *warm, *size, *timeout)
	case "conns":
		addr := fs.String("addr", "127.0.0.1:9092", "broker host:port")
		n := fs.Int("n", 10000, "connections")
		workers := fs.Int("workers", 32, "connections opened concurrently")
		ready := fs.String("ready-file", "", "written (count of open connections) once all are up")
		hold := fs.Duration("hold", 60*time.Second, "hold the connections at most this long")
		fs.Parse(args)
		conns(*addr, *n, *workers, *ready, *hold, *timeout)
	default:
		die("unknown subcommand %q", cmd)
	}
}

func newClient(brokers string, opts ...kgo.Opt) *kgo.Client {
	base := []kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ClientID("client-bench")}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		die("client: %v", err)
	}
	return cl
}

func create(brokers, topic string, parts int32, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl := newClient(brokers)
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, parts, 1
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 60000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		die("create %s: %v", topic, err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 && rt.ErrorCode != 36 { // 36: TOPIC_ALREADY_EXISTS
			die("create %s: error code %d", topic, rt.ErrorCode)
		}
	}
	for { // until every partition has a leader
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		mreq.Topics = append(mreq.Topics, mt)
		mresp, err := mreq.RequestWith(ctx, cl)
		if err == nil && len(mresp.Topics) == 1 && mresp.Topics[0].ErrorCode == 0 &&
			int32(len(mresp.Topics[0].Partitions)) == parts {
			led := 0
			for _, p := range mresp.Topics[0].Partitions {
				if p.ErrorCode == 0 && p.Leader >= 0 {
					led++
				}
			}
			if int32(led) == parts {
				break
			}
		}
		if ctx.Err() != nil {
			die("create %s: partitions without a leader after %v", topic, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("ok=1 topic=%s partitions=%d\n", topic, parts)
}

func produce(brokers, topic string, n, size int, linger time.Duration, batch int32, buffered int, pt kgo.Partitioner, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl := newClient(brokers, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(linger), kgo.ProducerBatchMaxBytes(batch), kgo.MaxBufferedRecords(buffered),
		kgo.RecordPartitioner(pt), kgo.ProduceRequestTimeout(30*time.Second), kgo.RecordDeliveryTimeout(timeout))
	defer cl.Close()
	val := make([]byte, size)
	rand.Read(val)
	// One acknowledged record first (not measured): connection, metadata, producer id.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
		die("warm-up produce: %v", err)
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	cb := func(_ *kgo.Record, err error) {
		if err != nil {
			if failed.Add(1) == 1 {
				firstErr.Store(err.Error())
			}
		}
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	sent := 0
	for ; sent < n && ctx.Err() == nil; sent++ {
		cl.Produce(ctx, &kgo.Record{Value: val}, cb)
	}
	ferr := cl.Flush(ctx)
	secs, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	nf := failed.Load()
	ok := ferr == nil && nf == 0 && sent == n
	bytes := float64(n-int(nf)) * float64(size)
	fmt.Printf("ok=%d records=%d failed=%d bytes=%.0f seconds=%.3f mibps=%.2f recps=%.0f cpu_s=%.2f",
		b2i(ok), sent, nf, bytes, secs, bytes/secs/(1<<20), float64(sent-int(nf))/secs, cpu)
	if !ok {
		e, _ := firstErr.Load().(string)
		fmt.Printf(" error=%q", fmt.Sprint(ferr, " ", e))
	}
	fmt.Println()
	if !ok {
		os.Exit(2)
	}
}

func consume(brokers, topic string, n int, partBytes int32, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl := newClient(brokers, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}), kgo.FetchMaxPartitionBytes(partBytes))
	defer cl.Close()
	cpu0, t0 := cpuSeconds(), time.Now()
	got, bytes := 0, 0
	var fetchErr error
	for got < n && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && fetchErr == nil {
				fetchErr = err
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			bytes += len(r.Value) + len(r.Key)
		})
	}
	secs, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	ok := got >= n
	fmt.Printf("ok=%d records=%d bytes=%d seconds=%.3f mibps=%.2f cpu_s=%.2f", b2i(ok), got, bytes, secs,
		float64(bytes)/secs/(1<<20), cpu)
	if fetchErr != nil {
		fmt.Printf(" error=%q", fetchErr.Error())
	}
	fmt.Println()
	if !ok {
		os.Exit(2)
	}
}

func latency(brokers, topic string, rate int, dur, warm time.Duration, size int, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl := newClient(brokers, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(timeout))
	defer cl.Close()
	val := make([]byte, size)
	rand.Read(val)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
		die("warm-up produce: %v", err)
	}
	interval := time.Second / time.Duration(rate)
	nWarm := int(warm / interval)
	total := nWarm + int(dur/interval)
	lat := make([]int64, total) // nanoseconds, -1 = failed
	var failed atomic.Int64
	var wg sync.WaitGroup
	tick, err := newTicker(interval)
	if err != nil {
		die("timerfd: %v", err)
	}
	defer tick.Close()
	cpu0, start := cpuSeconds(), time.Now()
	late := 0
	i := 0
	for i < total && ctx.Err() == nil {
		due, err := tick.wait()
		if err != nil {
			die("timerfd: %v", err)
		}
		if due > 1 {
			late += int(due) - 1
		}
		for ; due > 0 && i < total; due-- {
			idx, t := i, time.Now()
			i++
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					lat[idx] = -1
				} else {
					lat[idx] = int64(time.Since(t))
				}
				wg.Done()
			})
		}
	}
	sendSecs := time.Since(start).Seconds()
	wg.Wait()
	cpu := cpuSeconds() - cpu0
	samples := make([]int64, 0, total)
	for _, v := range lat[nWarm:i] {
		if v > 0 {
			samples = append(samples, v)
		}
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	pct := func(p float64) float64 {
		if len(samples) == 0 {
			return 0
		}
		k := int(p*float64(len(samples))+0.5) - 1 // nearest rank
		if k < 0 {
			k = 0
		}
		if k >= len(samples) {
			k = len(samples) - 1
		}
		return float64(samples[k]) / 1e3
	}
	ok := i == total && failed.Load() == 0
	fmt.Printf("ok=%d samples=%d failed=%d late=%d rate=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f cpu_s=%.2f\n",
		b2i(ok), len(samples), failed.Load(), late, float64(i)/sendSecs, pct(0.50), pct(0.99), pct(0.999), pct(1), cpu)
	if !ok {
		os.Exit(2)
	}
}

// ticker is a periodic timerfd read through Go's poller: it wakes within microseconds of each
// period, where time.Sleep and time.Ticker round waits below 1 ms up to the poller's 1 ms
// resolution (measured here: a 500 µs Sleep took 1.13 ms at the median), and unlike a blocking
// nanosleep it parks only the goroutine.
type ticker struct{ f *os.File }

func newTicker(period time.Duration) (*ticker, error) {
	const tfdNonblock, tfdCloexec = 0o4000, 0o2000000
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, 1 /* CLOCK_MONOTONIC */, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return nil, errno
	}
	ts := syscall.NsecToTimespec(int64(period))
	spec := [2]syscall.Timespec{ts, ts} // it_interval, it_value
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		syscall.Close(int(fd))
		return nil, errno
	}
	return &ticker{os.NewFile(fd, "timerfd")}, nil
}

// wait blocks until the next period and returns how many periods have passed (> 1: late).
func (t *ticker) wait() (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(t.f, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (t *ticker) Close() error { return t.f.Close() }

// apiVersionsV0 is a whole ApiVersions v0 request frame: size, api key 18, version 0, correlation
// id, null client id.
func apiVersionsV0(corr int32) []byte {
	b := make([]byte, 14)
	binary.BigEndian.PutUint32(b[0:], 10)
	binary.BigEndian.PutUint16(b[4:], 18)
	binary.BigEndian.PutUint16(b[6:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(corr))
	binary.BigEndian.PutUint16(b[12:], 0xffff)
	return b
}

func conns(addr string, n, workers int, readyFile string, hold, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	open := make([]net.Conn, n)
	var failed atomic.Int64
	var firstErr atomic.Value
	next := atomic.Int64{}
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || time.Now().After(deadline) {
					return
				}
				err := func() error {
					c, err := net.DialTimeout("tcp", addr, 10*time.Second)
					if err != nil {
						return err
					}
					c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := c.Write(apiVersionsV0(int32(i))); err != nil {
						c.Close()
						return err
					}
					var hdr [8]byte
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						c.Close()
						return err
					}
					size := binary.BigEndian.Uint32(hdr[0:])
					if corr := int32(binary.BigEndian.Uint32(hdr[4:])); corr != int32(i) || size < 4 || size > 1<<20 {
						c.Close()
						return fmt.Errorf("bad ApiVersions answer (size %d, correlation %d)", size, corr)
					}
					if _, err := io.CopyN(io.Discard, c, int64(size-4)); err != nil {
						c.Close()
						return err
					}
					c.SetDeadline(time.Time{})
					open[i] = c
					return nil
				}()
				if err != nil && failed.Add(1) == 1 {
					firstErr.Store(err.Error())
				}
			}
		}()
	}
	wg.Wait()
	up := 0
	for _, c := range open {
		if c != nil {
			up++
		}
	}
	openSecs := time.Since(t0).Seconds()
	if readyFile != "" {
		os.WriteFile(readyFile+".tmp", []byte(fmt.Sprintln(up)), 0o644)
		os.Rename(readyFile+".tmp", readyFile)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	held := "timeout"
	select {
	case <-sig:
		held = "signal"
	case <-time.After(hold):
	}
	// Were they all still open? A non-blocking MSG_PEEK says EAGAIN on an open idle connection
	// and 0 bytes (EOF) or an error on one the broker closed.
	alive := 0
	for _, c := range open {
		if c == nil {
			continue
		}
		if raw, err := c.(*net.TCPConn).SyscallConn(); err == nil {
			var one [1]byte
			raw.Control(func(fd uintptr) {
				_, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
				if err == syscall.EAGAIN {
					alive++
				}
			})
		}
		c.Close()
	}
	ok := up == n && alive == n
	fmt.Printf("ok=%d open=%d failed=%d alive_at_end=%d open_seconds=%.2f ended_by=%s", b2i(ok), up,
		failed.Load(), alive, openSecs, held)
	if e, _ := firstErr.Load().(string); e != "" {
		fmt.Printf(" error=%q", e)
	}
	fmt.Println()
	if !ok {
		os.Exit(2)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
