package pyrule

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/rule"
)

// writeFiles writes files (path relative to dir: content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// probeRules is a checkout of one rule, C.probe, true for the events named
// CacheProbeEvent without an errorCode (a helper says so).
var probeRules = map[string]string{
	"global_helpers/th_probe.py": "def ok(event):\n    return not event.get(\"errorCode\")\n",
	"rules/probe.yml":            "AnalysisType: rule\nFilename: probe.py\nRuleID: C.probe\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\n",
	"rules/probe.py":             "from th_probe import ok\n\n\ndef rule(event):\n    return event.get(\"eventName\") == \"CacheProbeEvent\" and ok(event)\n",
}

const probePrefilter = `errorCode is empty or missing; eventName in "CacheProbeEvent"`

// checkProbe loads the probe rule with the cache directory and checks its
// prefilter, how many rules were analysed (-1: any) and that it runs as
// written (true on its event, false on another).
func checkProbe(t *testing.T, step, dir, cache string, analysed int) *Runtime {
	t.Helper()
	rules, rt := load(t, dir, Options{Workers: 1, CacheDir: cache})
	r := byID(rules)["C.probe"]
	if analysed >= 0 && rt.analysed != analysed {
		t.Errorf("%s: %d rules analysed, want %d", step, rt.analysed, analysed)
	}
	if got := rt.Prefilter(r); got != probePrefilter {
		t.Errorf("%s: prefilter %s, want %s", step, got, probePrefilter)
	}
	for name, exp := range map[string]bool{"CacheProbeEvent": true, "Other": false} {
		tt := rule.Test{Name: name, Logs: []json.RawMessage{json.RawMessage(`{"eventName":"` + name + `"}`)}, Expected: exp}
		if ok, msg := rt.Test(r, tt); !ok {
			t.Errorf("%s: event %s: %s", step, name, msg)
		}
	}
	return rt
}

// A cache entry that is damaged (cut short, emptied, replaced by other
// JSON, or not a file) is found out and the rule analysed again: a wrong
// prefilter would drop the rule's events unseen.
func TestPrefilterCacheDamagedEntry(t *testing.T) {
	needPython(t)
	cases := []struct {
		name   string
		damage func(path string) error
	}{
		{"cut short", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, b[:len(b)/2], 0o644)
		}},
		{"empty", func(p string) error { return os.WriteFile(p, nil, 0o644) }},
		{"never true", func(p string) error { return os.WriteFile(p, []byte(`{"prefilter":null}`), 0o644) }},
		{"another value", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, bytes.Replace(b, []byte("CacheProbeEvent"), []byte("CacheProbeEvenX"), 1), 0o644)
		}},
		{"a folder", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, cache := t.TempDir(), t.TempDir()
			writeFiles(t, dir, probeRules)
			checkProbe(t, "first load", dir, cache, 1)
			entries, _ := filepath.Glob(filepath.Join(cache, "prefilter", "*.json"))
			if len(entries) != 1 {
				t.Fatalf("%d cache entries, want 1", len(entries))
			}
			if err := c.damage(entries[0]); err != nil {
				t.Fatal(err)
			}
			checkProbe(t, "damaged entry", dir, cache, 1)
		})
	}
}

// A rule's analysis reads the functions it calls wherever they are, also
// in modules outside the checkout's helpers (PYTHONPATH, site-packages):
// a change there is a new analysis.
func TestPrefilterCacheModuleOutsideHelpers(t *testing.T) {
	needPython(t)
	dir, ext, cache := t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv("PYTHONPATH", ext)
	writeFiles(t, ext, map[string]string{"th_ext.py": "def ok(event):\n    return not event.get(\"errorCode\")\n"})
	writeFiles(t, dir, map[string]string{
		"rules/x.yml": "AnalysisType: rule\nFilename: x.py\nRuleID: C.x\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\n",
		"rules/x.py":  "from th_ext import ok\n\n\ndef rule(event):\n    return event.get(\"eventName\") == \"A\" and ok(event)\n",
		// a checkout: the rules' folder's parent has global_helpers/
		"global_helpers/th_none.py": "X = 1\n",
	})
	check := func(step, want string, analysed int) {
		t.Helper()
		checkCachedPrefilter(t, dir, cache, "C.x", step, want, analysed)
	}
	check("first load", `errorCode is empty or missing; eventName in "A"`, 1)
	check("second load", `errorCode is empty or missing; eventName in "A"`, 0)
	writeFiles(t, ext, map[string]string{"th_ext.py": "def ok(event):\n    return event.get(\"errorCode\") == \"Denied\"\n"})
	check("module changed", `errorCode in "Denied"; eventName in "A"`, 1)
}

// Compiled code in the cache directory that is damaged (a constant
// changed, cut short, or another program) is not run: the rule runs as
// its file says, and the worker as trailhound's.
func TestCodeCacheDamaged(t *testing.T) {
	needPython(t)
	python, _, _ := FindPython("")
	other := filepath.Join(t.TempDir(), "other.code")
	// a valid compiled program that exits at once
	if out, err := exec.Command(python, "-c", "import marshal, sys; marshal.dump(compile('import sys; sys.exit(3)', 'x', 'exec'), open(sys.argv[1], 'wb'))", other).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	otherCode, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"constant changed", func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("CacheProbeEvent"), []byte("CacheProbeEvenX"))
		}},
		{"cut short", func(b []byte) []byte { return b[:len(b)/2] }},
		{"another program", func([]byte) []byte { return otherCode }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, cache := t.TempDir(), t.TempDir()
			writeFiles(t, dir, probeRules)
			checkProbe(t, "first load", dir, cache, 1)
			code, _ := filepath.Glob(filepath.Join(cache, "pycode", "*"))
			worker, _ := filepath.Glob(filepath.Join(cache, "pyworker-*", "*.code"))
			if len(code) == 0 || len(worker) == 0 {
				t.Fatalf("compiled code: %d files of rules and helpers, %d of the worker", len(code), len(worker))
			}
			for _, f := range append(code, worker...) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, c.damage(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			checkProbe(t, "damaged code", dir, cache, 0)
		})
	}
}

// A cache directory that cannot be used (a file where it or one of its
// folders should be) costs time, never the rules: they load and run, and a
// warning says why the cache is not used.
func TestCacheDirUnusable(t *testing.T) {
	needPython(t)
	cases := []struct {
		name string
		file string // made a file, relative to the cache directory ("": the directory itself)
	}{
		{"cache directory is a file", ""},
		{"prefilter folder is a file", "prefilter"},
		{"code folder is a file", "pycode"},
		{"prefilter folder cannot be written", "prefilter"},
		{"code folder cannot be written", "pycode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, probeRules)
			cache := filepath.Join(t.TempDir(), "cache")
			if c.file != "" {
				if err := os.MkdirAll(cache, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if strings.HasSuffix(c.name, "cannot be written") {
				if _, err := os.Stat("/proc/self"); err != nil {
					t.Skip("no /proc/self to stand for a folder that cannot be written")
				}
				// a folder where nothing can be made, even by root
				err = os.Symlink("/proc/self", filepath.Join(cache, c.file))
			} else {
				err = os.WriteFile(filepath.Join(cache, c.file), []byte("not a folder"), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range []string{"first load", "second load"} {
				rt := checkProbe(t, step, dir, cache, -1)
				if w := strings.Join(rt.Warnings(), "\n"); !strings.Contains(w, "cache") || !strings.Contains(w, filepath.Join(cache, c.file)) {
					t.Errorf("%s: warnings %q do not say the cache %s is not used", step, w, filepath.Join(cache, c.file))
				}
			}
		})
	}
}

// Several trailhound processes starting at once on one cache directory
// each get every rule right, and leave entries the next start uses.
func TestCacheConcurrentStarts(t *testing.T) {
	needPython(t)
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, probeRules)
	const n = 3
	var wg sync.WaitGroup
	prefilters := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rules, lerrs := catalog.Load([]string{dir}, catalog.Options{})
			if len(lerrs) > 0 {
				errs[i] = lerrs[0]
				return
			}
			rt, err := New(context.Background(), rules, Options{Workers: 1, CacheDir: cache})
			if err != nil {
				errs[i] = err
				return
			}
			defer rt.Close()
			prefilters[i] = rt.Prefilter(byID(rules)["C.probe"])
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if prefilters[i] != probePrefilter {
			t.Errorf("start %d: prefilter %s, want %s", i, prefilters[i], probePrefilter)
		}
	}
	tmp, _ := filepath.Glob(filepath.Join(cache, "*", "*tmp*"))
	if len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	checkProbe(t, "after", dir, cache, 0)
}

// A changed data model (its YAML mappings or its Python methods) is a new
// analysis of the rules calling udm().
func TestPrefilterCacheModelChanged(t *testing.T) {
	needPython(t)
	dir, cache := t.TempDir(), t.TempDir()
	yml := "AnalysisType: datamodel\nLogTypes: [AWS.CloudTrail]\nDataModelID: Test.CT\nFilename: ct.py\nEnabled: true\nMappings:\n  - Name: kind\n    Method: kind\n"
	writeFiles(t, dir, map[string]string{
		"rules/u.yml":         "AnalysisType: rule\nFilename: u.py\nRuleID: C.u\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\n",
		"rules/u.py":          "def rule(event):\n    return event.udm(\"kind\") == \"K\"\n",
		"data_models/ct.yml":  yml,
		"data_models/ct.py":   "def kind(event):\n    return event.get(\"eventName\")\n",
		"global_helpers/x.py": "X = 1\n",
	})
	check := func(step, want string, analysed int) {
		t.Helper()
		checkCachedPrefilter(t, dir, cache, "C.u", step, want, analysed)
	}
	check("first load", `eventName has a value`, 1)
	check("second load", `eventName has a value`, 0)
	writeFiles(t, dir, map[string]string{"data_models/ct.py": "def kind(event):\n    return event.get(\"eventSource\")\n"})
	check("method changed", `eventSource has a value`, 1)
	writeFiles(t, dir, map[string]string{"data_models/ct.yml": strings.Replace(yml, "Method: kind", "Path: $.eventType", 1)})
	check("mapping changed", `eventType in "K"`, 1)
}

// Without a cache directory of the user's (no HOME, no XDG_CACHE_HOME) the
// rules run from a private temporary folder, removed at Close, never from
// a folder of /tmp that another user may have made.
func TestCacheDirNoHome(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	writeFiles(t, dir, probeRules)
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	rules, errs := catalog.Load([]string{dir}, catalog.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rt, err := New(context.Background(), rules, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(rt.Warnings(), "\n"); !strings.Contains(w, "no cache directory") || rt.tmpCache == "" || !strings.Contains(w, rt.tmpCache) {
		t.Errorf("warnings %q do not name the temporary folder %q", w, rt.tmpCache)
	}
	if got := rt.Prefilter(byID(rules)["C.probe"]); got != probePrefilter {
		t.Errorf("prefilter %s, want %s", got, probePrefilter)
	}
	rt.Close()
	if _, err := os.Stat(rt.tmpCache); !os.IsNotExist(err) {
		t.Errorf("the temporary folder %s is left after Close: %v", rt.tmpCache, err)
	}
}

// checkCachedPrefilter loads the checkout in dir with the cache and checks
// how many rules were analysed (not found in the cache) and rule id's
// prefilter.
func checkCachedPrefilter(t *testing.T, dir, cache, id, step, want string, analysed int) {
	t.Helper()
	rules, rt := load(t, dir, Options{Workers: 1, CacheDir: cache})
	if rt.analysed != analysed {
		t.Errorf("%s: %d rules analysed, want %d", step, rt.analysed, analysed)
	}
	if got := rt.Prefilter(byID(rules)[id]); got != want {
		t.Errorf("%s: prefilter %s, want %s", step, got, want)
	}
}
