// Package builtin holds the rules trailhound ships, embedded in the binary
// and used when no --rules are given, with their tests.
package builtin

import (
	"embed"
	"errors"
	"fmt"

	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/rule"
)

//go:embed rules
var files embed.FS

// Rules parses the built-in rules. An error means a broken build.
func Rules() ([]*rule.Rule, error) {
	rules, errs := catalog.LoadFS(files, []string{"rules"}, catalog.Options{})
	if len(errs) > 0 {
		return nil, fmt.Errorf("built-in rules: %w", errors.Join(errs...))
	}
	for _, r := range rules {
		r.Path = "builtin:" + r.Path
		for i := range r.Tests {
			r.Tests[i].Path = "builtin:" + r.Tests[i].Path
		}
	}
	return rules, nil
}
