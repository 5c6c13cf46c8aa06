package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trailhound/trailhound/syncbuf"
)

// serve refuses what it cannot run with a usage error (exit 3) that says why.
func TestServeUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("state: x\nsinks:\n  - type: syslog\n"), 0o644)
	empty := filepath.Join(dir, "tokens.txt")
	os.WriteFile(empty, []byte("# none\n"), 0o644)
	noQueue := filepath.Join(dir, "noqueue.yaml")
	os.WriteFile(noQueue, []byte("sqs:\n  dlq_url: https://q\n"), 0o644)
	noURL := filepath.Join(dir, "nourl.yaml")
	os.WriteFile(noURL, []byte("s3_poll:\n  from: 2026-11-03\n"), 0o644)
	badURL := filepath.Join(dir, "badurl.yaml")
	os.WriteFile(badURL, []byte("http:\n  listen: 127.0.0.1:0\n  tokens: [t]\nsinks:\n  - type: webhook\n    url: localhost:9200\n"), 0o644)
	st := filepath.Join(dir, "s.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "127.0.0.1:0"}, "serve needs --state"},
		{[]string{"serve", "--state", st}, "no input"},
		{[]string{"serve", "--state", st, "--config", bad}, `type "syslog"`},
		{[]string{"serve", "--state", st, "--config", filepath.Join(dir, "none.yaml")}, "no such file"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--token-file", empty}, "holds no token"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--lateness", "-1m"}, "--lateness must be positive"},
		{[]string{"serve", "--state", st, "--kafka-topic", "t"}, "kafka needs brokers"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--tls-cert", "c.pem"}, "both a certificate and a key"},
		{[]string{"serve", "--state", st, "--sqs-dlq-url", "https://q"}, "go with --sqs-queue-url"},
		{[]string{"serve", "--state", st, "--config", noQueue}, "sqs needs queue_url"},
		{[]string{"serve", "--state", st, "--config", noURL}, "s3_poll: url is needed"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--from", "2026-11-03"}, "go with --s3-poll"},
		{[]string{"serve", "--state", st, "--s3-poll", "s3://b", "--from", "yesterday"}, "want YYYY-MM-DD"},
		{[]string{"serve", "--state", st, "--s3-poll", "b/logs"}, "not an s3:// URL"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--s3-endpoint", "http://x"}, "goes with --sqs-queue-url or --s3-poll"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--checkpoint-interval", "-1s"}, "--checkpoint-interval (checkpoint_interval) must be positive"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--workers", "-2"}, "--workers (workers) must be 0"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--read-timeout", "-1s"}, "--read-timeout (http.read_timeout) must be positive"},
		{[]string{"serve", "--state", st, "--listen", "127.0.0.1:0", "--max-decompressed", "lots"}, "max decompressed"},
		{[]string{"serve", "--state", st, "--config", badURL}, `sinks[0]: url: "localhost:9200": want an http:// or https:// URL`},
		{[]string{"serve", "extra"}, "unknown command"},
	} {
		code, _, errs := runCmd(t, tc.args...)
		if code != exitBadUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 3 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// SIGHUP reloads the rules: serve drains and starts again with the rules
// read anew; what it had acknowledged stays done, new records meet the new
// rules, and it reports what changed.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	os.MkdirAll(rules, 0o755)
	copyFile := func(name string) {
		b, err := os.ReadFile(filepath.Join("../../builtin/rules", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(rules, name), b, 0o644)
	}
	copyFile("lambda_layer_added.toml")
	os.WriteFile(filepath.Join(dir, "tokens"), []byte("tk\n"), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := filepath.Join(dir, "alerts.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--token-file", filepath.Join(dir, "tokens"), "--out", out,
			"--state", filepath.Join(dir, "s.db"), "--rules", rules, "--lateness", "24h", "--checkpoint-interval", "20ms", "--max-future", "-1s"}, io.Discard, &stderr)
	}()
	ready := func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	post := func(body []byte) { postRecords(t, addr, body) }
	postSamples := func(year int) {
		files, _ := filepath.Glob("../../testdata/samples/*")
		for _, f := range files {
			b, _ := os.ReadFile(f)
			post(b)
		}
		post(fmt.Appendf(nil, `{"eventVersion":"1.08","eventTime":"%d-01-01T00:00:00Z","eventSource":"x.test","eventName":"Tick","eventID":"tick-%d","awsRegion":"us-east-1"}`, year, year))
	}
	rulesIn := func() map[string]int {
		data, _ := os.ReadFile(out)
		n := map[string]int{}
		for line := range bytes.Lines(data) {
			var a struct{ Rule struct{ Name string } }
			if json.Unmarshal(line, &a) == nil {
				n[a.Rule.Name]++
			}
		}
		return n
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stderr:\n%s", what, stderr.String())
			}
		}
	}
	wait("ready", ready)
	postSamples(2098)
	wait("the lambda layer alerts", func() bool { return rulesIn()["AWS Lambda Layer Added to Existing Function"] == 2 })
	copyFile("ec2_ebs_snapshot_shared.toml")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	wait("the reload", func() bool { return strings.Contains(stderr.String(), "rules reloaded") })
	wait("ready again", ready)
	postSamples(2099)
	wait("the new rule's alerts", func() bool { return rulesIn()["AWS EC2 EBS Snapshot Shared with Another Account"] == 2 })
	if n := rulesIn()["AWS Lambda Layer Added to Existing Function"]; n != 2 {
		t.Errorf("lambda layer alerts after the reload and the same records again: %d, want 2 (known)", n)
	}
	if !strings.Contains(stderr.String(), `"added":["4182e486-fc61-11ee-a05d-f661ea17fbce"]`) {
		t.Errorf("the reload does not report the added rule:\n%s", stderr.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d:\n%s", code, stderr.String())
	}
}

// postRecords posts body to serve's HTTP ingest at addr with the token "tk"
// and fails the test unless it is accepted (202).
func postRecords(t *testing.T, addr string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/records", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer tk")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("post: %d", resp.StatusCode)
	}
}

// Every line serve logs is JSON, also what go-redis says while it retries
// a server that does not answer; only the final error is plain text.
func TestServeLogsAreJSON(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing answers there
	cfg := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfg, []byte("state: redis://"+addr+"/0\nspool: "+filepath.Join(dir, "spool")+"\nhttp:\n  listen: 127.0.0.1:0\n  tokens: [t]\n"), 0o644)
	code, _, errs := runCmd(t, "serve", "--config", cfg)
	if code != exitErrors {
		t.Fatalf("exit %d, want %d: %s", code, exitErrors, errs)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) < 2 {
		t.Fatalf("want go-redis's retries logged before the error: %q", errs)
	}
	for _, l := range lines[:len(lines)-1] {
		if !json.Valid([]byte(l)) {
			t.Errorf("not a JSON log line: %s", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "trailhound: state redis://"+addr) {
		t.Errorf("last line %q, want the state error", last)
	}
}
