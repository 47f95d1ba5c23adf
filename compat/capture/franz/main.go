// franz-go workload for the golden-vector capture (compat/capture/capture.sh).
//
// Usage: go run . BOOTSTRAP TOPIC GROUP
// Creates TOPIC (CreateTopics through kmsg), produces a few keyed records with a header
// (idempotent by default in franz-go, acks=all, no compression), then consumes them in a
// classic consumer group (subscribe, synchronous commit).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const records = 3

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func version(mod string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == mod {
				return d.Version
			}
		}
	}
	return "unknown"
}

func main() {
	if len(os.Args) != 4 {
		die("usage: %s BOOTSTRAP TOPIC GROUP", os.Args[0])
	}
	bootstrap, topic, group := os.Args[1], os.Args[2], os.Args[3]
	fmt.Fprintf(os.Stderr, "client: franz-go %s (kmsg %s)\n",
		version("github.com/twmb/franz-go"), version("github.com/twmb/franz-go/pkg/kmsg"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Admin + producer client.
	pc, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID("runnel-capture-franz-producer"),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	if err != nil {
		die("client: %v", err)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = 1
	rt.ReplicationFactor = 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, pc)
	if err != nil {
		die("create topics: %v", err)
	}
	for _, t := range resp.Topics {
		if e := kerr.ErrorForCode(t.ErrorCode); e != nil && e != kerr.TopicAlreadyExists {
			die("create topic %s: %v", t.Topic, e)
		}
	}
	for i := 0; i < records; i++ {
		r := &kgo.Record{
			Key:     []byte(fmt.Sprintf("key-%d", i)),
			Value:   []byte(fmt.Sprintf("value-%d", i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprintf("hv-%d", i))}},
		}
		pc.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				die("produce: %v", err)
			}
		})
	}
	if err := pc.Flush(ctx); err != nil {
		die("flush: %v", err)
	}
	pc.Close()

	// Consumer group client.
	cc, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID("runnel-capture-franz-consumer"),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.SessionTimeout(10*time.Second),
	)
	if err != nil {
		die("client: %v", err)
	}
	got := 0
	for got < records {
		fs := cc.PollFetches(ctx)
		if ctx.Err() != nil {
			die("timed out with %d records", got)
		}
		fs.EachError(func(t string, p int32, err error) {
			fmt.Fprintf(os.Stderr, "  fetch error %s[%d]: %v\n", t, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			got++
			fmt.Fprintf(os.Stderr, "  %s@%d %s=%s headers=%d\n", r.Topic, r.Offset, r.Key, r.Value, len(r.Headers))
		})
	}
	if err := cc.CommitUncommittedOffsets(ctx); err != nil {
		die("commit: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // let a few heartbeats happen
	cc.LeaveGroup()
	cc.Close()
	fmt.Fprintln(os.Stderr, "franz-go client done")
}
