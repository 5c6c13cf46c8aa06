package serve

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/rule"
)

func testAlerts(prefix string, n int) []alert.Alert {
	var as []alert.Alert
	for i := range n {
		a := alert.Alert{ID: fmt.Sprintf("%s-%03d", prefix, i), Time: time.Date(2026, 11, 3, 10, 0, i, 0, time.UTC)}
		a.Rule.Name, a.Rule.Severity = "test rule", "high"
		a.Record = json.RawMessage(`{"eventName":"X"}`)
		as = append(as, a)
	}
	return as
}

// restartable serves h on one address that can go down and come back.
type restartable struct {
	t    *testing.T
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func newRestartable(t *testing.T, h http.Handler) *restartable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &restartable{t: t, addr: ln.Addr().String(), h: h}
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *restartable) serve(ln net.Listener) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv = &http.Server{Handler: r.h}
	go r.srv.Serve(ln)
}

func (r *restartable) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

func (r *restartable) up() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.serve(ln)
}

// The bulk endpoint fails (500s, then 429s for whole requests, then 429s
// and a mapping error for single items), then is down, then recovers:
// every alert arrives exactly once except the one refused for its mapping,
// which is reported; retries are bounded by the backoff and counted.
func TestOutboxSurvivesOutage(t *testing.T) {
	es := &fakeES{t: t, docs: map[string]json.RawMessage{}, writes: map[string]int{}}
	es.status = func(n int) int {
		switch {
		case n <= 3:
			return 500
		case n <= 5:
			return 429
		}
		return 0
	}
	es.item = func(n int, id string) int {
		switch {
		case id == "a-007":
			return 400 // a mapping error: refused for good
		case n == 6 && id >= "a-010":
			return 429
		case n == 7 && id >= "a-015":
			return 503
		}
		return 0
	}
	srv := newRestartable(t, http.HandlerFunc(es.serve))
	m := NewMetrics()
	dir := t.TempDir()
	ob, err := OpenOutbox("es", dir, &Elasticsearch{URL: "http://" + srv.addr}, 0, m, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ob.MinBackoff, ob.MaxBackoff = 5*time.Millisecond, 40*time.Millisecond
	ctx := context.Background()
	if err := ob.Deliver(ctx, testAlerts("a", 20)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the failing phases", func() bool { es.mu.Lock(); defer es.mu.Unlock(); return es.requests >= 8 })
	srv.down()
	if err := ob.Deliver(ctx, testAlerts("b", 5)); err != nil { // durable while the sink is down
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if d := testutil.ToFloat64(m.OutboxDepth.WithLabelValues("es")); d < 5 {
		t.Errorf("outbox depth %v while down, want at least 5", d)
	}
	srv.up()
	var want []string
	for _, a := range append(testAlerts("a", 20), testAlerts("b", 5)...) {
		if a.ID != "a-007" {
			want = append(want, a.ID)
		}
	}
	waitFor(t, 30*time.Second, "every alert in the index", func() bool { return slices.Equal(es.ids(), want) })
	if err := ob.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for id, n := range es.writes {
		if n != 1 {
			t.Errorf("%s indexed %d times", id, n)
		}
	}
	retries := testutil.ToFloat64(m.SinkRetries.WithLabelValues("es"))
	if retries < 6 || retries > 100 {
		t.Errorf("%v retries counted, want the 7 failed requests and the time down (bounded)", retries)
	}
	if d := testutil.ToFloat64(m.SinkDropped.WithLabelValues("es")); d != 1 {
		t.Errorf("%v alerts dropped, want 1 (the mapping error)", d)
	}
	if d := testutil.ToFloat64(m.SinkAlerts.WithLabelValues("es")); d != 24 {
		t.Errorf("%v alerts counted delivered, want 24", d)
	}
	if d := testutil.ToFloat64(m.OutboxDepth.WithLabelValues("es")); d != 0 {
		t.Errorf("outbox depth %v at the end", d)
	}
}

// An outbox closed while its sink is down keeps the alerts on disk and a
// new one sends them; a full outbox makes Deliver wait.
func TestOutboxKeepsAcrossRestartAndBounds(t *testing.T) {
	var mu sync.Mutex
	var got []string
	up := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(503)
			return
		}
		var docs []struct{ ID string }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &docs); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		for _, d := range docs {
			got = append(got, d.ID)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	m := NewMetrics()
	ob, err := OpenOutbox("hook", dir, &Webhook{URL: srv.URL}, 3000, m, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ob.MinBackoff, ob.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	if err := ob.Deliver(context.Background(), testAlerts("x", 3)); err != nil {
		t.Fatal(err)
	}
	// over the bound: waits, and gives up with the context
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err = ob.Deliver(ctx, testAlerts("y", 30))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Deliver to a full outbox: %v, want a deadline error", err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	ob.Close(cctx)
	cancel()
	mu.Lock()
	up = true
	mu.Unlock()
	ob, err = OpenOutbox("hook", dir, &Webhook{URL: srv.URL}, 3000, m, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the alerts left at the stop", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	ob.Close(context.Background())
	if !slices.Equal(got, []string{"x-000", "x-001", "x-002"}) {
		t.Errorf("got %v", got)
	}
}

// The webhook signs its body with HMAC-SHA256 and refuses for good on a
// client error.
func TestWebhookSignature(t *testing.T) {
	var sig, body string
	code := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sig, body = r.Header.Get(SignatureHeader), string(b)
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	wh := &Webhook{URL: srv.URL, Secret: "k3y"}
	it, err := wh.Encode(testAlerts("s", 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Send(context.Background(), []Item{it}); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte("k3y"))
	mac.Write([]byte(body))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(body), &arr); err != nil || len(arr) != 1 || arr[0]["id"] != "s-000" {
		t.Errorf("body %s: %v", body, err)
	}
	for _, tc := range []struct {
		code    int
		refused bool
	}{{400, true}, {404, true}, {429, false}, {500, false}, {408, false}} {
		code = tc.code
		err := wh.Send(context.Background(), []Item{it})
		var pe *PartialError
		if errors.As(err, &pe) != tc.refused || err == nil {
			t.Errorf("status %d: %v, want refused=%v", tc.code, err, tc.refused)
		}
	}
}

// Filters pick alerts by severity and tags.
func TestFilter(t *testing.T) {
	a := alert.Alert{}
	a.Rule.Severity, a.Rule.Tags = "medium", []string{"Domain: Cloud", "Tactic: Persistence"}
	for _, tc := range []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{MinSeverity: "low"}, true},
		{Filter{MinSeverity: "medium"}, true},
		{Filter{MinSeverity: "high"}, false},
		{Filter{Tags: []string{"Tactic: Persistence"}}, true},
		{Filter{Tags: []string{"Tactic: Discovery"}}, false},
		{Filter{MinSeverity: "low", Tags: []string{"x", "Domain: Cloud"}}, true},
	} {
		if got := tc.f.Match(a); got != tc.want {
			t.Errorf("%+v: %v", tc.f, got)
		}
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Error("urgent accepted as a severity")
	}
}

// Splunk HEC: the documented endpoint and header, one event object per
// alert with its time, sourcetype and the alert; 503 retried, 403 refused.
func TestSplunkHEC(t *testing.T) {
	var got []map[string]any
	code := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/services/collector/event" || r.Header.Get("Authorization") != "Splunk t0k" {
			t.Errorf("%s %s Authorization %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		dec := json.NewDecoder(r.Body)
		for dec.More() {
			var ev map[string]any
			if err := dec.Decode(&ev); err != nil {
				t.Errorf("HEC body: %v", err)
				break
			}
			got = append(got, ev)
		}
		w.WriteHeader(code)
		fmt.Fprint(w, `{"text":"Success","code":0}`)
	}))
	defer srv.Close()
	hec := &SplunkHEC{URL: srv.URL, Token: "t0k", Index: "sec"}
	var items []Item
	for _, a := range testAlerts("h", 2) {
		it, err := hec.Encode(a)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	if err := hec.Send(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d events", len(got))
	}
	ev := got[1]
	inner, _ := ev["event"].(map[string]any)
	if ev["sourcetype"] != "trailhound:alert" || ev["index"] != "sec" || ev["time"] != float64(time.Date(2026, 11, 3, 10, 0, 1, 0, time.UTC).Unix()) || inner["id"] != "h-001" {
		t.Errorf("event %v", ev)
	}
	code = 503
	if err := hec.Send(context.Background(), items); err == nil {
		t.Error("503 delivered")
	} else if _, ok := err.(*PartialError); ok {
		t.Error("503 refused for good, want a retry")
	}
	code = 403
	var pe *PartialError
	if err := hec.Send(context.Background(), items); !errors.As(err, &pe) || len(pe.Refused) != 2 {
		t.Errorf("403: %v, want both refused", err)
	}
}

// Slack: one incoming-webhook message per alert with the rule, severity,
// ATT&CK, actor and source, no links; after a 429 only the messages not
// posted are retried; a 400 refuses that one alert.
func TestSlack(t *testing.T) {
	var texts []string
	codes := []int{200, 429, 200, 400}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Text        string `json:"text"`
			UnfurlLinks *bool  `json:"unfurl_links"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.UnfurlLinks == nil || *m.UnfurlLinks {
			t.Errorf("message: %v %+v", err, m)
		}
		c := 200
		if n < len(codes) {
			c = codes[n]
		}
		n++
		if c == 200 {
			texts = append(texts, m.Text)
		}
		w.WriteHeader(c)
	}))
	defer srv.Close()
	sl := &Slack{URL: srv.URL}
	as := testAlerts("k", 3)
	as[0].Rule.Threat = []rule.Threat{{Framework: "MITRE ATT&CK", Tactic: rule.Ref{ID: "TA0003", Name: "Persistence"}, Techniques: []rule.Technique{{Ref: rule.Ref{ID: "T1098", Name: "Account Manipulation"}}}}}
	as[0].Record = json.RawMessage(`{"userIdentity":{"arn":"arn:aws:iam::1:user/<mallory>"},"sourceIPAddress":"203.0.113.9"}`)
	var items []Item
	for _, a := range as {
		it, err := sl.Encode(a)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	err := sl.Send(context.Background(), items)
	var pe *PartialError
	if !errors.As(err, &pe) || len(pe.Retry) != 2 || pe.Retry[0].ID != "k-001" {
		t.Fatalf("after a 429: %v, want k-001 and k-002 to retry", err)
	}
	err = sl.Send(context.Background(), pe.Retry)
	if !errors.As(err, &pe) || len(pe.Retry) != 0 || len(pe.Refused) != 1 || pe.Refused[0].ID != "k-002" {
		t.Fatalf("after a 400: %v, want k-002 refused", err)
	}
	if len(texts) != 2 {
		t.Fatalf("%d messages posted", len(texts))
	}
	for _, want := range []string{"*test rule* (high)", "ATT&CK: Persistence, T1098 Account Manipulation", "Actor: arn:aws:iam::1:user/&lt;mallory&gt;", "Source: 203.0.113.9", "Alert id: k-000"} {
		if !strings.Contains(texts[0], want) {
			t.Errorf("message %q lacks %q", texts[0], want)
		}
	}
}

// OCSF Detection Finding: class, ids, analytic, ATT&CK, evidences and the
// events' span; the format option reaches the sinks.
func TestOCSF(t *testing.T) {
	a := testAlerts("o", 1)[0]
	a.Rule.ID, a.Rule.Format, a.Rule.Type = "r-1", "elastic", "threshold"
	a.Rule.Threat = []rule.Threat{{Tactic: rule.Ref{ID: "TA0007", Name: "Discovery"}, Techniques: []rule.Technique{{Ref: rule.Ref{ID: "T1580", Name: "Cloud Infrastructure Discovery"}}}}}
	a.Threshold = &alert.ThresholdResult{Count: 5, From: time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 3, 9, 30, 0, 0, time.UTC)}
	a.Record = json.RawMessage(`{"eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","recipientAccountId":"123456789012","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/bob","userName":"bob"},"resources":[{"ARN":"arn:aws:ec2:eu-west-1:123456789012:instance/i-1","type":"AWS::EC2::Instance"}]}`)
	b, err := OCSF(a)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		ClassUID    int   `json:"class_uid"`
		TypeUID     int   `json:"type_uid"`
		SeverityID  int   `json:"severity_id"`
		StartTime   int64 `json:"start_time"`
		EndTime     int64 `json:"end_time"`
		FindingInfo struct {
			UID      string `json:"uid"`
			Analytic struct{ UID, Name string }
			Attacks  []struct {
				Tactic, Technique struct{ UID, Name string }
			}
		} `json:"finding_info"`
		Evidences []struct {
			Actor struct{ User struct{ UID, Name string } }
			API   struct {
				Operation string
				Service   struct{ Name string }
			}
			SrcEndpoint struct{ IP string } `json:"src_endpoint"`
			Resources   []struct{ UID string }
		}
		Cloud struct {
			Region  string
			Account struct{ UID string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.ClassUID != 2004 || d.TypeUID != 200401 || d.SeverityID != 4 || d.FindingInfo.UID != "o-000" || d.FindingInfo.Analytic.UID != "r-1" {
		t.Errorf("finding %s", b)
	}
	if d.StartTime != a.Threshold.From.UnixMilli() || d.EndTime != a.Threshold.To.UnixMilli() {
		t.Errorf("span %d-%d", d.StartTime, d.EndTime)
	}
	if len(d.FindingInfo.Attacks) != 1 || d.FindingInfo.Attacks[0].Technique.UID != "T1580" || d.FindingInfo.Attacks[0].Tactic.Name != "Discovery" {
		t.Errorf("attacks %+v", d.FindingInfo.Attacks)
	}
	if len(d.Evidences) != 1 {
		t.Fatalf("evidences %s", b)
	}
	e := d.Evidences[0]
	if e.Actor.User.UID != "arn:aws:iam::123456789012:user/bob" || e.Actor.User.Name != "bob" || e.API.Operation != "DescribeInstances" ||
		e.API.Service.Name != "ec2.amazonaws.com" || e.SrcEndpoint.IP != "198.51.100.7" || len(e.Resources) != 1 || d.Cloud.Account.UID != "123456789012" || d.Cloud.Region != "eu-west-1" {
		t.Errorf("evidence %+v cloud %+v", e, d.Cloud)
	}
	// the format reaches a sink
	c, err := ParseConfig("c.yaml", []byte("sinks:\n  - {type: jsonl, path: "+filepath.Join(t.TempDir(), "o.jsonl")+", format: ocsf}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	outs, err := c.OpenOutputs(nil, m, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := outs[0].Deliverer.Deliver(context.Background(), []alert.Alert{a}); err != nil {
		t.Fatal(err)
	}
	outs[0].Deliverer.Close(context.Background())
	data, _ := os.ReadFile(c.Sinks[0].Path)
	if !strings.Contains(string(data), `"class_uid":2004`) {
		t.Errorf("file sink wrote %s", data)
	}
	if _, err := ParseConfig("c.yaml", []byte("sinks:\n  - {type: jsonl, path: x, format: cef}\n"), env(nil)); err == nil || !strings.Contains(err.Error(), `format "cef"`) {
		t.Errorf("format cef: %v", err)
	}
}

// A destination that takes the connection and never answers (a hung
// webhook, a half-open connection) does not hold the outbox for ever:
// each attempt ends after SendTimeout, is counted as a retry, and the
// alerts go through once the destination answers again.
func TestOutboxHungDestination(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	hung, got := 0, []string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := hung < 2
		if first {
			hung++
		}
		mu.Unlock()
		if first { // the first two attempts hang until the test ends
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		var as []alert.Alert
		if err := json.NewDecoder(r.Body).Decode(&as); err != nil {
			t.Error(err)
		}
		mu.Lock()
		for _, a := range as {
			got = append(got, a.ID)
		}
		mu.Unlock()
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handlers
	m := NewMetrics()
	ob, err := OpenOutbox("hook", t.TempDir(), &Webhook{URL: srv.URL}, 0, m, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ob.MinBackoff, ob.MaxBackoff, ob.SendTimeout = time.Millisecond, 10*time.Millisecond, 200*time.Millisecond
	want := testAlerts("hung", 3)
	if err := ob.Deliver(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the alerts past the hung attempts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want) // more: an attempt the server answered late (a loaded machine) was sent again
	})
	if err := ob.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.SinkRetries.WithLabelValues("hook")); n < 2 {
		t.Errorf("%v retries counted, want 2 or more (the hung attempts)", n)
	}
	mu.Lock()
	slices.Sort(got)
	if ids := slices.Compact(got); len(ids) != len(want) || ids[0] != want[0].ID {
		t.Errorf("delivered %v, want the ids of %d alerts", ids, len(want))
	}
	mu.Unlock()
	if n := testutil.ToFloat64(m.SinkAlerts.WithLabelValues("hook")); n != 3 {
		t.Errorf("%v alerts delivered, want 3", n)
	}
}

// A failed delivery says why (the status, the connection error), and names
// the destination by scheme and host only: a webhook URL's path or query
// is often its secret, and these errors are logged.
func TestSinkErrorsSayWhyNotTheSecret(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	const secret = "s3cretTOKENpath"
	items := []Item{{ID: "a-1", Doc: json.RawMessage(`{"text":"x"}`)}}
	for _, tc := range []struct {
		name   string
		sender Sender
		want   []string
	}{
		{"slack down", &Slack{URL: closed + "/services/T0/B0/" + secret}, []string{"slack:", "connection refused", "/..."}},
		{"slack 503", &Slack{URL: srv.URL + "/services/T0/B0/" + secret}, []string{"slack: 503", "overloaded"}},
		{"webhook down", &Webhook{URL: closed + "/hook?token=" + secret}, []string{"webhook:", "connection refused"}},
		{"elasticsearch down", &Elasticsearch{URL: closed + "/" + secret}, []string{"bulk:", "connection refused"}},
		{"splunk down", &SplunkHEC{URL: closed + "/" + secret, Token: "t"}, []string{"connection refused"}},
	} {
		err := tc.sender.Send(context.Background(), items)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		var pe *PartialError
		if errors.As(err, &pe) && len(pe.Refused) > 0 {
			t.Errorf("%s: refused for good, want a retry: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: %q quotes the URL's secret", tc.name, err)
		}
	}
}
