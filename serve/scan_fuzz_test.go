package serve

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detect"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/hunt"
	"github.com/trailhound/trailhound/state"
)

// alerting is a record the built-in rules match (a role assumed from a
// new user: GetCallerIdentity is the built-in new_terms rule's event).
const alerting = `{"eventVersion":"1.08","eventTime":"2026-11-03T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","eventID":"fuzz-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/fuzz","accountId":"1"},"sourceIPAddress":"198.51.100.7","awsRegion":"us-east-1","recipientAccountId":"1"}`

// FuzzScanBatch: a body or message that holds an alerting record on its
// own line, followed by arbitrary bytes (plain, gzip, or gzip cut short
// anywhere after the record), still has the record matched; whatever the
// bytes, every problem reported names the batch, and nothing panics. The
// parser refuses event times past a bound (serve's max_future), so
// records from the future among the bytes take that path too.
func FuzzScanBatch(f *testing.F) {
	for _, s := range []string{"", "{", "{\"a\":", "[", "]", "\x00\xff", "{\"Records\":[", "\"", "{}\n{\"eventTime\":5}", strings.Repeat("[", 20000), "\x1f\x8b",
		`{"eventTime":"2099-01-01T00:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userIdentity":{"arn":"x"}}`} {
		f.Add([]byte(s), uint8(0), uint16(0))
		f.Add([]byte(s), uint8(1), uint16(0))
		f.Add([]byte(s), uint8(2), uint16(3))
	}
	eng := builtinEngine(f)
	want := matchesOf(f, eng, []byte(alerting+"\n"))
	if want == 0 {
		f.Fatal("the alerting record matches no built-in rule")
	}
	f.Fuzz(func(t *testing.T, garbage []byte, mode uint8, cut uint16) {
		plain := append([]byte(alerting+"\n"), garbage...)
		body := plain
		switch mode % 3 {
		case 1:
			body = gz(t, plain)
		case 2: // gzip cut short anywhere after the record was flushed
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write([]byte(alerting + "\n"))
			zw.Flush()
			flushed := buf.Len()
			zw.Write(garbage)
			zw.Close()
			body = buf.Bytes()[:flushed+int(cut)%(buf.Len()-flushed+1)]
		}
		if got := matchesOf(t, eng, body); got < want {
			t.Fatalf("mode %d: the alerting record beside %q matched %d rules, alone %d", mode%3, garbage, got, want)
		}
	})
}

// matchesOf scans body as a batch and returns the rule matches; every
// problem reported must name the batch.
func matchesOf(t testing.TB, eng *engine.Engine, body []byte) int64 {
	proc, err := detect.New(eng.Rules(), state.NewMemory(), detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := event.Parser{NotAfter: time.Date(2026, 11, 3, 10, 5, 0, 0, time.UTC)} // the alerting record's time and 5 minutes
	prog := &hunt.Progress{}
	sc := &hunt.Scanner{Engine: eng, Parser: &p, Scratch: engine.NewScratch(), Collector: proc.NewCollector(), Progress: prog,
		Errors: func(e hunt.InputError) {
			if !strings.HasPrefix(e.Error(), "fuzz:batch") {
				t.Errorf("problem not naming the batch: %v", e)
			}
		}}
	scanBatch(sc, "fuzz:batch", bytes.Clone(body), time.Now(), DefaultMaxDecompressed)
	return prog.Matches.Load()
}

// A gzip batch (a Kafka message, an S3 object) that decompresses to more
// than the bound: the records before the bound are read, the rest is not,
// and that is reported naming the batch and the bound.
func TestScanBatchDecompressedBound(t *testing.T) {
	eng := builtinEngine(t)
	alone := matchesOf(t, eng, []byte(alerting+"\n"))
	second := strings.Replace(alerting, "fuzz-1", "fuzz-2", 1)
	body := gz(t, []byte(alerting+"\n"+strings.Repeat(" ", 16<<20)+"\n"+second+"\n"))
	proc, err := detect.New(eng.Rules(), state.NewMemory(), detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	prog := &hunt.Progress{}
	sc := &hunt.Scanner{Engine: eng, Parser: &event.Parser{}, Scratch: engine.NewScratch(), Collector: proc.NewCollector(), Progress: prog,
		Errors: func(e hunt.InputError) { errs = append(errs, e.Error()) }}
	scanBatch(sc, "kafka:trail/0/7", body, time.Now(), 1<<20)
	if got := prog.Matches.Load(); got != alone {
		t.Errorf("%d matches, want the first record's %d alone", got, alone)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "kafka:trail/0/7") || !strings.Contains(errs[0], "more than 1048576 bytes decompressed (max_decompressed)") {
		t.Errorf("errors %q, want one naming the batch and the bound", errs)
	}
}
