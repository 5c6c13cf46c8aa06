package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trailhound/trailhound/state"
	"github.com/trailhound/trailhound/state/redistest"
)

// instance is one `serve` of a scale-out test: a Kafka consumer in the
// shared group, the shared Redis state, a JSON Lines file of its own.
type instance struct {
	m      *Metrics
	out    string
	cancel context.CancelFunc
	done   chan error
}

func startInstance(t *testing.T, name, redisURL string, brokers []string) *instance {
	t.Helper()
	st, err := state.OpenRedis(context.Background(), redisURL)
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{m: NewMetrics(), out: filepath.Join(t.TempDir(), name+".jsonl"), done: make(chan error, 1)}
	file, err := OpenFileSink("jsonl", in.out, nil, in.m)
	if err != nil {
		t.Fatal(err)
	}
	// the range balancer: of three partitions the first member gets 0 and 1,
	// the second 2 (the default, cooperative-sticky, may give either)
	k := &KafkaInput{Brokers: brokers, Topic: testTopic, Group: "scale", Log: testLog(t).With("instance", name),
		Opts: []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() {
		err := Run(ctx, Options{Engine: builtinEngine(t), Store: st, Inputs: []Input{k}, Outputs: []*Output{{Name: "jsonl", Deliverer: file}},
			Lateness: lateness, Interval: 20 * time.Millisecond, Workers: 1, Metrics: in.m, Log: testLog(t).With("instance", name), Grace: 5 * time.Second, Now: farClock})
		st.Close()
		in.done <- err
	}()
	t.Cleanup(func() { in.stop(t) })
	return in
}

func (in *instance) stop(t *testing.T) {
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
		in.done <- nil // stopped: a second stop returns at once
	case <-time.After(20 * time.Second):
		t.Error("serve did not stop")
	}
}

// checkpoints is how many commits the instance made.
func (in *instance) checkpoints() float64 { return testutil.ToFloat64(in.m.Checkpoints) }

// sampleRecords are the records of the shipped samples, each as it is.
func sampleRecords(t *testing.T) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, f := range sampleFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		var file struct{ Records []json.RawMessage }
		if json.Unmarshal(data, &file) == nil && len(file.Records) > 0 {
			out = append(out, file.Records...)
			continue
		}
		var arr []json.RawMessage
		if json.Unmarshal(data, &arr) == nil {
			out = append(out, arr...)
			continue
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				out = append(out, json.RawMessage(l))
			}
		}
	}
	return out
}

// principal is the key the docs advise: the identity that made the call.
func principal(rec json.RawMessage) string {
	var r struct {
		UserIdentity struct{ ARN string } `json:"userIdentity"`
	}
	json.Unmarshal(rec, &r)
	return r.UserIdentity.ARN
}

// stableGroup waits until the consumer group has members each holding
// partitions.
func stableGroup(t *testing.T, brokers []string, group string, members int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d members holding partitions in group %s", members, group), func() bool {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil || len(resp.Groups) != 1 {
			return false
		}
		g := resp.Groups[0]
		if g.State != "Stable" || len(g.Members) != members {
			return false
		}
		for _, m := range g.Members {
			var a kmsg.ConsumerMemberAssignment
			if a.ReadFrom(m.MemberAssignment) != nil || len(a.Topics) == 0 || len(a.Topics[0].Partitions) == 0 {
				return false
			}
		}
		return true
	})
}

// withTime is rec with another eventID and eventTime.
func withTime(t *testing.T, rec json.RawMessage, id string, at time.Time) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatal(err)
	}
	m["eventID"], m["eventTime"] = id, at.UTC().Format(time.RFC3339)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Two serve instances in one Kafka consumer group (three partitions),
// sharing their state through one Redis, deliver together exactly hunt's
// alerts over the same records, none of them twice. The samples are keyed
// by principal (userIdentity.arn), as docs/serve.md advises: mallory's
// records hash to partition 2, ci-deploy's to 0, so each instance has one
// principal. Then mallory's GetCallerIdentity comes again, later, once on
// each partition: the instance that had not seen mallory learned from
// Redis that the term is not new, so neither raises the new_terms alert
// again (as hunt does not). Without that learning the test fails.
func TestScaleOutKafkaRedis(t *testing.T) {
	srv := redistest.Start(t)
	const parts = 3
	c := newKafka(t, parts)
	brokers := c.ListenAddrs()
	eng := builtinEngine(t)
	recs := sampleRecords(t)

	a := startInstance(t, "a", srv.URL(0), brokers)
	b := startInstance(t, "b", srv.URL(0), brokers)
	stableGroup(t, brokers, "scale", 2)

	keyed, err := kgo.NewClient(kgo.SeedBrokers(brokers...)) // the default partitioner: by key hash
	if err != nil {
		t.Fatal(err)
	}
	defer keyed.Close()
	manual, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	ctx := context.Background()
	var sentinelRec json.RawMessage = []byte(sentinel)
	toBoth := func(rec func(p int32) json.RawMessage) {
		t.Helper()
		var rs []*kgo.Record
		for p := range int32(parts) {
			rs = append(rs, &kgo.Record{Topic: testTopic, Partition: p, Value: rec(p)})
		}
		if err := manual.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// first a record before the samples on both partitions: both instances
	// start their watermarks, and so load every rule's state, before the
	// other can have saved anything
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	toBoth(func(p int32) json.RawMessage {
		return withTime(t, sentinelRec, fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", p), start)
	})
	waitFor(t, 30*time.Second, "both instances advancing", func() bool {
		return testutil.ToFloat64(a.m.Watermark) > 0 && testutil.ToFloat64(b.m.Watermark) > 0
	})
	ca, cb := a.checkpoints(), b.checkpoints()
	waitFor(t, 30*time.Second, "a checkpoint on each instance", func() bool { return a.checkpoints() > ca && b.checkpoints() > cb })

	var msgs []*kgo.Record
	for _, r := range recs {
		msgs = append(msgs, &kgo.Record{Topic: testTopic, Key: []byte(principal(r)), Value: r})
	}
	if err := keyed.ProduceSync(ctx, msgs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// event time moves on past every window of the samples, on both partitions
	sentinel1 := time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
	toBoth(func(p int32) json.RawMessage {
		return withTime(t, sentinelRec, fmt.Sprintf("00000000-0000-4000-8000-00000000001%d", p), sentinel1)
	})

	dir := t.TempDir()
	var phase1 bytes.Buffer
	for _, r := range recs {
		phase1.Write(r)
		phase1.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "phase1.jsonl"), phase1.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	want := huntIDs(t, eng, filepath.Join(dir, "phase1.jsonl"))
	union := func() []string { // every delivery: an id twice is there twice
		ids := append(linesIDs(t, a.out), linesIDs(t, b.out)...)
		sort.Strings(ids)
		return ids
	}
	waitFor(t, 30*time.Second, "hunt's alerts from the two instances", func() bool { return slices.Equal(union(), want) })

	// mallory's first GetCallerIdentity is in Redis, and both instances
	// committed (and so read the others' changes) twice since
	const ruleID = "30fbf4db-c502-4e68-a239-2e99af0f70da"
	const mallory = "arn:aws:iam::210987654321:user/mallory.ops"
	var call json.RawMessage
	for _, r := range recs {
		if principal(r) == mallory && strings.Contains(string(r), `"GetCallerIdentity"`) {
			call = r
		}
	}
	if call == nil {
		t.Fatal("no GetCallerIdentity of mallory in the samples")
	}
	reader, err := state.OpenRedis(ctx, srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	waitFor(t, 30*time.Second, "mallory's term in Redis", func() bool {
		r, err := reader.Load(ruleID)
		return err == nil && r.Terms[mallory] != 0
	})
	ca, cb = a.checkpoints(), b.checkpoints()
	waitFor(t, 30*time.Second, "two more checkpoints on each instance", func() bool { return a.checkpoints() >= ca+2 && b.checkpoints() >= cb+2 })
	if got := testutil.ToFloat64(a.m.Records.WithLabelValues("kafka")); got < parts {
		t.Errorf("instance a read %v records, none of the samples: the principals did not split", got)
	}
	if got := testutil.ToFloat64(b.m.Records.WithLabelValues("kafka")); got < parts {
		t.Errorf("instance b read %v records, none of the samples: the principals did not split", got)
	}
	recA, recB := testutil.ToFloat64(a.m.Records.WithLabelValues("kafka")), testutil.ToFloat64(b.m.Records.WithLabelValues("kafka"))

	// phase 2: the call again, a day later, once on each partition
	again := sentinel1.Add(time.Hour)
	var phase2 bytes.Buffer
	toBoth(func(p int32) json.RawMessage {
		r := withTime(t, call, fmt.Sprintf("6f0c1c2e-0000-4000-8000-00000000002%d", p), again)
		phase2.Write(r)
		phase2.WriteByte('\n')
		return r
	})
	sentinel2 := sentinel1.Add(4 * 24 * time.Hour)
	toBoth(func(p int32) json.RawMessage {
		return withTime(t, sentinelRec, fmt.Sprintf("00000000-0000-4000-8000-00000000003%d", p), sentinel2)
	})
	if err := os.WriteFile(filepath.Join(dir, "phase2.jsonl"), phase2.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	want = huntIDs(t, eng, filepath.Join(dir, "phase1.jsonl"), filepath.Join(dir, "phase2.jsonl"))
	passed := float64(sentinel2.Add(-lateness).Unix())
	waitFor(t, 30*time.Second, "both watermarks past the second sentinel", func() bool {
		return testutil.ToFloat64(a.m.Watermark) >= passed && testutil.ToFloat64(b.m.Watermark) >= passed
	})
	ca, cb = a.checkpoints(), b.checkpoints()
	waitFor(t, 30*time.Second, "one more checkpoint on each instance", func() bool { return a.checkpoints() > ca && b.checkpoints() > cb })
	a.stop(t)
	b.stop(t)

	// phase 2 is a copy of the call and a sentinel per partition; the
	// instance with two partitions had not seen mallory
	gotA, gotB := testutil.ToFloat64(a.m.Records.WithLabelValues("kafka"))-recA, testutil.ToFloat64(b.m.Records.WithLabelValues("kafka"))-recB
	if gotA+gotB != 2*parts || min(gotA, gotB) < 2 {
		t.Errorf("in phase 2 instance a read %v records, b %v; want %d in all, at least 2 each", gotA, gotB, 2*parts)
	}
	idsA, idsB := linesIDs(t, a.out), linesIDs(t, b.out)
	if got := union(); !slices.Equal(got, want) {
		t.Errorf("the two instances delivered\n %v\nhunt raised\n %v", got, want)
	}
	for _, id := range idsA {
		if slices.Contains(idsB, id) {
			t.Errorf("alert %s delivered by both instances", id)
		}
	}
	t.Logf("instance a delivered %d alerts, b %d; hunt %d", len(idsA), len(idsB), len(want))
}
