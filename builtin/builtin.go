// Package builtin holds the rules trailhound ships, embedded in the binary
// and used when no --rules are given.
package builtin

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/rule"
)

//go:embed rules/*.toml
var files embed.FS

// Rules parses the built-in rules. An error means a broken build.
func Rules() ([]*rule.Rule, error) {
	names, err := fs.Glob(files, "rules/*.toml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*rule.Rule
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		r, err := elastic.Parse("builtin:"+n, data)
		if err != nil {
			return nil, fmt.Errorf("built-in rule: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}
