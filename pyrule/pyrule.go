// Package pyrule runs Panther's Python rules as they are: each rule's
// Python file, unmodified, in a pool of python3 worker processes that run a
// module of ours (embedded here) providing Panther's event API (get,
// deep_get, deep_walk, udm, udm_path, the p_ fields), the
// panther_detection_helpers.caching key-value cache (served by the Go
// side, shared by every worker) and the panther_core names rules import.
// Workers speak length-prefixed frames over their stdin and stdout. Data
// models come from the checkouts, else from trailhound's built-in ones
// (datamodels/) for the log types of Panther's standard rules' tests.
//
// A rule's Python is analysed when it loads (Python's ast): the
// eventSource, eventName and other CloudTrail field values an event must
// have for rule() to be true (or to write to the cache) become a condition
// the engine checks in Go, so most events never reach Python; a rule whose
// rule() is exactly such a formula (and whose title and dedup are
// templates) is decided in Go wherever Go can tell Python's answer
// (exact.go).
package pyrule

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed" // the worker module
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fastjson"
	"go.yaml.in/yaml/v3"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/panther"
	"github.com/trailhound/trailhound/rule"
)

//go:embed py/trailhound_worker.py
var workerSource []byte

// Options configure a Runtime.
type Options struct {
	// Python is the interpreter; empty: FindPython's choice.
	Python string
	// Helpers are folders of Panther global helpers (and data models) to
	// put on the rules' import path, besides the global_helpers/ and
	// data_models/ of the checkout each rule sits in.
	Helpers []string
	// Workers is the number of python3 processes (default GOMAXPROCS).
	Workers int
	// Timeout is the time a rule may take on one event (default 5 s);
	// past it the rule is interrupted, and a worker that does not come
	// back is killed and restarted.
	Timeout time.Duration
	// NoPrefilter sends every event to every rule (to measure the
	// prefilter).
	NoPrefilter bool
	// Tests also loads disabled rules, whose tests still run.
	Tests bool
	// CacheDir is where the worker module is written (default: the
	// user's cache directory, trailhound/).
	CacheDir string
}

// Runtime runs the Python rules of a rule set. Close it when done.
type Runtime struct {
	opts    Options
	python  string
	version string
	script  string
	load    loadReq
	rules   []*pyRule
	byRule  map[*rule.Rule]*pyRule
	kv      *kvStore
	live    chan *worker  // idle workers
	spare   chan struct{} // slots without a worker: started when needed
	n       int
	parse   string // p_parse_time
	index   map[sourceName][]*pyRule
	indexMu sync.RWMutex
	// conds are the prefilters' conditions on fields other than
	// eventSource and eventName, each once (rules share many: an empty
	// errorCode), so an event is checked against each at most once
	conds     []engine.Matcher
	condEmpty []bool       // the condition admits an empty field
	fast      []fieldCheck // the same conditions read directly from the record, where they can be
	condKeys  map[string]int
	nodes     []pathNode // the fields the conditions read, and the objects on their paths
	mu        sync.Mutex // errors and deaths
	events    atomic.Int64
	calls     atomic.Int64
	inGo      atomic.Int64
	trips     atomic.Int64 // calls to the workers
	warnings  []string
	loadErrs  []error
	// modelSources say which data model serves each log type
	modelSources []ModelSource
	analysed     int    // rules whose prefilter was analysed (not cached)
	tmpCache     string // the cache folder of this run alone, when the cache directory cannot be used
}

// LoadErrors are the Python rules that did not load, each with its file
// and the Python error.
func (rt *Runtime) LoadErrors() []error {
	if rt == nil {
		return nil
	}
	return rt.loadErrs
}

// Warnings are problems found when loading that do not stop the rules
// (a data model that did not load).
func (rt *Runtime) Warnings() []string {
	if rt == nil {
		return nil
	}
	return rt.warnings
}

// Stats are what a runtime did: events sent to Python, rule functions
// run there (rule() on an event), rule() results decided in Go, calls to
// the workers (a batch of events, an event, an alert's functions).
type Stats struct {
	Events, RuleCalls, InGo, Trips int64
}

// RuleCalls returns how many events reached each rule's rule() in Python,
// and how many Go decided, most first.
func (rt *Runtime) RuleCalls() []RuleCount {
	var out []RuleCount
	for _, pr := range rt.rules {
		if n, g := pr.calls.Load(), pr.inGo.Load(); n+g > 0 {
			out = append(out, RuleCount{pr.r, n, g})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].N+out[i].InGo > out[j].N+out[j].InGo })
	return out
}

// RuleCount is a number for a rule: events that reached its Python, and
// events whose result Go decided (InGo).
type RuleCount struct {
	Rule *rule.Rule
	N    int64
	InGo int64
}

// Stats returns what the runtime did so far.
func (rt *Runtime) Stats() Stats {
	if rt == nil {
		return Stats{}
	}
	return Stats{Events: rt.events.Load(), RuleCalls: rt.calls.Load(), InGo: rt.inGo.Load(), Trips: rt.trips.Load()}
}

// pyRule is one Python rule and what is known of it.
type pyRule struct {
	idx       int
	r         *rule.Rule
	functions []string
	prefilter map[string]fieldFilter // nil: every event
	never     bool                   // rule() is never true
	conds     []int                  // the prefilter's other fields: indexes in Runtime.conds
	errs      ErrorCount
	deaths    int
	off       string     // why it was turned off mid-hunt
	later     bool       // alert functions but title, dedup, unique run only for an alert
	exact     *exactRule // rule() (and maybe title, dedup) decided in Go
	calls     atomic.Int64
	inGo      atomic.Int64 // events whose result Go decided
}

// fieldFilter is what a prefilter requires of a field: one of the values
// Eq, or a start in Prefix ("": any value), or a substring in Contains, or
// an end in Suffix or ISuffix (ignoring case as Python's re.IGNORECASE
// does; ASCII, in lower case), either followed by a newline or not (what
// a Python regular expression's `$` allows).
type fieldFilter struct {
	Eq       []string `json:"eq"`
	Prefix   []string `json:"prefix"`
	Contains []string `json:"contains"`
	Suffix   []string `json:"suffix"`
	ISuffix  []string `json:"isuffix"`
	IP       bool     `json:"ip"`    // or an IP address
	Empty    bool     `json:"empty"` // or missing, or false to Python (null, "", 0, false, [], {})
}

// any reports whether the filter requires nothing.
func (ff fieldFilter) any() bool {
	return len(ff.Eq)+len(ff.Prefix)+len(ff.Contains)+len(ff.Suffix)+len(ff.ISuffix) == 0 && !ff.IP && !ff.Empty
}

// suffixRE is a regular expression (unanchored at the start, for the
// engine's anchored regex match: `(?s).*` first) matching strings that end
// with one of ends, or one of them and a newline; with fold, ignoring case
// as Python's re.IGNORECASE does for ASCII letters (which also matches
// U+0130 and U+0131 for i, U+017F for s, U+212A for k).
func suffixRE(ends []string, fold bool) string {
	alts := make([]string, len(ends))
	for i, e := range ends {
		var b strings.Builder
		for _, r := range e {
			if !fold || r >= 0x80 || !unicode.IsLetter(r) {
				b.WriteString(regexp.QuoteMeta(string(r)))
				continue
			}
			b.WriteString("[" + string(unicode.ToLower(r)) + string(unicode.ToUpper(r)) + foldExtra[unicode.ToLower(r)] + "]")
		}
		alts[i] = b.String()
	}
	return `(?s).*(?:` + strings.Join(alts, "|") + `)\n?`
}

// endsFold reports whether v ends with e (ASCII, in lower case) ignoring
// case as Python's re.IGNORECASE does: what suffixRE(e, true) matches, without
// the newline.
func endsFold(v, e string) bool {
	for i := len(e) - 1; i >= 0; i-- {
		r, n := utf8.DecodeLastRuneInString(v)
		if n == 0 {
			return false
		}
		v = v[:len(v)-n]
		c := rune(e[i])
		if r == c {
			continue
		}
		if !unicode.IsLetter(c) || (r != unicode.ToUpper(c) && !strings.ContainsRune(foldExtra[c], r)) {
			return false
		}
	}
	return true
}

// foldExtra are the characters other than the two ASCII cases that
// Python's re.IGNORECASE matches for an ASCII letter.
var foldExtra = map[rune]string{'i': "\u0130\u0131", 's': "\u017f", 'k': "\u212a"}

// falsy reports whether the value at path (nested keys) of a CloudTrail
// record is missing or one Python finds false: null, "", a number equal
// to zero (one that does not parse counts: a superset is safe), false,
// [] or {}. The worker reads the record with json.loads, whose lookups
// of these paths are nested too (the case-insensitive fallback it adds
// only makes more values found, and so fewer false).
func falsy(ev *event.Event, path []string) bool {
	var v *fastjson.Value
	if len(path) == 0 {
		v = ev.Source()
	} else {
		v = ev.Member(path[0]).Get(path[1:]...) // only that member is parsed
	}
	if v == nil {
		return true
	}
	switch v.Type() {
	case fastjson.TypeNull, fastjson.TypeFalse:
		return true
	case fastjson.TypeString:
		return len(v.GetStringBytes()) == 0
	case fastjson.TypeNumber:
		f, err := v.Float64()
		return err != nil || f == 0
	case fastjson.TypeObject:
		o, _ := v.Object()
		return o.Len() == 0
	case fastjson.TypeArray:
		a, _ := v.Array()
		return len(a) == 0
	}
	return false
}

// ipShape matches every string Python's ipaddress.ip_address accepts (and
// more): hex digits, colons and dots, with an IPv6 scope.
const ipShape = `[0-9A-Fa-f:.]+(%.*)?`

// ipShaped reports whether v matches ipShape (a regular expression is
// slower, and every event with a sourceIPAddress asks).
func ipShaped(v string) bool {
	i := 0
	for ; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
			break
		}
	}
	return i > 0 && (i == len(v) || v[i] == '%' && !strings.Contains(v[i:], "\n"))
}

// ErrorCount is what went wrong in one rule: errors of rule() (and of
// the worker running it), errors of its alert functions (title, dedup,
// alert_context...), and the first messages, with where.
type ErrorCount struct {
	Rule      *rule.Rule
	Errors    int
	AuxErrors int
	First     []string
}

type loadReq struct {
	Helpers   []string    `json:"helpers"`
	Models    []modelSpec `json:"models"`
	Rules     []ruleSpec  `json:"rules"`
	Timeout   float64     `json:"timeout"`
	ParseTime string      `json:"parse_time"`
	Prefilter bool        `json:"prefilter"`
	// CodeCache is the folder of the compiled rules, helpers and models
	CodeCache string `json:"code_cache,omitempty"`
}

type ruleSpec struct {
	ID       string   `json:"id"`
	Path     string   `json:"path"`
	Name     string   `json:"name"`
	LogTypes []string `json:"log_types"`
	// Cached: the prefilter analysis is cached, the worker need not run it
	Cached bool `json:"cached,omitempty"`
	// Later is the cached answer of whether the alert functions run only
	// for raised alerts (with Cached)
	Later bool `json:"later,omitempty"`
}

type modelSpec struct {
	Path     string               `json:"path,omitempty"`
	LogTypes []string             `json:"log_types"`
	Mappings map[string][2]string `json:"mappings"`
	yml      string               // the YAML file
	builtin  string               // the built-in model's name
}

type loadAnswer struct {
	Analysed bool      `json:"analysed"` // the prefilter analysis ran
	Models   []*string `json:"models"`
	// CodeCacheError is why compiled code could not be cached
	CodeCacheError string `json:"code_cache_error"`
	Rules          []struct {
		Error     string                 `json:"error"`
		Functions []string               `json:"functions"`
		Prefilter map[string]fieldFilter `json:"prefilter"`
		// PrefilterError is why the analysis failed (the rule then gets
		// every event).
		PrefilterError string `json:"prefilter_error"`
		// PrefilterSource is the sha256 of the rule file analysed,
		// PrefilterDeps those of the other source files the analysis read
		PrefilterSource string            `json:"prefilter_src"`
		PrefilterDeps   map[string]string `json:"prefilter_deps"`
		// Later: the alert functions but title, dedup and unique read and
		// write no state, and run only for a match that raises an alert.
		Later bool `json:"later"`
		// Exact is rule()'s formula and the templates of title() and
		// dedup(), when the analysis found them (exact.go)
		Exact json.RawMessage `json:"exact"`
	} `json:"rules"`
}

// ErrNoPython is wrapped by the error of New when no usable python3 is
// found.
var ErrNoPython = errors.New("no python3")

// FindPython returns the interpreter to use: the given one; else, of
// python3 on PATH and /usr/bin/python3, the one that has more of the
// third-party modules Panther's helpers and rules import (dateutil,
// pycountry), the first on a tie. It returns the interpreter's version
// too.
func FindPython(given string) (path, version string, err error) {
	cands := []string{given}
	if given == "" {
		cands = nil
		if p, err := exec.LookPath("python3"); err == nil {
			cands = append(cands, p)
		}
		if p := "/usr/bin/python3"; len(cands) == 0 || !sameFile(cands[0], p) {
			if _, err := os.Stat(p); err == nil {
				cands = append(cands, p)
			}
		}
		if len(cands) == 0 {
			return "", "", fmt.Errorf("%w: python3 is not on PATH (--python names one)", ErrNoPython)
		}
	}
	best, bestV, bestN := "", "", -1
	var firstErr error
	for _, c := range cands {
		out, err := exec.Command(c, "-c", probe).Output()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 2 {
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: %s does not run as Python 3.8 or later (%v)", ErrNoPython, c, err)
			}
			continue
		}
		if n := strings.Count(f[1], "+"); n > bestN {
			best, bestV, bestN = c, f[0], n
		}
	}
	if best == "" {
		return "", "", firstErr
	}
	return best, bestV, nil
}

// probe prints the interpreter's version and a + per module it has.
const probe = `import sys, importlib.util
assert sys.version_info >= (3, 8)
print(sys.version.split()[0], "." + "".join("+" for m in ("dateutil", "pycountry") if importlib.util.find_spec(m)))`

func sameFile(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// IsPython reports whether r is a Python-backed Panther rule.
func IsPython(r *rule.Rule) bool { return r.Format == "panther" && r.Script != "" }

// New loads the Python rules among rules into a pool of workers and makes
// them runnable: Cond (the prefilter and rule()), Output (title, alert
// context, severity) and the dedup key. A rule whose Python does not load
// is left not runnable with the Python error. Without Python rules New
// returns nil. Without a usable python3 it returns an error wrapping
// ErrNoPython and leaves the rules as they were (listed as needing
// python3).
func New(ctx context.Context, rules []*rule.Rule, opts Options) (*Runtime, error) {
	var take []*rule.Rule
	var datamodels []*rule.Rule
	for _, r := range rules {
		switch {
		case r.Format == "panther" && r.Type == "datamodel":
			datamodels = append(datamodels, r)
		case !IsPython(r):
		case !isFile(r.Script):
			if strings.HasPrefix(r.Unsupported, panther.NeedsPython) {
				r.Unsupported = fmt.Sprintf("its Python file %s is missing", r.Script)
			}
		case strings.HasPrefix(r.Unsupported, panther.NeedsPython):
			take = append(take, r)
		case opts.Tests && r.Unsupported != "":
			take = append(take, r) // disabled: its tests still run
		}
	}
	if len(take) == 0 {
		return nil, nil
	}
	python, version, err := FindPython(opts.Python)
	if err != nil {
		for _, r := range take {
			if strings.HasPrefix(r.Unsupported, panther.NeedsPython) {
				r.Unsupported = fmt.Sprintf("%s (%s): %v", panther.NeedsPython, filepath.Base(r.Script), err)
			}
		}
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	var warnings []string
	var tmpCache string
	var script string
	if _, err = os.UserCacheDir(); opts.CacheDir == "" && err != nil {
		// not a folder all users share (/tmp): another user could put
		// code there that this one's workers would run
		err = fmt.Errorf("the user has no cache directory (set XDG_CACHE_HOME or HOME): %w", err)
	} else {
		script, err = writeScript(opts.CacheDir)
	}
	if err != nil {
		// a cache directory that cannot be written costs time, not the
		// rules: this run keeps its files in a folder of its own
		cacheErr := err
		if tmpCache, err = os.MkdirTemp("", "trailhound-cache-"); err != nil {
			return nil, fmt.Errorf("%w (and no temporary folder instead: %w)", cacheErr, err)
		}
		if script, err = writeScript(tmpCache); err != nil {
			os.RemoveAll(tmpCache)
			return nil, err
		}
		warnings = append(warnings, fmt.Sprintf("cache directory %s cannot be used (%v): this run keeps the Python worker's files in %s (removed at exit) and caches nothing for the next",
			cacheRoot(opts.CacheDir), cacheErr, tmpCache))
		opts.CacheDir = tmpCache
	}
	rt := &Runtime{opts: opts, python: python, version: version, script: script, kv: newKV(), byRule: map[*rule.Rule]*pyRule{}, condKeys: map[string]int{}, index: map[sourceName][]*pyRule{},
		parse: time.Now().UTC().Format("2006-01-02 15:04:05.000000000"), warnings: warnings, tmpCache: tmpCache}
	defer func() {
		if rt.n == 0 && tmpCache != "" { // New failed: Close is not called
			os.RemoveAll(tmpCache)
		}
	}()
	helpers, models, err := checkouts(take, datamodels, opts.Helpers)
	if err != nil {
		return nil, err
	}
	var modelWarnings []string
	models, rt.modelSources, modelWarnings, err = addBuiltinModels(opts.CacheDir, models)
	if err != nil {
		return nil, err
	}
	rt.warnings = append(rt.warnings, modelWarnings...)
	rt.load = loadReq{Helpers: helpers, Models: models, Timeout: opts.Timeout.Seconds(), ParseTime: rt.parse, Prefilter: !opts.NoPrefilter,
		CodeCache: filepath.Join(cacheRoot(opts.CacheDir), "pycode")}
	if err := os.MkdirAll(rt.load.CodeCache, 0o755); err != nil {
		rt.warnings = append(rt.warnings, fmt.Sprintf("cache of compiled Python code not used (the rules are compiled on every start): %v", err))
		rt.load.CodeCache = ""
	}
	var pfc *prefilterCache
	if !opts.NoPrefilter {
		if pfc, err = newPrefilterCache(opts.CacheDir, python, version, helpers, models); err != nil {
			rt.warnings = append(rt.warnings, fmt.Sprintf("cache of prefilter analyses not used (every rule is analysed on every start): %v", err))
		}
	}
	keys := make([]string, len(take))
	contents := make([]string, len(take))
	cached := make([]*cachedPrefilter, len(take))
	for i, r := range take {
		keys[i], contents[i] = pfc.key(r.Script)
		cached[i], _ = pfc.get(keys[i])
		rt.load.Rules = append(rt.load.Rules, ruleSpec{ID: r.ID, Path: r.Script, Name: r.Name, Cached: cached[i] != nil,
			Later: cached[i] != nil && cached[i].Later})
		pr := &pyRule{idx: i, r: r, errs: ErrorCount{Rule: r}}
		rt.rules = append(rt.rules, pr)
		rt.byRule[r] = pr
	}
	rt.live, rt.spare = make(chan *worker, opts.Workers), make(chan struct{}, opts.Workers)
	// the first worker analyses the rules for the prefilter and says how
	// each loaded; the others start when a call finds none idle (each
	// costs a second or so of CPU, which a small hunt need not pay)
	w, first, err := rt.start(!opts.NoPrefilter)
	if err != nil {
		return nil, err
	}
	rt.live <- w
	rt.n = opts.Workers
	for range opts.Workers - 1 {
		rt.spare <- struct{}{}
	}
	if len(first.Rules) != len(rt.rules) {
		rt.Close()
		return nil, fmt.Errorf("python worker answered for %d rules of %d", len(first.Rules), len(rt.rules))
	}
	for i, m := range first.Models {
		if m == nil {
			continue
		}
		instead := ""
		for j, src := range rt.modelSources {
			if src.File == models[i].yml && !src.Builtin {
				rt.modelSources[j].Broken = *m
				if src.Overrides {
					instead = "; trailhound's built-in model is not used in its place"
				}
			}
		}
		rt.warnings = append(rt.warnings, fmt.Sprintf("data model %s did not load (rules calling udm() on %s events get an error%s): %s",
			models[i].Path, strings.Join(models[i].LogTypes, ", "), instead, *m))
	}
	if first.CodeCacheError != "" {
		rt.warnings = append(rt.warnings, fmt.Sprintf("cache of compiled Python code not written (the next start compiles the rules again): %s", first.CodeCacheError))
	}
	var putErr error // the first failed write to the prefilter cache
	for i, pr := range rt.rules {
		a := first.Rules[i]
		r := pr.r
		if a.Error != "" {
			r.Unsupported = fmt.Sprintf("Python error loading %s: %s", filepath.Base(r.Script), a.Error)
			rt.loadErrs = append(rt.loadErrs, fmt.Errorf("%s: rule %s: %s", r.Script, r.ID, a.Error))
			continue
		}
		pr.functions = a.Functions
		switch c := cached[i]; {
		case c != nil:
			a.Prefilter = nil
			if err := json.Unmarshal(c.Prefilter, &a.Prefilter); err != nil {
				a.Prefilter = map[string]fieldFilter{} // nothing proven
			}
			a.Exact = c.Exact
		case !opts.NoPrefilter:
			if a.PrefilterSource == contents[i] { // the file did not change under the worker
				if err := pfc.put(keys[i], a.Prefilter, a.PrefilterError, a.PrefilterDeps, a.Exact, a.Later); err != nil && putErr == nil {
					putErr = err
				}
			}
			rt.analysed++
		}
		pr.later = a.Later
		if len(a.Exact) > 0 && !opts.NoPrefilter {
			if pr.exact, err = parseExact(a.Exact, pr.functions, pr.later); err != nil {
				rt.warnings = append(rt.warnings, fmt.Sprintf("%s: its rule() is decided in Python (the worker's exact analysis is not understood: %v)", r.Script, err))
				pr.exact = nil
			}
		}
		if a.Prefilter == nil && !opts.NoPrefilter {
			pr.never = true
		} else if len(a.Prefilter) > 0 {
			pr.prefilter = a.Prefilter
		}
		if err := rt.wire(pr); err != nil {
			r.Unsupported = err.Error()
			continue
		}
		if strings.HasPrefix(r.Unsupported, panther.NeedsPython) {
			r.Unsupported = ""
		}
	}
	if putErr != nil {
		rt.warnings = append(rt.warnings, fmt.Sprintf("cache of prefilter analyses not written (the next start analyses these rules again): %v", putErr))
	}
	if err := ctx.Err(); err != nil {
		rt.Close()
		return nil, err
	}
	return rt, nil
}

// cacheRoot returns trailhound's cache directory: dir, or the user's cache
// directory's trailhound/ (New uses a private temporary folder when the user
// has none).
func cacheRoot(dir string) string {
	if dir != "" {
		return dir
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "trailhound")
}

// writeScript writes the worker module to the cache directory.
func writeScript(cacheDir string) (string, error) {
	dir, err := writeCache(cacheDir, "pyworker", map[string][]byte{"trailhound_worker.py": workerSource})
	if err != nil {
		return "", fmt.Errorf("python worker module: %w", err)
	}
	return filepath.Join(dir, "trailhound_worker.py"), nil
}

// writeCache writes files to a folder of the cache directory named by
// prefix and their hash (so that binaries of several versions share the
// cache directory), unless they are there already, and returns the folder.
func writeCache(cacheDir, prefix string, files map[string][]byte) (string, error) {
	names := sortedKeys(files)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	sum := h.Sum(nil)
	dir := filepath.Join(cacheRoot(cacheDir), prefix+"-"+hex.EncodeToString(sum[:6]))
	for _, n := range names {
		path := filepath.Join(dir, n)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[n]) {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		tmp, err := os.CreateTemp(dir, ".tmp-*")
		if err != nil {
			return "", err
		}
		_, err = tmp.Write(files[n]) // a short write (a full disk) must not leave a cut file
		if err2 := tmp.Close(); err == nil {
			err = err2
		}
		if err != nil {
			os.Remove(tmp.Name())
			return "", err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return "", err
		}
	}
	return dir, nil
}

// checkouts finds the helper folders and data models for the rules: for
// each rule, the nearest folder above it holding global_helpers/ or
// data_models/ (a panther-analysis checkout), and the extra folders.
func checkouts(rules, datamodels []*rule.Rule, extra []string) ([]string, []modelSpec, error) {
	var helpers []string
	seen := map[string]bool{}
	addHelpers := func(d string) {
		if abs, err := filepath.Abs(d); err == nil && !seen[abs] {
			seen[abs] = true
			helpers = append(helpers, abs)
		}
	}
	var modelFiles []string
	seenModel := map[string]bool{}
	addModels := func(d string) {
		ms, _ := filepath.Glob(filepath.Join(d, "*.yml"))
		ms2, _ := filepath.Glob(filepath.Join(d, "*.yaml"))
		for _, m := range append(ms, ms2...) {
			if abs, err := filepath.Abs(m); err == nil && !seenModel[abs] {
				seenModel[abs] = true
				modelFiles = append(modelFiles, abs)
			}
		}
	}
	for _, d := range extra {
		st, err := os.Stat(d)
		if err != nil || !st.IsDir() {
			return nil, nil, fmt.Errorf("--panther-helpers %s: not a folder", d)
		}
		addHelpers(d)
		addModels(d)
	}
	roots := map[string]bool{}
	for _, r := range rules {
		dir, err := filepath.Abs(filepath.Dir(r.Script))
		if err != nil {
			continue
		}
		for d := dir; ; d = filepath.Dir(d) {
			if roots[d] {
				break
			}
			gh, dm := isDir(filepath.Join(d, "global_helpers")), isDir(filepath.Join(d, "data_models"))
			if gh || dm {
				roots[d] = true
				if gh {
					addHelpers(filepath.Join(d, "global_helpers"))
				}
				if dm {
					addHelpers(filepath.Join(d, "data_models"))
					addModels(filepath.Join(d, "data_models"))
				}
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, r := range datamodels {
		if abs, err := filepath.Abs(r.Path); err == nil && !seenModel[abs] {
			seenModel[abs] = true
			modelFiles = append(modelFiles, abs)
		}
	}
	var models []modelSpec
	for _, f := range modelFiles {
		m, ok, err := readModel(f)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			models = append(models, m)
		}
	}
	return helpers, models, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// readModel reads a Panther data model file (AnalysisType: datamodel).
func readModel(path string) (modelSpec, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return modelSpec{}, false, err
	}
	var d struct {
		AnalysisType string   `yaml:"AnalysisType"`
		LogTypes     []string `yaml:"LogTypes"`
		Filename     string   `yaml:"Filename"`
		Enabled      *bool    `yaml:"Enabled"`
		Mappings     []struct {
			Name   string `yaml:"Name"`
			Path   string `yaml:"Path"`
			Method string `yaml:"Method"`
		} `yaml:"Mappings"`
	}
	if err := yaml.Unmarshal(data, &d); err != nil {
		if !bytes.Contains(data, []byte("datamodel")) {
			return modelSpec{}, false, nil
		}
		return modelSpec{}, false, fmt.Errorf("%s: data model: %w", path, err)
	}
	if d.AnalysisType != "datamodel" || (d.Enabled != nil && !*d.Enabled) {
		return modelSpec{}, false, nil
	}
	m := modelSpec{LogTypes: d.LogTypes, Mappings: map[string][2]string{}, yml: path}
	if d.Filename != "" {
		m.Path = filepath.Join(filepath.Dir(path), d.Filename)
	}
	for _, mp := range d.Mappings {
		switch {
		case mp.Name == "":
			return m, false, fmt.Errorf("%s: data model mapping without a Name", path)
		case mp.Method != "":
			m.Mappings[mp.Name] = [2]string{"method", mp.Method}
		case mp.Path != "":
			m.Mappings[mp.Name] = [2]string{"path", mp.Path}
		default:
			return m, false, fmt.Errorf("%s: data model mapping %s has neither Path nor Method", path, mp.Name)
		}
	}
	return m, true, nil
}

// start starts a worker and loads the rules into it.
func (rt *Runtime) start(analyse bool) (*worker, *loadAnswer, error) {
	w, err := startWorker(rt.python, rt.script, rt.kv)
	if err != nil {
		return nil, nil, err
	}
	var ans loadAnswer
	limit := 60*time.Second + time.Duration(len(rt.rules))*rt.opts.Timeout
	req := rt.load
	req.Prefilter = analyse
	if err := w.callJSON('L', req, &ans, limit); err != nil {
		w.stop()
		return nil, nil, fmt.Errorf("loading the Python rules: %w", err)
	}
	return w, &ans, nil
}

// Close stops the workers.
func (rt *Runtime) Close() {
	if rt == nil {
		return
	}
	for range rt.n {
		select {
		case w := <-rt.live:
			w.stop()
		case <-rt.spare:
		}
	}
	rt.n = 0
	if rt.tmpCache != "" {
		os.RemoveAll(rt.tmpCache)
	}
}

// get returns an idle worker, starting one in a spare slot only when none
// is idle.
func (rt *Runtime) get() (*worker, error) {
	select {
	case w := <-rt.live:
		return w, nil
	default:
	}
	select {
	case w := <-rt.live:
		return w, nil
	case <-rt.spare:
		w, _, err := rt.start(false)
		if err != nil {
			rt.spare <- struct{}{}
			return nil, err
		}
		return w, nil
	}
}

// put returns a worker to the pool.
func (rt *Runtime) put(w *worker) { rt.live <- w }

// drop ends a worker that failed; its slot is spare again.
func (rt *Runtime) drop(w *worker) {
	w.stop()
	rt.spare <- struct{}{}
}

// Python is the interpreter the runtime runs, and its version.
func (rt *Runtime) Python() (path, version string) { return rt.python, rt.version }

// Loaded returns the rules the runtime runs.
func (rt *Runtime) Loaded() []*rule.Rule {
	var out []*rule.Rule
	for _, pr := range rt.rules {
		if pr.functions != nil {
			out = append(out, pr.r)
		}
	}
	return out
}

// Prefilter describes a rule's prefilter: the fields and values an event
// needs to reach the rule's Python, or why every event does.
func (rt *Runtime) Prefilter(r *rule.Rule) string {
	if rt == nil {
		return ""
	}
	pr := rt.byRule[r]
	switch {
	case pr == nil || pr.functions == nil:
		return ""
	case rt.opts.NoPrefilter:
		return "off (--no-python-prefilter): every CloudTrail event reaches rule()"
	case pr.never:
		return "rule() can never be true: no event reaches it"
	case len(pr.prefilter) == 0:
		return "none proven: every CloudTrail event reaches rule()"
	}
	var parts []string
	for _, f := range sortedKeys(pr.prefilter) {
		ff := pr.prefilter[f]
		var alts []string
		if len(ff.Eq) > 0 {
			alts = append(alts, fmt.Sprintf("%s in %s", f, strings.Join(quoteAll(ff.Eq), ", ")))
		}
		for _, p := range ff.Prefix {
			if p == "" {
				alts = append(alts, f+" has a value")
			} else {
				alts = append(alts, fmt.Sprintf("%s starts with %q", f, p))
			}
		}
		for _, c := range ff.Contains {
			alts = append(alts, fmt.Sprintf("%s contains %q", f, c))
		}
		for _, c := range ff.Suffix {
			alts = append(alts, fmt.Sprintf("%s ends with %q", f, c))
		}
		for _, c := range ff.ISuffix {
			alts = append(alts, fmt.Sprintf("%s ends with %q (any case)", f, c))
		}
		if ff.IP {
			alts = append(alts, f+" is an IP address")
		}
		if ff.Empty {
			alts = append(alts, f+" is empty or missing")
		}
		parts = append(parts, strings.Join(alts, " or "))
	}
	return strings.Join(parts, "; ")
}

func quoteAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fieldCond turns a prefilter into conditions checked in Go, one per
// field (fields is the field of each).
func fieldCond(pf map[string]fieldFilter) (conds []rule.Cond, fields []string) {
	for _, f := range sortedKeys(pf) {
		ff := pf[f]
		var alts []rule.Cond
		if len(ff.Eq) > 0 {
			alts = append(alts, rule.Cmp{Field: f, Op: rule.OpEq, Values: ff.Eq})
		}
		var pats []rule.Pattern
		for _, p := range ff.Prefix {
			if p == "" {
				alts = append(alts, rule.Cmp{Field: f, Op: rule.OpExists})
				continue
			}
			pats = append(pats, rule.Pattern{Parts: []string{p, ""}})
		}
		for _, c := range ff.Contains {
			pats = append(pats, rule.Pattern{Parts: []string{"", c, ""}})
		}
		if len(pats) > 0 {
			alts = append(alts, rule.Cmp{Field: f, Op: rule.OpWildcard, Patterns: pats})
		}
		if len(ff.Suffix) > 0 {
			alts = append(alts, rule.Cmp{Field: f, Op: rule.OpRegex, Values: []string{suffixRE(ff.Suffix, false)}})
		}
		if len(ff.ISuffix) > 0 {
			alts = append(alts, rule.Cmp{Field: f, Op: rule.OpRegex, Values: []string{suffixRE(ff.ISuffix, true)}})
		}
		if ff.IP {
			alts = append(alts, rule.Cmp{Field: f, Op: rule.OpRegex, Values: []string{ipShape}})
		}
		if ff.Empty {
			path := strings.Split(f, ".")
			alts = append(alts, rule.Pred{Text: f + " is missing or false", Fields: []string{f},
				Match: func(ev *event.Event) bool { return falsy(ev, path) }})
		}
		switch len(alts) {
		case 0:
			continue
		case 1:
			conds = append(conds, alts[0])
		default:
			conds = append(conds, rule.Or{Conds: alts})
		}
		fields = append(fields, f)
	}
	return conds, fields
}

// wire makes a loaded rule runnable.
func (rt *Runtime) wire(pr *pyRule) error {
	r := pr.r
	conds, fields := fieldCond(pr.prefilter)
	// the engine indexes the rule by eventSource and eventName; the other
	// fields are checked once per event and field condition (admitted),
	// before Python is asked
	var index []rule.Cond
	for i, c := range conds {
		if fields[i] == "eventSource" || fields[i] == "eventName" {
			index = append(index, c)
			continue
		}
		b, _ := json.Marshal(pr.prefilter[fields[i]])
		key := fields[i] + "\x00" + string(b)
		k, ok := rt.condKeys[key]
		if !ok {
			m, err := engine.CompileCond(c)
			if err != nil {
				return fmt.Errorf("prefilter of %s: %w", filepath.Base(r.Script), err)
			}
			k = len(rt.conds)
			rt.conds = append(rt.conds, m)
			rt.condEmpty = append(rt.condEmpty, pr.prefilter[fields[i]].Empty)
			rt.fast = append(rt.fast, fieldCheck{node: rt.nodeOf(strings.Split(fields[i], ".")), f: newStrFilter(pr.prefilter[fields[i]])})
			rt.condKeys[key] = k
		}
		pr.conds = append(pr.conds, k)
	}
	// a field required empty (errorCode: the call succeeded) is so on most
	// events: the other fields first, which turn most events away sooner
	slices.SortStableFunc(pr.conds, func(a, b int) int {
		return cmpBool(rt.condEmpty[a], rt.condEmpty[b])
	})
	text := fmt.Sprintf("rule() of %s (Python)", filepath.Base(r.Script))
	pred := rule.Pred{Text: text, Match: func(ev *event.Event) bool {
		res := rt.result(ev, pr)
		return res != nil && res.M
	}}
	switch {
	case pr.never: // pinned to an event name no event has: the engine never offers it one
		r.Cond = rule.Cmp{Field: "eventName", Op: rule.OpEq, Values: []string{"\x00rule() is never true"}}
	case len(index) > 0:
		r.Cond = rule.And{Conds: append(index, pred)}
	default:
		r.Cond = pred
	}
	r.Query = text
	if pf := rt.Prefilter(r); pf != "" {
		r.Query += "; prefilter: " + pf
	}
	if d := rt.DecidedInGo(r); d != "" {
		r.Query += "; " + d
	}
	name := r.Name
	r.Output = &rule.Output{
		Title: func(ev *event.Event) string {
			if res := rt.result(ev, pr); res != nil && res.Title != nil {
				return *res.Title
			}
			return name
		},
		Context: func(ev *event.Event) map[string]any {
			if res := rt.result(ev, pr); res != nil {
				return res.Ctx
			}
			return nil
		},
		Severity: func(ev *event.Event) string {
			if res := rt.result(ev, pr); res != nil && res.Sev != "" {
				return severityOf(res.Sev)
			}
			return ""
		},
		Reference: func(ev *event.Event) string {
			if res := rt.result(ev, pr); res != nil {
				return res.Ref
			}
			return ""
		},
		Runbook: func(ev *event.Event) string {
			if res := rt.result(ev, pr); res != nil {
				return res.Runbook
			}
			return ""
		},
		Description: func(ev *event.Event) string {
			if res := rt.result(ev, pr); res != nil {
				return res.Desc
			}
			return ""
		},
		Destinations: func(ev *event.Event) []string {
			if res := rt.result(ev, pr); res != nil {
				return res.Dest
			}
			return nil
		},
	}
	if pr.later {
		r.Output.Later = func(ev *event.Event) func([]byte) rule.Later {
			ref := refOf(ev)
			return func(rec []byte) rule.Later { return rt.alertFields(pr, ref.header(pr), ref.place(), rec) }
		}
	}
	if r.Dedup != nil {
		r.Dedup.Key = func(ev *event.Event) string {
			if res := rt.result(ev, pr); res != nil && res.Dedup != "" {
				return res.Dedup
			}
			return "defaultDedupString:" + r.ID
		}
		if slices.Contains(pr.functions, "unique") {
			r.Dedup.Unique = func(ev *event.Event) (string, bool) {
				if res := rt.result(ev, pr); res != nil && res.Uniq != nil {
					return *res.Uniq, true
				}
				return "", false
			}
		}
	}
	return nil
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// severityOf maps Panther's severities to trailhound's (Info is low).
func severityOf(s string) string {
	switch strings.ToUpper(s) {
	case "INFO", "LOW":
		return "low"
	case "MEDIUM":
		return "medium"
	case "HIGH":
		return "high"
	case "CRITICAL":
		return "critical"
	}
	return ""
}

// result is what a worker answers for one rule on one event.
type result struct {
	M       bool           `json:"m"`
	E       string         `json:"e"`
	Timeout bool           `json:"timeout"`
	AE      []string       `json:"ae"`
	Title   *string        `json:"title"`
	Dedup   string         `json:"dedup"`
	Ctx     map[string]any `json:"ctx"`
	Sev     string         `json:"sev"`
	Desc    string         `json:"description"`
	Ref     string         `json:"reference"`
	Runbook string         `json:"runbook"`
	Dest    []string       `json:"dest"`
	Uniq    *string        `json:"uniq"`
	NoModel string         `json:"nomodel"` // tests: the log type has no data model
}

// memo is the results of the Python rules for one event: few, so a list
// (a slice by rule index would be larger than the results).
type memo struct {
	idx []int
	res []*result
}

// get returns the result of rule i, nil when it was not evaluated.
func (m *memo) get(i int) *result {
	for k, x := range m.idx {
		if x == i {
			return m.res[k]
		}
	}
	return nil
}

func (m *memo) set(i int, r *result) {
	m.idx = append(m.idx, i)
	m.res = append(m.res, r)
}

// candidates returns the rules an event can reach: those whose
// eventSource/eventName prefilter admits it (cached per pair), whose other
// prefilter fields match are checked per event.
func (rt *Runtime) candidates(ev *event.Event) []*pyRule {
	key := sourceName{ev.Provider(), ev.Action()}
	rt.indexMu.RLock()
	v, ok := rt.index[key]
	rt.indexMu.RUnlock()
	if ok {
		return v
	}
	var out []*pyRule
	for _, pr := range rt.rules {
		if pr.functions == nil || pr.never {
			continue
		}
		if ok := admits(pr.prefilter["eventSource"], key.source) && admits(pr.prefilter["eventName"], key.name); ok {
			out = append(out, pr)
		}
	}
	rt.indexMu.Lock()
	if len(rt.index) > 100000 { // bound it against hostile input
		clear(rt.index)
	}
	rt.index[sourceName{strings.Clone(key.source), strings.Clone(key.name)}] = out
	rt.indexMu.Unlock()
	return out
}

// sourceName is an event's eventSource and eventName.
type sourceName struct{ source, name string }

func admits(ff fieldFilter, v string) bool { return newStrFilter(ff).admits(v) }

// strFilter is a field filter made ready to test strings.
type strFilter struct{ ff fieldFilter }

func newStrFilter(ff fieldFilter) *strFilter { return &strFilter{ff: ff} }

// admits reports whether the filter admits the string v.
func (f *strFilter) admits(v string) bool {
	ff := f.ff
	if ff.any() {
		return true
	}
	for _, e := range ff.Suffix {
		if strings.HasSuffix(strings.TrimSuffix(v, "\n"), e) || strings.HasSuffix(v, e) {
			return true
		}
	}
	for _, e := range ff.ISuffix {
		if endsFold(v, e) || strings.HasSuffix(v, "\n") && endsFold(v[:len(v)-1], e) {
			return true
		}
	}
	if ff.Empty && v == "" {
		return true
	}
	if ff.IP && ipShaped(v) {
		return true
	}
	for _, c := range ff.Contains {
		if strings.Contains(v, c) {
			return true
		}
	}
	for _, x := range ff.Eq {
		if x == v {
			return true
		}
	}
	for _, p := range ff.Prefix {
		if strings.HasPrefix(v, p) && (p != "" || v != "") {
			return true
		}
	}
	return false
}

// result returns the rule's result on the event, evaluating, on the
// first call for the event (unless Prepare did), every Python rule whose
// prefilter admits the event in one call to a worker. It returns nil for
// events that are not CloudTrail records, that the rule's prefilter does
// not admit, or a rule turned off.
func (rt *Runtime) result(ev *event.Event, pr *pyRule) *result {
	if ev.Kind != event.KindCloudTrail {
		return nil
	}
	m, _ := ev.Memo(rt).(*memo)
	if m == nil {
		m = &memo{}
		ev.SetMemo(rt, m)
		s := scratches.Get().(*engine.Scratch)
		batch := rt.admitted(ev, s, rt.newFieldMemo())
		scratches.Put(s)
		rt.evaluate(ev, batch, m)
	}
	return m.get(pr.idx)
}

// admitted returns the rules whose prefilter admits the event. fm holds
// what is known of the event's field conditions and fields, reset at first.
func (rt *Runtime) admitted(ev *event.Event, s *engine.Scratch, fm *fieldMemo) []*pyRule {
	var out []*pyRule
next:
	for _, c := range rt.candidates(ev) {
		for _, i := range c.conds {
			if fm.seen[i] == 0 {
				fm.seen[i] = 2
				if rt.cond(i, ev, s, fm) {
					fm.seen[i] = 1
				}
			}
			if fm.seen[i] == 2 {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

// fieldMemo is what is known of one event for the prefilter: its field
// conditions (seen: 0 unknown, 1 true, 2 false) and the fields they read
// (each read once, the objects on their paths too).
type fieldMemo struct {
	seen []int8
	read []bool
	vals []*fastjson.Value // nil: missing, null, or under something not an object
}

func (rt *Runtime) newFieldMemo() *fieldMemo {
	return &fieldMemo{seen: make([]int8, len(rt.conds)), read: make([]bool, len(rt.nodes)), vals: make([]*fastjson.Value, len(rt.nodes))}
}

// reset forgets the event.
func (fm *fieldMemo) reset() {
	clear(fm.seen)
	clear(fm.read)
}

// pathNode is a field of the prefilter's conditions, or an object on the
// path to one: its key in its parent (-1: the record).
type pathNode struct {
	parent int
	key    string
}

// nodeOf returns the node of a field path, adding it and its parents.
func (rt *Runtime) nodeOf(path []string) int {
	parent := -1
	if len(path) > 1 {
		parent = rt.nodeOf(path[:len(path)-1])
	}
	k := path[len(path)-1]
	for i, n := range rt.nodes {
		if n.parent == parent && n.key == k {
			return i
		}
	}
	rt.nodes = append(rt.nodes, pathNode{parent, k})
	return len(rt.nodes) - 1
}

// node returns the value of node i in the record (nil: missing, null, or
// under a value that is not an object), reading it once per event and
// parsing only the top-level members on its path.
func (rt *Runtime) node(i int, ev *event.Event, fm *fieldMemo) *fastjson.Value {
	if fm.read[i] {
		return fm.vals[i]
	}
	n := rt.nodes[i]
	var v *fastjson.Value
	if n.parent < 0 {
		v = ev.Member(n.key) // only that member is parsed
	} else if cur := rt.node(n.parent, ev, fm); cur != nil && cur.Type() == fastjson.TypeObject {
		v = cur.Get(n.key)
	}
	if v != nil && v.Type() == fastjson.TypeNull {
		v = nil
	}
	fm.read[i], fm.vals[i] = true, v
	return v
}

// decodeResults decodes a worker's answer for one event: each rule's
// result, 0 for rule() false.
func decodeResults(raws []json.RawMessage) ([]*result, error) {
	out := make([]*result, len(raws))
	for i, raw := range raws {
		if len(raw) == 1 && raw[0] == '0' {
			out[i] = falseResult
			continue
		}
		out[i] = &result{}
		if err := json.Unmarshal(raw, out[i]); err != nil {
			return nil, fmt.Errorf("python worker answer: %w", err)
		}
	}
	return out, nil
}

var (
	noResult    = &result{}
	falseResult = &result{} // rule() false, without error (shared: never changed)
	// noRule is the memo of an event that no rule's prefilter admits
	noRule    = &memo{}
	scratches = sync.Pool{New: func() any { return engine.NewScratch() }}
)

// evaluate runs the rules on the event in a worker and records the
// results and errors.
func (rt *Runtime) evaluate(ev *event.Event, batch []*pyRule, m *memo) {
	var live []*pyRule
	for _, pr := range batch {
		rt.mu.Lock()
		off := pr.off
		rt.mu.Unlock()
		if off != "" {
			m.set(pr.idx, noResult)
			continue
		}
		if res, ok := rt.decide(ev, pr); ok {
			m.set(pr.idx, res)
			continue
		}
		live = append(live, pr)
	}
	if len(live) == 0 {
		return
	}
	hdr := header(ev, live)
	rt.events.Add(1)
	rt.calls.Add(int64(len(live)))
	for _, pr := range live {
		pr.calls.Add(1)
	}
	res, err := rt.call(hdr, ev.Raw, len(live))
	if err != nil {
		// a worker died or hung: find the rule, one at a time
		if len(live) > 1 {
			for _, pr := range live {
				rt.evaluate(ev, []*pyRule{pr}, m)
			}
			return
		}
		pr := live[0]
		rt.mu.Lock()
		pr.deaths++
		msg := err.Error()
		if pr.deaths >= 3 {
			pr.off = fmt.Sprintf("turned off after %d worker failures", pr.deaths)
			msg += "; " + pr.off
		}
		rt.mu.Unlock()
		rt.recordErr(pr, ev, msg, false)
		m.set(pr.idx, noResult)
		return
	}
	for i, pr := range live {
		r := res[i]
		m.set(pr.idx, r)
		if r.E != "" {
			rt.recordErr(pr, ev, r.E, false)
		}
		for _, e := range r.AE {
			rt.recordErr(pr, ev, e, true)
		}
	}
}

type evalHeader struct {
	R   []int   `json:"r"`
	T   string  `json:"t,omitempty"`
	ID  string  `json:"id"`
	Now float64 `json:"now"`
}

// header is what a worker needs to know of an event besides its record
// to run rules on it: the rules, its p_event_time (its time, else its
// file's), p_row_id and the time the cache's expiries compare with.
func header(ev *event.Event, rules []*pyRule) evalHeader {
	t := ev.Time()
	if t.IsZero() {
		t = ev.FileTime
	}
	return headerAt(rules, rowID(ev), t)
}

func headerAt(rules []*pyRule, id string, t time.Time) evalHeader {
	hdr := evalHeader{R: make([]int, len(rules)), ID: id}
	for i, pr := range rules {
		hdr.R[i] = pr.idx
	}
	if !t.IsZero() {
		hdr.T = t.UTC().Format("2006-01-02 15:04:05.000000000")
		hdr.Now = float64(t.UnixNano()) / 1e9
	}
	return hdr
}

// matchRef is what the alert functions of a match need of its event once
// the event is gone, copied: most matches raise no alert, so the header
// and the place are made only for those that do.
type matchRef struct {
	id, file string
	line     int
	offset   int64
	t        time.Time
}

func refOf(ev *event.Event) matchRef {
	t := ev.Time()
	if t.IsZero() {
		t = ev.FileTime
	}
	return matchRef{id: strings.Clone(ev.ID()), file: ev.File, line: ev.Line, offset: ev.Offset, t: t}
}

func (m matchRef) header(pr *pyRule) evalHeader {
	return headerAt([]*pyRule{pr}, rowIDOf(m.id, m.file, m.offset), m.t)
}

func (m matchRef) place() string {
	if m.line > 0 {
		return fmt.Sprintf("%s:%d", m.file, m.line)
	}
	return m.file
}

// alertFields runs a rule's alert functions that run only for an alert
// (all but title, dedup and unique) on the record of the match that
// raised it; where is the match's place, for errors.
func (rt *Runtime) alertFields(pr *pyRule, hdr evalHeader, where string, rec []byte) rule.Later {
	var res result
	err := rt.alertCall(hdr, rec, &res)
	if err != nil { // a worker died or hung: counted as in rule(), three turn the rule off
		rt.mu.Lock()
		pr.deaths++
		msg := "alert functions: " + err.Error()
		if pr.deaths >= 3 && pr.off == "" {
			pr.off = fmt.Sprintf("turned off after %d worker failures", pr.deaths)
			msg += "; " + pr.off
		}
		rt.mu.Unlock()
		rt.recordErrAt(pr, where, msg, true)
		return rule.Later{}
	}
	if res.E != "" {
		rt.recordErrAt(pr, where, res.E, true)
	}
	for _, e := range res.AE {
		rt.recordErrAt(pr, where, e, true)
	}
	return rule.Later{Context: res.Ctx, Severity: severityOf(res.Sev), Reference: res.Ref, Runbook: res.Runbook,
		Description: res.Desc, Destinations: res.Dest}
}

// alertCall runs the 'A' operation on an idle worker.
func (rt *Runtime) alertCall(hdr evalHeader, rec []byte, out *result) error {
	h, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	w, err := rt.get()
	if err != nil {
		return err
	}
	rt.trips.Add(1)
	ans, err := w.call('A', [][]byte{h, []byte("\n"), rec}, 2*rt.opts.Timeout)
	if err != nil {
		rt.drop(w)
		return err
	}
	// decoded before the worker goes back: its next answer reuses the buffer
	err = json.Unmarshal(ans, out)
	rt.put(w)
	if err != nil {
		return fmt.Errorf("python worker answer: %w", err)
	}
	return nil
}

// rowID is the event's p_row_id: a hash of its eventID (or place), stable
// across hunts.
func rowID(ev *event.Event) string { return rowIDOf(ev.ID(), ev.File, ev.Offset) }

// rowIDOf is rowID of an event's eventID, file and offset.
func rowIDOf(id, file string, offset int64) string {
	h := fnv.New128a()
	if id != "" {
		h.Write([]byte(id))
	} else {
		fmt.Fprintf(h, "%s\x00%d", file, offset)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// call evaluates on an idle worker, restarting it when it died.
func (rt *Runtime) call(hdr evalHeader, raw []byte, n int) ([]*result, error) {
	h, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	w, err := rt.get()
	if err != nil {
		return nil, err
	}
	limit := time.Duration(n+2) * rt.opts.Timeout // the worker's own limit is per rule
	rt.trips.Add(1)
	ans, err := w.call('E', [][]byte{h, []byte("\n"), raw}, limit)
	if err != nil {
		rt.drop(w) // a new one starts when needed
		return nil, err
	}
	var raws []json.RawMessage
	err = json.Unmarshal(ans, &raws)
	rt.put(w)
	if err != nil {
		return nil, fmt.Errorf("python worker answer: %w", err)
	}
	out, err := decodeResults(raws)
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("python worker answered for %d rules of %d", len(out), n)
	}
	return out, nil
}

// recordErr counts a rule error and keeps the first few messages.
func (rt *Runtime) recordErr(pr *pyRule, ev *event.Event, msg string, aux bool) {
	rt.recordErrAt(pr, place(ev), msg, aux)
}

func (rt *Runtime) recordErrAt(pr *pyRule, where, msg string, aux bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if aux {
		pr.errs.AuxErrors++
	} else {
		pr.errs.Errors++
	}
	if len(pr.errs.First) < 3 {
		pr.errs.First = append(pr.errs.First, fmt.Sprintf("%s (event at %s)", msg, where))
	}
}

// Errors returns the rules that had errors, most errors first.
func (rt *Runtime) Errors() []ErrorCount {
	if rt == nil {
		return nil
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []ErrorCount
	for _, pr := range rt.rules {
		if pr.errs.Errors+pr.errs.AuxErrors > 0 {
			e := pr.errs
			e.First = append([]string(nil), e.First...)
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Errors+out[i].AuxErrors > out[j].Errors+out[j].AuxErrors
	})
	return out
}
