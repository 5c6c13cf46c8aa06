package pyrule

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// prefilterCache keeps the prefilter analysis of each rule in the cache
// directory, so that a hunt does not analyse again the rules the last one
// analysed. An entry is named by a hash of what every analysis reads (the
// worker module, the interpreter, PYTHONPATH, the helper files, the data
// models), the rule's path and its file's content; a change to any of them
// finds no entry, and the rule is analysed again. An entry also lists the
// other source files the analysis read (modules the rule calls into,
// wherever they are) with their hashes, and holds only while they are
// unchanged; and it carries a hash of itself: a damaged entry is analysed
// again, never trusted (a wrong prefilter would drop the rule's events).
type prefilterCache struct {
	dir    string
	common []byte            // the hash of what all rules share
	files  map[string]string // the sha256 of files read so far, by path
}

// cachedPrefilter is an entry: the analysis's answer (null: rule() is never
// true; {}: nothing proven), its error, the files it read besides the rule
// (path: sha256), the exact analysis, whether the alert functions run
// later, and the entry's own hash.
type cachedPrefilter struct {
	Key       string            `json:"key"`
	Prefilter json.RawMessage   `json:"prefilter"`
	Error     string            `json:"error,omitempty"`
	Deps      map[string]string `json:"deps,omitempty"`
	// Exact is the exact analysis of rule(), title() and dedup() (exact.go)
	Exact json.RawMessage `json:"exact,omitempty"`
	// Later: the rule's alert functions run only for raised alerts
	Later bool   `json:"later,omitempty"`
	Sum   string `json:"sum"`
}

// sum is the hash of the entry without its Sum.
func (e cachedPrefilter) sum() string {
	e.Sum = ""
	b, _ := json.Marshal(e) // struct fields in order, map keys sorted
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// newPrefilterCache returns the cache for rules loaded with these helpers
// and models, or an error when the cache directory cannot be made.
func newPrefilterCache(cacheDir, python, version string, helpers []string, models []modelSpec) (*prefilterCache, error) {
	dir := filepath.Join(cacheRoot(cacheDir), "prefilter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(workerSource)
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s\x00", python, version, os.Getenv("PYTHONPATH"))
	for _, d := range helpers {
		hashPyFiles(h, d)
	}
	for _, m := range models {
		b, _ := json.Marshal(m)
		h.Write(b)
		if m.Path != "" {
			b, _ := os.ReadFile(m.Path)
			fmt.Fprintf(h, "\x00%d\x00", len(b))
			h.Write(b)
		}
	}
	return &prefilterCache{dir: dir, common: h.Sum(nil), files: map[string]string{}}, nil
}

// hashPyFiles writes the names and contents of the Python files under dir
// to h, in name order.
func hashPyFiles(h interface{ Write([]byte) (int, error) }, dir string) {
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "__pycache__"):
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(p, ".py"):
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
}

// fileSum is the sha256 of a file's content (hex), "-" when it cannot be
// read, as the worker reports the files its analysis read.
func (c *prefilterCache) fileSum(path string) string {
	if s, ok := c.files[path]; ok {
		return s
	}
	s := "-"
	if b, err := os.ReadFile(path); err == nil {
		h := sha256.Sum256(b)
		s = hex.EncodeToString(h[:])
	}
	c.files[path] = s
	return s
}

// key returns the entry's name for a rule file and the sha256 of the
// content it was named by ("" when it cannot be read).
func (c *prefilterCache) key(script string) (key, content string) {
	if c == nil {
		return "", ""
	}
	b, err := os.ReadFile(script)
	if err != nil {
		return "", ""
	}
	sum := sha256.Sum256(b)
	abs, _ := filepath.Abs(script)
	h := sha256.New()
	h.Write(c.common)
	fmt.Fprintf(h, "%s\x00%d\x00", abs, len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:20]), hex.EncodeToString(sum[:])
}

// get returns the cached analysis named key, if it is whole and the files
// it read are as they were.
func (c *prefilterCache) get(key string) (*cachedPrefilter, bool) {
	if c == nil || key == "" {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(c.dir, key+".json"))
	if err != nil {
		return nil, false
	}
	var e cachedPrefilter
	if json.Unmarshal(b, &e) != nil || len(e.Prefilter) == 0 || e.Key != key || e.Sum != e.sum() {
		return nil, false
	}
	for path, sum := range e.Deps {
		if c.fileSum(path) != sum {
			return nil, false
		}
	}
	return &e, true
}

// put records an analysis and the files it read; a cache that cannot be
// written costs only time (the caller warns).
func (c *prefilterCache) put(key string, pf map[string]fieldFilter, errMsg string, deps map[string]string, exact json.RawMessage, later bool) error {
	if c == nil || key == "" {
		return nil
	}
	raw, err := json.Marshal(pf) // nil: null, never true
	if err != nil {
		return err
	}
	e := cachedPrefilter{Key: key, Prefilter: raw, Error: errMsg, Deps: deps, Exact: exact, Later: later}
	e.Sum = e.sum()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err2 := tmp.Close(); err == nil {
		err = err2
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(c.dir, key+".json"))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
