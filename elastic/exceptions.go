package elastic

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/trailhound/trailhound/rule"
)

// exceptionItem is one item of a Kibana exception-list export (NDJSON).
type exceptionItem struct {
	ItemID  string           `json:"item_id"`
	ListID  string           `json:"list_id"`
	Name    string           `json:"name"`
	Type    string           `json:"type"`
	Entries []exceptionEntry `json:"entries"`
	// export summary lines have these instead
	ExportedCount *int `json:"exported_exception_list_count"`
}

type exceptionEntry struct {
	Field    string          `json:"field"`
	Operator string          `json:"operator"` // included | excluded
	Type     string          `json:"type"`     // match | match_any | exists | wildcard | list | nested
	Value    json.RawMessage `json:"value"`
}

// LoadExceptions reads exception items exported from Kibana (one JSON object
// per line: list headers, items with entries, and an export summary). Each
// item becomes a condition: an event matching all of an item's entries is an
// exception. Values are case-sensitive, as in Elastic.
func LoadExceptions(path string) ([]rule.Exception, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []rule.Exception
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var it exceptionItem
		if err := json.Unmarshal([]byte(text), &it); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if len(it.Entries) == 0 {
			continue // a list header or the export summary
		}
		var conds []rule.Cond
		for i, e := range it.Entries {
			c, err := exceptionCond(e)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: item_id %s (%q) entry %d: %w", path, line, it.ItemID, it.Name, i+1, err)
			}
			conds = append(conds, c)
		}
		out = append(out, rule.Exception{ItemID: it.ItemID, ListID: it.ListID, Name: it.Name, Cond: rule.Simplify(rule.And{Conds: conds})})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

func exceptionCond(e exceptionEntry) (rule.Cond, error) {
	if e.Field == "" {
		return nil, fmt.Errorf("no field")
	}
	var c rule.Cmp
	c.Field = e.Field
	switch e.Type {
	case "match", "wildcard":
		var v string
		if err := json.Unmarshal(e.Value, &v); err != nil {
			return nil, fmt.Errorf("%s needs a string value: %w", e.Type, err)
		}
		if e.Type == "match" {
			c.Op, c.Values = rule.OpEq, []string{v}
		} else {
			c.Op, c.Values = rule.OpRegex, []string{wildcardRegex(v)}
		}
	case "match_any":
		var vs []string
		if err := json.Unmarshal(e.Value, &vs); err != nil || len(vs) == 0 {
			return nil, fmt.Errorf("match_any needs a list of strings")
		}
		c.Op, c.Values = rule.OpEq, vs
	case "exists":
		c.Op = rule.OpExists
	case "list":
		return nil, fmt.Errorf("value lists (type list) are not supported")
	case "nested":
		return nil, fmt.Errorf("nested entries are not supported (CloudTrail ECS has no nested fields)")
	default:
		return nil, fmt.Errorf("unknown entry type %q", e.Type)
	}
	switch e.Operator {
	case "included", "":
		return c, nil
	case "excluded":
		return rule.Not{Cond: c}, nil
	}
	return nil, fmt.Errorf("unknown operator %q", e.Operator)
}

// wildcardRegex turns an exception wildcard (`*` any run, `?` one
// character, `\` escapes) into a regular expression.
func wildcardRegex(w string) string {
	var b strings.Builder
	escaped := false
	for _, r := range w {
		switch {
		case escaped:
			b.WriteString(regexp.QuoteMeta(string(r)))
			escaped = false
		case r == '\\':
			escaped = true
		case r == '*':
			b.WriteString(".*")
		case r == '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return b.String()
}
