package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary run as trailhound itself, so tests can
// start real processes and kill them.
func TestMain(m *testing.M) {
	if os.Getenv("TRAILHOUND_AS_MAIN") == "1" {
		os.Exit(run(signalContext(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// trailhound starts the test binary as trailhound with args, its stdout going
// to outFile.
func trailhound(t testing.TB, outFile string, args ...string) *exec.Cmd {
	t.Helper()
	out, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	// stderr of every start goes to one file, so a failure can show it
	errs, err := os.OpenFile(outFile+".stderr", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { errs.Close() })
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRAILHOUND_AS_MAIN=1")
	cmd.Stdout, cmd.Stderr = out, errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// stderrTail is the end of what the processes started with outFile wrote to
// stderr, for a failure's message.
func stderrTail(outFile string) string {
	b, err := os.ReadFile(outFile + ".stderr")
	if err != nil {
		return err.Error()
	}
	if len(b) > 8192 { // serve's lines at info: the last instance's start and more
		b = b[len(b)-8192:]
	}
	return string(b)
}

// alertIDs reads the ids (and, for new_terms alerts, rule+terms) of the
// complete JSON lines of an output file; a line cut by a kill is ignored.
func alertIDs(t *testing.T, path string, ids map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var a struct {
			ID       string
			Rule     struct{ ID string }
			NewTerms []string `json:"new_terms"`
		}
		if json.Unmarshal(sc.Bytes(), &a) != nil {
			continue // the last line of a killed run
		}
		key := a.Rule.ID
		for _, term := range a.NewTerms {
			key += "|" + term
		}
		ids[a.ID] = key
	}
}

// A hunt killed with SIGKILL at any point and run again over the same input
// yields the same alert set as one clean run: none lost, none doubled (no
// alert of the same record, rule and terms under a second id).
func TestKilledHuntReplays(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errs := runCmd(t, "gen", "--size", "24MB", "--file-size", "2MB", "--period", "3h", "--out", data, "../../testdata/samples"); code != 0 {
		t.Fatal(errs)
	}
	args := func(stateFile string) []string {
		return []string{"hunt", "-q", "-f", "jsonl", "--state", stateFile, "--checkpoint", "50ms", data}
	}
	// the clean run
	clean := map[string]string{}
	cmd := trailhound(t, filepath.Join(dir, "clean.jsonl"), args(filepath.Join(dir, "clean.db"))...)
	start := time.Now()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	full := time.Since(start)
	alertIDs(t, filepath.Join(dir, "clean.jsonl"), clean)
	if len(clean) < 1000 {
		t.Fatalf("clean run raised only %d alerts", len(clean))
	}
	// killed runs at spread-out points, then one that completes
	stateFile := filepath.Join(dir, "killed.db")
	got := map[string]string{}
	for i, frac := range []float64{0.1, 0.5, 0.8, 0.95, 1.02} {
		out := filepath.Join(dir, "run"+string(rune('a'+i))+".jsonl")
		cmd := trailhound(t, out, args(stateFile)...)
		time.Sleep(time.Duration(frac * float64(full)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		before := len(got)
		alertIDs(t, out, got)
		st, _ := os.Stat(out)
		t.Logf("killed at %.0f%%: %d bytes of output, %d new alert ids", frac*100, st.Size(), len(got)-before)
	}
	final := trailhound(t, filepath.Join(dir, "final.jsonl"), args(stateFile)...)
	if err := final.Wait(); err != nil {
		t.Fatalf("final run: %v", err)
	}
	alertIDs(t, filepath.Join(dir, "final.jsonl"), got)

	var lost, extra []string
	for id := range clean {
		if _, ok := got[id]; !ok {
			lost = append(lost, id)
		}
	}
	for id := range got {
		if _, ok := clean[id]; !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(lost)
	sort.Strings(extra)
	if len(lost) > 0 || len(extra) > 0 {
		t.Errorf("%d alerts lost (e.g. %v), %d extra (e.g. %v)", len(lost), first(lost), len(extra), first(extra))
	}
	// one id per (rule, new terms) for new_terms alerts
	perKey := map[string]int{}
	for _, k := range got {
		perKey[k]++
	}
	for k, n := range perKey {
		if len(k) > 37 && n > 1 { // keys with terms
			t.Errorf("%s alerted %d times", k, n)
		}
	}
	t.Logf("clean run %v, %d alerts; killed runs and replay gave the same %d", full.Round(time.Millisecond), len(clean), len(got))
}

func first(s []string) []string {
	if len(s) > 3 {
		return s[:3]
	}
	return s
}
