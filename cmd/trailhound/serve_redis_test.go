package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/state/redistest"
	"github.com/trailhound/trailhound/syncbuf"
)

// serve with its state in Redis, from a config whose state: names the
// server and its password through ${ENV}: it raises the samples' alerts,
// its log names the server without the password; started again over the
// same Redis, the same records raise no new alert id; state stats reads
// the server.
func TestServeConfigRedisState(t *testing.T) {
	srv := redistest.StartWithPassword(t, "s3cr/t@#")
	t.Setenv("TH_TEST_REDIS", srv.Addr)
	t.Setenv("TH_TEST_REDIS_PW", url.QueryEscape(srv.Password))
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "serve.yaml")
	yaml := fmt.Sprintf("state: 'redis://:${TH_TEST_REDIS_PW}@${TH_TEST_REDIS}/0?prefix=test:'\nspool: %s\nlateness: 24h\ncheckpoint_interval: 20ms\nmax_future: -1s\nhttp:\n  listen: %s\n  tokens: [tk]\n",
		filepath.Join(dir, "spool"), addr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "alerts.jsonl")
	ids := func() (n int, unique []string) {
		data, _ := os.ReadFile(out)
		for line := range bytes.Lines(data) {
			var a struct{ ID string }
			json.Unmarshal(line, &a)
			unique = append(unique, a.ID)
			n++
		}
		slices.Sort(unique)
		return n, slices.Compact(unique)
	}
	once := func(year int) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stderr syncbuf.Buffer
		done := make(chan int, 1)
		go func() { done <- run(ctx, []string{"serve", "--config", cfg, "--out", out}, io.Discard, &stderr) }()
		wait := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s; stderr:\n%s", what, stderr.String())
				}
			}
		}
		wait("ready", func() bool {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		files, _ := filepath.Glob("../../testdata/samples/*")
		bodies := [][]byte{}
		for _, f := range files {
			b, _ := os.ReadFile(f)
			bodies = append(bodies, b)
		}
		bodies = append(bodies, fmt.Appendf(nil, `{"eventTime":"%d-01-01T00:00:00Z","eventSource":"x.test","eventName":"Tick","eventID":"tick-%d"}`, year, year))
		for _, b := range bodies {
			postRecords(t, addr, b)
		}
		// every body acknowledged (its records decided) but the tick's
		wait("the samples acknowledged", func() bool {
			left, _ := os.ReadDir(filepath.Join(dir, "spool"))
			return len(left) == 1
		})
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr.String())
		}
		return stderr.String()
	}
	logs := once(2098)
	n, first := ids()
	if n != 9 || len(first) != 9 {
		t.Fatalf("%d alerts (%d ids), want the samples' 9", n, len(first))
	}
	if want := `"state":"redis://:xxxxx@` + srv.Addr + `/0?prefix=test:"`; !strings.Contains(logs, want) || strings.Contains(logs, "s3cr") {
		t.Errorf("the log does not name the state %s, or names its password:\n%s", want, logs)
	}
	once(2099)
	// the same records again, late: no new id (one whose dedup window has
	// expired may be delivered again with its id, as with a state file)
	if _, again := ids(); !slices.Equal(again, first) {
		t.Errorf("alert ids after the same records again:\n%v\nwant\n%v", again, first)
	}
	code, stats, errs := runCmd(t, "state", "stats", "--state", srv.URL(0)+"?prefix=test:")
	if code != 0 || !strings.Contains(stats, "30fbf4db-c502-4e68-a239-2e99af0f70da") || strings.Contains(stats+errs, "s3cr") {
		t.Errorf("state stats: exit %d\n%s%s", code, stats, errs)
	}
}
