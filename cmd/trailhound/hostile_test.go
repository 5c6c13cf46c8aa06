package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The hostile-input battery of issue 9: every case runs trailhound as a
// process, bounded in time, and asserts no panic, the exit code, that the
// valid record beside the bad input still alerts, the JSON Lines output is
// valid, and (where the input is large) that peak memory stays bounded.

// hostileCase is one hostile input.
type hostileCase struct {
	name   string
	files  map[string][]byte // written under a fresh folder
	args   []string          // {dir} is replaced by that folder
	code   int
	alerts int      // alerts of the built-in layer rule expected on stdout
	stderr []string // substrings of stderr
	maxRSS int64    // peak RSS bound in MB (0: not checked)
	// interrupt sends SIGINT once the hunt has run a second
	interrupt bool
}

// Rules of our own for the battery: a Sigma rule written with YAML anchors,
// an Elastic and a Sigma rule sharing one id, and a "billion laughs" file.
const (
	anchoredSigma = `title: Lambda Layer via anchors
id: 0c9b7a51-7d1e-4d0a-9a43-7b2f1b1f2a01
logsource: {product: aws, service: cloudtrail}
detection:
  src: &src lambda.amazonaws.com
  selection:
    eventSource: *src
    eventName|startswith: &names [PublishLayerVersion]
  condition: selection
level: low
`
	sharedElastic = `[rule]
rule_id = "5d5e0c1a-0000-4000-8000-00000000aaaa"
name = "Lambda Layer (elastic)"
type = "query"
language = "kuery"
risk_score = 21
severity = "low"
query = "event.action:PublishLayerVersion*"
`
	sharedSigma = `title: Lambda Layer (sigma)
id: 5d5e0c1a-0000-4000-8000-00000000aaaa
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventName|startswith: PublishLayerVersion
  condition: selection
level: low
`
	laughs = `title: laughs
id: 11111111-2222-3333-4444-555555555555
logsource: {product: aws, service: cloudtrail}
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
detection:
  selection:
    eventName: *g
  condition: selection
`
)

// layer is a record of the built-in "Lambda Layer Added" rule with the given
// eventID, so that records in one case stay distinct.
func layer(id string) string {
	return strings.Replace(layerRecord, "5b0c6f0e-1d2a-4c55-9a51-6c1f0b6f1a01", id, 1)
}

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// bigFile writes size bytes of what gen produces, then a newline and tail.
func bigFile(t *testing.T, path string, size int64, gen io.Reader, tail string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, gen, size); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, "\n"+tail+"\n"); err != nil {
		t.Fatal(err)
	}
}

// repeat is an endless reader of one byte pattern.
type repeat []byte

func (r repeat) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = r[i%len(r)]
	}
	return len(b), nil
}

func TestHostileInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("the hostile-input battery runs processes over large inputs; not with -short")
	}
	utf16 := []byte{0xff, 0xfe}
	for _, r := range layer("u16") {
		utf16 = append(utf16, byte(r), 0)
	}
	cases := []hostileCase{
		{name: "RFC 8259 violations beside a valid record", files: map[string][]byte{"a.jsonl": lines(
			`{"eventName":"x","n":NaN}`, `{"eventName":"x","n":nan}`, `{"eventName":"x","n":inf}`,
			"{\"eventName\":\"x\",\"s\":\"a\tb\"}", `{"eventName":"x","s":"\q"}`, `{"eventName":"x","s":"\u12"}`,
			`{"eventName":"x","n":+1}`, `{"eventName":"x","n":0123}`, `{"eventName":"x","n":.5}`,
			`{"eventName":"x","n":5.}`, `{"eventName":"x","n":1e}`, layer("ok-1"))},
			code: exitErrors, alerts: 1, stderr: []string{"a.jsonl:1", "a.jsonl:11"}},
		{name: "JSON Lines line cut mid-string", files: map[string][]byte{"a.jsonl": lines(`{"eventName":"PublishLay`, layer("ok-2"))},
			code: exitErrors, alerts: 1, stderr: []string{"a.jsonl:1"}},
		{name: "UTF-8 BOM", files: map[string][]byte{"a.json": append([]byte("\xef\xbb\xbf"), lines(layer("bom"))...)},
			code: 0, alerts: 1},
		{name: "UTF-16 file", files: map[string][]byte{"a.json": utf16, "b.jsonl": lines(layer("ok-3"))},
			code: exitErrors, alerts: 1, stderr: []string{"UTF-16 encoded; convert to UTF-8"}},
		{name: "duplicate keys: the last wins", files: map[string][]byte{"a.jsonl": lines(
			strings.Replace(layer("dup"), `"eventName":"PublishLayerVersion20181031"`, `"eventName":"ListLayers20181031","eventName":"PublishLayerVersion20181031"`, 1))},
			code: 0, alerts: 1, stderr: []string{"eventName"}},
		{name: "missing and valid paths", files: map[string][]byte{"a.jsonl": lines(layer("ok-4"))},
			args: []string{"{dir}/nope", "{dir}"}, code: exitErrors, alerts: 1, stderr: []string{"nope"}},
		{name: "no event time", files: map[string][]byte{"a.jsonl": lines(
			strings.Replace(layer("notime"), `"eventTime":"2026-03-01T10:00:00Z",`, "", 1),
			strings.Replace(layer("badtime"), `"2026-03-01T10:00:00Z"`, `"0001-01-01T00:00:00Z"`, 1), layer("ok-5"))},
			code: exitErrors, alerts: 3, stderr: []string{"no event time"}},
		{name: "giant record over the limit", code: exitErrors, alerts: 1, maxRSS: 200,
			args: []string{"--max-record-size", "1MB", "{dir}"}, stderr: []string{"big.jsonl:1"}},
		{name: "random binary", code: exitErrors, alerts: 1, maxRSS: 200, stderr: []string{"rand.json"}},
		{name: "deeply nested record", files: map[string][]byte{"a.jsonl": lines(
			`{"eventName":"x","requestParameters":`+strings.Repeat("[", 200000)+strings.Repeat("]", 200000)+"}", layer("ok-6"))},
			code: exitErrors, alerts: 1, maxRSS: 300, stderr: []string{"a.jsonl:1"}},
		{name: "corrupt state file", files: map[string][]byte{"a.jsonl": lines(layer("ok-7")), "state.db": bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16384)},
			args: []string{"--state", "{dir}/state.db", "{dir}/a.jsonl"}, code: exitErrors, stderr: []string{"is corrupt", "--state-reset"}},
		{name: "YAML anchors in a rule", files: map[string][]byte{"a.jsonl": lines(layer("ok-8")), "rules/anchored.yml": []byte(anchoredSigma)},
			args: []string{"-r", "{dir}/rules", "{dir}/a.jsonl"}, code: 0, alerts: 1},
		{name: "billion laughs beside a valid rule", files: map[string][]byte{"a.jsonl": lines(layer("ok-9")),
			"rules/anchored.yml": []byte(anchoredSigma), "rules/laughs.yml": []byte(laughs)},
			args: []string{"-r", "{dir}/rules", "{dir}/a.jsonl"}, code: exitErrors, alerts: 1, maxRSS: 300, stderr: []string{"laughs.yml"}},
		{name: "two formats share a rule id", files: map[string][]byte{"a.jsonl": lines(layer("ok-10")),
			"rules/e.toml": []byte(sharedElastic), "rules/s.yml": []byte(sharedSigma)},
			args: []string{"-r", "{dir}/rules", "{dir}/a.jsonl"}, code: 0, alerts: 2, stderr: []string{"is shared by"}},
		{name: "/dev/zero named, then SIGINT", files: map[string][]byte{"a.jsonl": lines(layer("ok-11"))},
			args: []string{"-w", "1", "{dir}/a.jsonl", "/dev/zero"}, code: exitInterrupted, alerts: 1, maxRSS: 200, interrupt: true,
			stderr: []string{"interrupted"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tc.files {
				path := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			switch tc.name {
			case "giant record over the limit":
				bigFile(t, filepath.Join(dir, "big.jsonl"), 256<<20, io.MultiReader(strings.NewReader(`{"eventName":"`), repeat("a")), layer("after-big"))
			case "random binary":
				bigFile(t, filepath.Join(dir, "rand.json"), 128<<20, rand.Reader, layer("after-rand"))
			}
			args := tc.args
			if args == nil {
				args = []string{"{dir}"}
			}
			runHostile(t, dir, tc, args)
		})
	}
}

func runHostile(t *testing.T, dir string, tc hostileCase, args []string) {
	t.Helper()
	full := []string{"hunt", "-f", "jsonl"}
	for _, a := range args {
		full = append(full, strings.ReplaceAll(a, "{dir}", dir))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], full...)
	cmd.Env = append(os.Environ(), "TRAILHOUND_AS_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if tc.interrupt {
		time.Sleep(time.Second)
		cmd.Process.Signal(os.Interrupt)
	}
	cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("hung: killed after the time bound\n%s", stderr.String())
	}
	errs := stderr.String()
	if strings.Contains(errs, "panic:") || strings.Contains(errs, "fatal error:") {
		t.Fatalf("crashed:\n%s", errs)
	}
	if code := cmd.ProcessState.ExitCode(); code != tc.code {
		t.Errorf("exit %d, want %d\n%s", code, tc.code, errs)
	}
	n := 0
	for _, l := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var a struct{ Rule struct{ Name string } }
		if err := json.Unmarshal(l, &a); err != nil {
			t.Errorf("output line is not JSON (%v): %.200s", err, l)
			continue
		}
		if strings.Contains(a.Rule.Name, "Lambda Layer") {
			n++
		}
	}
	if n != tc.alerts {
		t.Errorf("%d layer alerts, want %d\n%s", n, tc.alerts, errs)
	}
	for _, s := range tc.stderr {
		if !strings.Contains(errs, s) {
			t.Errorf("stderr lacks %q:\n%.3000s", s, errs)
		}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && tc.maxRSS > 0 {
		if mb := ru.Maxrss / 1024; mb > tc.maxRSS {
			t.Errorf("peak RSS %d MB, bound %d MB", mb, tc.maxRSS)
		} else {
			t.Logf("peak RSS %d MB (bound %d MB)", mb, tc.maxRSS)
		}
	}
}
