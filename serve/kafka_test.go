package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trailhound/trailhound/syncbuf"
)

const testTopic = "cloudtrail"

// newKafka starts a kfake cluster with the test topic in parts partitions.
func newKafka(t *testing.T, parts int32) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, testTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// produce writes values to the topic, value i to partition i%parts.
func produce(t *testing.T, c *kfake.Cluster, parts int32, values ...[]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(900<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i, v := range values {
		recs = append(recs, &kgo.Record{Topic: testTopic, Partition: int32(i) % parts, Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// committed is the group's committed offset per partition.
func committed(t *testing.T, c *kfake.Cluster, group string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = testTopic
	rt.Partitions = []int32{0, 1}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out
}

// The samples consumed from Kafka (one message per file, over two
// partitions) give hunt's alerts; offsets are committed past the messages
// whose records are decided, not past the one whose window is open; a
// restart consumes from there and indexes nothing twice.
func TestKafkaServeMatchesHunt(t *testing.T) {
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	c := newKafka(t, 2)
	values := append(sampleBodies(t), []byte(sentinel)) // the 4th: partition 1, offset 1
	produce(t, c, 2, values...)

	dir := t.TempDir()
	es := newFakeES(t)
	k := &KafkaInput{Brokers: c.ListenAddrs(), Topic: testTopic, Group: "th", Log: testLog(t)}
	h := startHTTP(t, dir, es, k)
	waitFor(t, 20*time.Second, "hunt's alerts in Elasticsearch", func() bool { return slices.Equal(es.ids(), want) })
	waitFor(t, 30*time.Second, "the offsets of the decided messages", func() bool {
		return committed(t, c, "th")[0] == 2
	})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, c, "th"); got[0] != 2 || got[1] != 1 {
		t.Errorf("committed offsets %v, want partition 0 at 2 and 1 at 1 (the sentinel's window is open)", got)
	}
	if got := jsonlIDs(t, h.out); !slices.Equal(got, want) {
		t.Errorf("JSON Lines ids\n got %v\nwant %v", got, want)
	}
	k2 := &KafkaInput{Brokers: c.ListenAddrs(), Topic: testTopic, Group: "th", Log: testLog(t)}
	h = startHTTP(t, dir, es, k2)
	waitFor(t, 30*time.Second, "the sentinel consumed again", func() bool {
		mfs, _ := h.m.Registry.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "trailhound_input_batches_total" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "kafka" && m.GetCounter().GetValue() >= 1 {
						return true
					}
				}
			}
		}
		return false
	})
	time.Sleep(200 * time.Millisecond)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	for id, n := range es.writes {
		if n != 1 {
			t.Errorf("alert %s indexed %d times", id, n)
		}
	}
}

// The Kafka sink, behind its outbox, produces each alert keyed by its id.
func TestKafkaSink(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "alerts"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg, err := ParseConfig("c.yaml", []byte("sinks:\n  - {type: kafka, brokers: ["+c.ListenAddrs()[0]+"], topic: alerts}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Outbox = t.TempDir()
	outs, err := cfg.OpenOutputs(nil, NewMetrics(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	as := testAlerts("q", 5)
	if err := outs[0].Deliverer.Deliver(context.Background(), as); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("alerts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < len(as) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var a struct{ ID string }
			if err := json.Unmarshal(r.Value, &a); err != nil || a.ID != string(r.Key) {
				t.Errorf("record key %q value %.100s: %v", r.Key, r.Value, err)
			}
			got = append(got, string(r.Key))
		})
	}
	if !slices.Equal(got, []string{"q-000", "q-001", "q-002", "q-003", "q-004"}) {
		t.Errorf("produced %v", got)
	}
	outs[0].Deliverer.Close(context.Background())
}

// The Kafka client's own lines reach the service's log at their level: at
// info, the group's joining and the partitions assigned (against kfake);
// at warn, a broker that cannot be reached, and none of the info lines.
func TestKafkaClientLogs(t *testing.T) {
	c := newKafka(t, 1)
	consume := func(brokers []string, level slog.Level, until func(string) bool) string {
		var buf syncbuf.Buffer
		in := &KafkaInput{Brokers: brokers, Topic: testTopic, Group: "logs", Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			in.Run(ctx, func(*Batch) error { return nil })
		}()
		for deadline := time.Now().Add(20 * time.Second); !until(buf.String()) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		in.Close()
		return buf.String()
	}
	joined := func(s string) bool { return strings.Contains(s, "kafka: assigning partitions") }
	if out := consume(c.ListenAddrs(), slog.LevelInfo, joined); !joined(out) || !strings.Contains(out, "level=INFO") {
		t.Errorf("at info, no group join in the log:\n%s", out)
	}
	// a port nothing listens on
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	failed := func(s string) bool { return strings.Contains(s, "level=WARN msg=\"kafka: ") }
	out := consume([]string{closed}, slog.LevelWarn, failed)
	if !failed(out) || strings.Contains(out, "level=INFO") {
		t.Errorf("at warn, want the client's warnings only:\n%s", out)
	}
}
