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
// analysed. An entry is named by a hash of everything the analysis reads:
// the worker module (the analyser), the interpreter, the helper files, the
// data models, the rule's path and its file's content; a change to any of
// them finds no entry, and the rule is analysed again.
type prefilterCache struct {
	dir    string
	common []byte // the hash of what all rules share
}

// cachedPrefilter is an entry: the analysis's answer (null: rule() is never
// true; {}: nothing proven) and its error.
type cachedPrefilter struct {
	Prefilter json.RawMessage `json:"prefilter"`
	Error     string          `json:"error,omitempty"`
}

// newPrefilterCache returns the cache for rules loaded with these helpers
// and models, nil when the cache directory cannot be made.
func newPrefilterCache(cacheDir, python, version string, helpers []string, models []modelSpec) *prefilterCache {
	dir := filepath.Join(cacheRoot(cacheDir), "prefilter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil
	}
	h := sha256.New()
	h.Write(workerSource)
	fmt.Fprintf(h, "\x00%s\x00%s\x00", python, version)
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
	return &prefilterCache{dir: dir, common: h.Sum(nil)}
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

// key returns the entry's name for a rule file, "" when it cannot be read.
func (c *prefilterCache) key(script string) string {
	if c == nil {
		return ""
	}
	b, err := os.ReadFile(script)
	if err != nil {
		return ""
	}
	abs, _ := filepath.Abs(script)
	h := sha256.New()
	h.Write(c.common)
	fmt.Fprintf(h, "%s\x00%d\x00", abs, len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:20])
}

// get returns the cached analysis named key.
func (c *prefilterCache) get(key string) (*cachedPrefilter, bool) {
	if c == nil || key == "" {
		return nil, false
	}
	b, err := os.ReadFile(filepath.Join(c.dir, key+".json"))
	if err != nil {
		return nil, false
	}
	var e cachedPrefilter
	if json.Unmarshal(b, &e) != nil || len(e.Prefilter) == 0 {
		return nil, false
	}
	return &e, true
}

// put records an analysis; a cache that cannot be written costs only time.
func (c *prefilterCache) put(key string, pf map[string]fieldFilter, errMsg string) {
	if c == nil || key == "" {
		return
	}
	raw, err := json.Marshal(pf) // nil: null, never true
	if err != nil {
		return
	}
	b, err := json.Marshal(cachedPrefilter{Prefilter: raw, Error: errMsg})
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return
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
}
