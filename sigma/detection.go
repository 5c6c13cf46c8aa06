package sigma

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/regexlit"
	"github.com/trailhound/trailhound/rule"
)

// compiler turns a detection's search identifiers into conditions.
type compiler struct {
	placeholders map[string][]string
}

// search compiles one search identifier: a map ANDs its items, a list ORs
// its entries (maps, or plain strings searched as keywords).
func (c *compiler) search(n *yaml.Node) (rule.Cond, error) {
	switch n.Kind {
	case yaml.MappingNode:
		var conds []rule.Cond
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			var cond rule.Cond
			var err error
			if k == "|all" || strings.HasPrefix(k, "|") {
				cond, err = c.keywords(v, k)
			} else {
				cond, err = c.item(k, v)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			conds = append(conds, cond)
		}
		return rule.And{Conds: conds}, nil
	case yaml.SequenceNode:
		allScalars := true
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				allScalars = false
			}
		}
		if allScalars {
			return c.keywords(n, "")
		}
		var conds []rule.Cond
		for _, e := range n.Content {
			x, err := c.search(e)
			if err != nil {
				return nil, err
			}
			conds = append(conds, x)
		}
		return rule.Or{Conds: conds}, nil
	case yaml.ScalarNode:
		return c.keywords(&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{n}}, "")
	}
	return nil, fmt.Errorf("a search identifier is a map or a list")
}

// keywords searches every string leaf of the event for the values (any of
// them; all of them under the key "|all").
func (c *compiler) keywords(n *yaml.Node, key string) (rule.Cond, error) {
	vals, err := scalars(n)
	if err != nil {
		return nil, err
	}
	mods := strings.Split(strings.TrimPrefix(key, "|"), "|")
	if key == "" {
		mods = nil
	}
	hasAll := false
	var rest []string
	for _, m := range mods {
		if m == "all" {
			hasAll = true
		} else if m != "" {
			rest = append(rest, m)
		}
	}
	var ms []matcher
	for _, v := range vals {
		if v == nil {
			return nil, fmt.Errorf("null is not a keyword")
		}
		// keywords match anywhere in a leaf, as Sigma backends do for
		// full-text search
		m, err := wildcard(wrap(*v, true, true), false)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("modifiers %v on keywords are not supported", rest)
	}
	text := "keywords " + quoteList(vals)
	return rule.Pred{Text: text, Match: func(ev *event.Event) bool {
		leaves := appendLeaves(nil, ev.Source())
		for _, m := range ms {
			hit := false
			for _, s := range leaves {
				if m(s) {
					hit = true
					break
				}
			}
			if hasAll && !hit {
				return false
			}
			if !hasAll && hit {
				return true
			}
		}
		return hasAll
	}}, nil
}

// scalars returns the values of a scalar or a list of scalars (nil for
// null); a list or map inside is an error, not read as an empty string.
func scalars(n *yaml.Node) ([]*string, error) {
	elems := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		elems = n.Content
	}
	var out []*string
	for _, x := range elems {
		switch {
		case x.Kind != yaml.ScalarNode:
			return nil, fmt.Errorf("a value is a scalar or a list of scalars, not a list or map inside one")
		case x.Tag == "!!null":
			out = append(out, nil)
		default:
			v := x.Value
			out = append(out, &v)
		}
	}
	return out, nil
}

func quoteList(vals []*string) string {
	var parts []string
	for _, v := range vals {
		if v == nil {
			parts = append(parts, "null")
		} else {
			parts = append(parts, fmt.Sprintf("%q", *v))
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

var knownModifiers = map[string]bool{
	"contains": true, "startswith": true, "endswith": true, "all": true, "re": true, "i": true, "m": true, "s": true,
	"ignorecase": true, "multiline": true, "dotall": true, "cidr": true, "base64": true, "base64offset": true,
	"utf16le": true, "utf16be": true, "utf16": true, "wide": true, "windash": true, "exists": true, "gt": true,
	"gte": true, "lt": true, "lte": true, "fieldref": true, "cased": true, "neq": true, "expand": true,
	"minute": true, "hour": true, "day": true, "week": true, "month": true, "year": true,
}

// maxWindash and maxAlternatives bound what encoding modifiers expand a
// value into (|windash gives 5 variants per dash).
const (
	maxWindash      = 4
	maxAlternatives = 1024
)

var placeholderRE = regexp.MustCompile(`%([A-Za-z0-9_.-]+)%`)

// item compiles `field|modifiers: value(s)`.
func (c *compiler) item(key string, n *yaml.Node) (rule.Cond, error) {
	parts := strings.Split(key, "|")
	field, mods := parts[0], parts[1:]
	has := map[string]bool{}
	for _, m := range mods {
		if !knownModifiers[m] {
			return nil, fmt.Errorf("unknown modifier |%s", m)
		}
		has[m] = true
	}
	if n.Kind == yaml.MappingNode {
		return nil, fmt.Errorf("a field's value is a scalar or a list")
	}
	vals, err := scalars(n)
	if err != nil {
		return nil, err
	}
	text := key + ": " + quoteList(vals)
	get := event.ResolveView(field)
	if field == "" {
		return nil, fmt.Errorf("empty field name")
	}

	if has["exists"] {
		if len(mods) != 1 || len(vals) != 1 || vals[0] == nil {
			return nil, fmt.Errorf("|exists takes one value, true or false, and no other modifier")
		}
		want := strings.EqualFold(*vals[0], "true")
		return rule.Pred{Text: text, Fields: []string{field}, Only: true, Match: func(ev *event.Event) bool {
			return len(get(ev)) > 0 == want
		}}, nil
	}
	if c := plainEq(field, mods, vals); c != nil {
		return *c, nil
	}
	if has["all"] && len(vals) < 2 {
		return nil, fmt.Errorf("|all needs more than one value")
	}

	// expand placeholders
	if has["expand"] {
		var out []*string
		for _, v := range vals {
			if v == nil {
				out = append(out, nil)
				continue
			}
			alts := []string{*v}
			for _, m := range placeholderRE.FindAllStringSubmatch(*v, -1) {
				repl, ok := c.placeholders[m[1]]
				if !ok {
					return nil, fmt.Errorf("placeholder %%%s%% has no values (pass --placeholder %s=VALUE,...)", m[1], m[1])
				}
				var next []string
				for _, a := range alts {
					for _, r := range repl {
						next = append(next, strings.ReplaceAll(a, m[0], r))
					}
				}
				alts = next
			}
			for _, a := range alts {
				out = append(out, &a)
			}
		}
		vals = out
	}

	// fieldref: compare with another field
	if has["fieldref"] {
		var others []event.View
		for _, v := range vals {
			if v == nil {
				return nil, fmt.Errorf("|fieldref needs field names")
			}
			others = append(others, event.ResolveView(*v))
		}
		// the other field's value is literal text: compare strings directly
		cmp := func(s, t string) bool { return s == t }
		switch {
		case has["contains"]:
			cmp = strings.Contains
		case has["startswith"]:
			cmp = strings.HasPrefix
		case has["endswith"]:
			cmp = strings.HasSuffix
		}
		fold := !has["cased"]
		neq := has["neq"]
		return rule.Pred{Text: text, Fields: []string{field}, Match: func(ev *event.Event) bool {
			mine, _ := values(get, ev, nil)
			hit := false
			for _, o := range others {
				theirs, _ := values(o, ev, nil)
				for _, t := range theirs {
					for _, s := range mine {
						if fold {
							s, t = strings.ToLower(s), strings.ToLower(t)
						}
						hit = hit || cmp(s, t)
					}
				}
			}
			return hit != neq
		}}, nil
	}

	// one matcher per value (transforms may give several alternatives)
	type valueMatch struct {
		null bool
		alts []matcher
	}
	var vms []valueMatch
	for _, v := range vals {
		if v == nil {
			vms = append(vms, valueMatch{null: true})
			continue
		}
		alts := []string{*v}
		literal := false // transformed values are literal text
		reFlags := ""
		mode := ""
		var special func(string) (matcher, error)
		for _, m := range mods {
			switch m {
			case "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "windash":
				var next []string
				for _, a := range alts {
					if m == "windash" && strings.Count(a, "-")+strings.Count(a, "/") > maxWindash {
						return nil, fmt.Errorf("|windash: more than %d dashes in %q (5 variants each)", maxWindash, a)
					}
					if !literal {
						a = unescape(a)
					}
					next = append(next, transforms[m](a)...)
					if len(next) > maxAlternatives {
						return nil, fmt.Errorf("|%s: more than %d alternatives", m, maxAlternatives)
					}
				}
				alts, literal = next, true
			case "contains", "startswith", "endswith":
				mode = m
			case "re":
				special = func(s string) (matcher, error) {
					re, err := regexp.Compile(reFlags + s)
					if err != nil {
						return nil, err
					}
					// the literals any match holds rule out most values
					// before the regex engine runs
					if pass := regexlit.Filter(reFlags + s); pass != nil {
						return func(v string) bool { return pass(v) && re.MatchString(v) }, nil
					}
					return re.MatchString, nil
				}
			case "i", "ignorecase":
				reFlags += "(?i)"
			case "m", "multiline":
				reFlags += "(?m)"
			case "s", "dotall":
				reFlags += "(?s)"
			case "cidr":
				special = cidrMatcher
			case "gt", "gte", "lt", "lte":
				op := m
				special = func(s string) (matcher, error) { return numeric(op, s) }
			case "minute", "hour", "day", "week", "month", "year":
				part := m
				special = func(s string) (matcher, error) { return timePart(part, s) }
			}
		}
		var vm valueMatch
		for _, a := range alts {
			var mt matcher
			var err error
			if special != nil {
				mt, err = special(a)
			} else {
				if literal {
					a = escapeLiteral(a)
				}
				switch mode {
				case "contains":
					a = wrap(a, true, true)
				case "startswith":
					a = wrap(a, false, true)
				case "endswith":
					a = wrap(a, true, false)
				}
				mt, err = wildcard(a, has["cased"])
			}
			if err != nil {
				return nil, fmt.Errorf("value %q: %w", a, err)
			}
			vm.alts = append(vm.alts, mt)
		}
		vms = append(vms, vm)
	}
	all, neq := has["all"], has["neq"]
	return rule.Pred{Text: text, Fields: []string{field}, Only: true, Match: func(ev *event.Event) bool {
		var small [4]string // most fields hold one value
		strs, _ := values(get, ev, small[:0])
		matchOne := func(vm valueMatch) bool {
			if vm.null {
				return len(strs) == 0
			}
			for _, m := range vm.alts {
				for _, s := range strs {
					if m(s) {
						return true
					}
				}
			}
			return false
		}
		result := all
		for _, vm := range vms {
			hit := matchOne(vm)
			if all && !hit {
				result = false
				break
			}
			if !all && hit {
				result = true
				break
			}
		}
		return result != neq
	}}, nil
}

// plainEq returns a plain comparison for the commonest item, an event source
// or name equal to one of some literal values: the engine indexes rules by
// those (nil for anything else).
func plainEq(field string, mods []string, vals []*string) *rule.Cmp {
	if field != "eventSource" && field != "eventName" {
		return nil
	}
	cased := false
	for _, m := range mods {
		if m != "cased" {
			return nil
		}
		cased = true
	}
	c := &rule.Cmp{Field: field, Op: rule.OpEq, CaseInsensitive: !cased}
	for _, v := range vals {
		if v == nil || hasWildcard(*v) {
			return nil
		}
		c.Values = append(c.Values, unescape(*v))
	}
	return c
}

// hasWildcard reports whether a Sigma value has an unescaped * or ?.
func hasWildcard(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		}
	}
	return false
}
