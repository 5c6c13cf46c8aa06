// Package catalog loads rules in every format trailhound reads: Elastic
// TOML, Sigma YAML and Panther YAML, with their sidecar tests
// (`<rule file>.tests.yaml`).
package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/panther"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/sigma"
)

// Options are loading options.
type Options struct {
	Sigma sigma.Options
	// NoTests leaves out the rules' unit tests (Panther's Tests blocks and
	// sidecar test files), neither parsed nor checked: for a hunt.
	NoTests bool
}

// ErrNoRules is wrapped by the error for a rule path that does not exist or
// holds no rule file: a mistyped --rules, which should stop a hunt before
// it reads any input.
var ErrNoRules = errors.New("no rule files")

// isMisnamedSidecar reports a test file named like a sidecar but for the
// "s" (x.test.yaml for x.tests.yaml).
func isMisnamedSidecar(name string) bool {
	return strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml")
}

// IsRuleFile reports whether a file name is a rule file of some format.
func IsRuleFile(name string) bool {
	if strings.HasSuffix(name, ".tests.yaml") || strings.HasSuffix(name, ".tests.yml") || isMisnamedSidecar(name) {
		return false
	}
	switch filepath.Ext(name) {
	case ".toml", ".yml", ".yaml":
		return true
	}
	return false
}

// Parse loads the rules of one file, choosing the format by extension and
// content.
func Parse(path string, data []byte, opts Options) ([]*rule.Rule, error) {
	switch {
	case strings.HasSuffix(path, ".toml"):
		r, err := elastic.Parse(path, data)
		if err != nil {
			return nil, err
		}
		return []*rule.Rule{r}, nil
	case panther.IsPanther(data):
		parse := panther.Parse
		if opts.NoTests {
			parse = panther.ParseWithoutTests
		}
		r, err := parse(path, data)
		if err != nil {
			return nil, err
		}
		return []*rule.Rule{r}, nil
	}
	return sigma.Parse(path, data, opts.Sigma)
}

// sidecars are the test files that may sit next to a rule file.
func sidecars(path string) []string {
	base := strings.TrimSuffix(path, filepath.Ext(path))
	return []string{path + ".tests.yaml", base + ".tests.yaml"}
}

// testedRules are the rules of one file that its sidecar tests apply to:
// in a file with Sigma correlations (or legacy aggregations, which become
// one), the correlations, whose alerts the tests expect; else every rule.
func testedRules(rs []*rule.Rule) []*rule.Rule {
	var corr []*rule.Rule
	for _, r := range rs {
		if r.Correlation != nil {
			corr = append(corr, r)
		}
	}
	if len(corr) > 0 {
		return corr
	}
	return rs
}

// LoadFS loads rule files from a file system (files and folders,
// recursively), with their sidecar tests. It returns every rule it could
// load and one error per file it could not.
func LoadFS(fsys fs.FS, paths []string, opts Options) ([]*rule.Rule, []error) {
	return load(paths, func(root string, fn fs.WalkDirFunc) error { return fs.WalkDir(fsys, root, fn) },
		func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) }, opts)
}

// Load loads rule files and folders from disk.
func Load(paths []string, opts Options) ([]*rule.Rule, []error) {
	return load(paths, filepath.WalkDir, os.ReadFile, opts)
}

func load(paths []string, walk func(string, fs.WalkDirFunc) error, read func(string) ([]byte, error), opts Options) ([]*rule.Rule, []error) {
	var rules []*rule.Rule
	var errs []error
	for _, p := range paths {
		var files []string
		var misnamed []error
		err := walk(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch {
			case d.IsDir():
			case isMisnamedSidecar(path):
				misnamed = append(misnamed, fmt.Errorf("%s: not a rule file; did you mean .tests.yaml?", path))
			case IsRuleFile(path) || path == p:
				files = append(files, path)
			}
			return nil
		})
		errs = append(errs, misnamed...)
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: the path does not exist", ErrNoRules)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rules %s: %w", p, err))
			continue
		}
		if len(files) == 0 {
			errs = append(errs, fmt.Errorf("rules %s: %w (.toml, .yml, .yaml) in it", p, ErrNoRules))
			continue
		}
		sort.Strings(files)
		for _, l := range parseAll(files, read, opts) {
			errs = append(errs, l.errs...)
			rules = append(rules, l.rules...)
		}
	}
	errs = append(errs, sigma.ApplyFilters(rules)...)
	rule.MarkDuplicateIDs(rules) // keys for rules sharing an id; the callers print the warnings
	return rules, errs
}

// loaded is what one rule file gave.
type loaded struct {
	rules []*rule.Rule
	errs  []error
}

// parseAll reads and parses files on every core (decoding TOML is most of
// a hunt's start), keeping their order.
func parseAll(files []string, read func(string) ([]byte, error), opts Options) []loaded {
	out := make([]loaded, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(files); i = int(next.Add(1) - 1) {
				out[i] = parseFile(files[i], read, opts)
			}
		}()
	}
	wg.Wait()
	return out
}

// parseFile reads and parses one rule file and the tests beside it. A
// parser that panics on the file (a bug) gives an error naming the file,
// not a crash of the whole load from a goroutine that cannot say which
// file it was reading.
func parseFile(f string, read func(string) ([]byte, error), opts Options) (l loaded) {
	defer func() {
		if p := recover(); p != nil {
			l = loaded{errs: []error{fmt.Errorf("%s: the rule file crashed trailhound's parser (a bug: please report it with the file): %v\n%s", f, p, debug.Stack())}}
		}
	}()
	data, err := read(f)
	if err != nil {
		l.errs = append(l.errs, err)
		return l
	}
	rs, err := Parse(f, data, opts)
	if err != nil {
		l.errs = append(l.errs, err)
		return l
	}
	for _, sc := range sidecars(f) {
		if opts.NoTests {
			break
		}
		data, err := read(sc)
		if err != nil {
			continue // no sidecar under this name
		}
		for _, r := range testedRules(rs) {
			if err := panther.LoadTests(r, sc, data); err != nil {
				l.errs = append(l.errs, err)
			}
		}
		break
	}
	l.rules = rs
	return l
}
