package pyrule

import (
	"embed"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// builtinModels are trailhound's own data models (Panther's format: a YAML
// file and its Python methods) for the log types of Panther's standard
// rules' tests; see datamodels/README.md.
//
//go:embed datamodels/*.yml datamodels/*.py
var builtinModels embed.FS

// ModelSource says which data model serves a log type's udm() calls.
type ModelSource struct {
	LogType string
	// File is the model's YAML file: a path, or for a built-in model its
	// name among trailhound's built-in models.
	File string
	// Builtin: the model is trailhound's own, used because no model of the
	// checkouts covers the log type.
	Builtin bool
	// Overrides: a checkout's model, used instead of trailhound's built-in
	// one for the log type.
	Overrides bool
	// Broken is why the model did not load: udm() on the log type's events
	// is then an error (a checkout's model is not replaced by a built-in
	// one).
	Broken string
}

func (m ModelSource) String() string {
	switch {
	case m.Broken != "" && m.Overrides:
		return fmt.Sprintf("data model for %s: %s did not load (%s); udm() on these events is an error (trailhound's built-in one is not used in its place)", m.LogType, m.File, m.Broken)
	case m.Broken != "":
		return fmt.Sprintf("data model for %s: %s did not load (%s); udm() on these events is an error", m.LogType, m.File, m.Broken)
	case m.Builtin:
		return fmt.Sprintf("data model for %s: trailhound's built-in %s (no checkout has one)", m.LogType, m.File)
	case m.Overrides:
		return fmt.Sprintf("data model for %s: %s (instead of trailhound's built-in one)", m.LogType, m.File)
	}
	return fmt.Sprintf("data model for %s: %s", m.LogType, m.File)
}

// DataModels returns the data model used for each log type, by log type.
func (rt *Runtime) DataModels() []ModelSource {
	if rt == nil {
		return nil
	}
	return rt.modelSources
}

// addBuiltinModels writes trailhound's built-in data models to the cache
// directory and appends those whose log types no model in models covers
// (a checkout's own model wins). It returns the models, per log type the
// model that serves it (the first listing it, as the worker takes them),
// and a warning per log type that several of the checkouts' models cover.
func addBuiltinModels(cacheDir string, models []modelSpec) (_ []modelSpec, _ []ModelSource, warnings []string, err error) {
	files := map[string][]byte{}
	err = fs.WalkDir(builtinModels, "datamodels", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := builtinModels.ReadFile(p)
		files[filepath.Base(p)] = b
		return err
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("built-in data models: %w", err)
	}
	dir, err := writeCache(cacheDir, "pymodels", files)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("built-in data models: %w", err)
	}
	covered := map[string]bool{}
	for _, m := range models {
		for _, lt := range m.LogTypes {
			covered[lt] = true
		}
	}
	builtinOf := map[string]bool{}
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, ".yml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		m, ok, err := readModel(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("built-in data model %s: %w", name, err)
		}
		if !ok {
			return nil, nil, nil, fmt.Errorf("built-in data model %s: not an enabled data model", name)
		}
		m.builtin = name
		use := true
		for _, lt := range m.LogTypes {
			builtinOf[lt] = true
			if covered[lt] {
				use = false
			}
		}
		if use {
			models = append(models, m)
		}
	}
	var out []ModelSource
	seen := map[string]string{} // log type: the model serving it
	for _, m := range models {
		for _, lt := range m.LogTypes {
			if first, ok := seen[lt]; ok {
				if m.builtin == "" {
					warnings = append(warnings, fmt.Sprintf("data models %s and %s both cover %s: the first is used", first, m.yml, lt))
				}
				continue
			}
			seen[lt] = m.yml
			src := ModelSource{LogType: lt, File: m.yml, Builtin: m.builtin != ""}
			if src.Builtin {
				src.File = m.builtin
			} else {
				src.Overrides = builtinOf[lt]
			}
			out = append(out, src)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogType < out[j].LogType })
	return models, out, warnings, nil
}

// modelOf returns the data model serving a log type.
func (rt *Runtime) modelOf(logType string) (ModelSource, bool) {
	for _, m := range rt.modelSources {
		if m.LogType == logType {
			return m, true
		}
	}
	return ModelSource{}, false
}
