package esql

import (
	"fmt"
	"strings"
)

// dissectPattern is Elasticsearch's dissect: literal delimiters between
// keys, each key taking the text up to the next delimiter.
type dissectPattern struct {
	prefix string
	keys   []dissectKey
	names  []string // output columns, in order of first appearance
}

type dissectKey struct {
	name      string
	skip      bool // %{} or %{?name}
	appendTo  bool // %{+name}
	order     int  // %{+name/2}
	padRight  bool // %{name->}: skip repeated delimiters
	refName   bool // %{*name}: the value names a column
	refValue  bool // %{&name}: the value of the column named by *name
	delimiter string
}

func parseDissect(pat string) (*dissectPattern, error) {
	d := &dissectPattern{}
	i := strings.Index(pat, "%{")
	if i < 0 {
		return nil, fmt.Errorf("no %%{key} in pattern")
	}
	d.prefix = pat[:i]
	rest := pat[i:]
	seen := map[string]bool{}
	for rest != "" {
		if !strings.HasPrefix(rest, "%{") {
			return nil, fmt.Errorf("internal: expected key at %q", rest)
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("unterminated key %q", rest)
		}
		spec := rest[2:end]
		rest = rest[end+1:]
		next := strings.Index(rest, "%{")
		if next < 0 {
			next = len(rest)
		}
		k := dissectKey{delimiter: rest[:next]}
		rest = rest[next:]
		if k.delimiter == "" && rest != "" {
			return nil, fmt.Errorf("keys %%{%s} and the next have no delimiter between them", spec)
		}
		if s, ok := strings.CutSuffix(spec, "->"); ok {
			spec, k.padRight = s, true
		}
		switch {
		case spec == "":
			k.skip = true
		case spec[0] == '?':
			k.skip, spec = true, spec[1:]
		case spec[0] == '+':
			k.appendTo, spec = true, spec[1:]
			if name, ord, ok := strings.Cut(spec, "/"); ok {
				spec = name
				fmt.Sscanf(ord, "%d", &k.order)
			}
		case spec[0] == '*':
			k.refName, spec = true, spec[1:]
		case spec[0] == '&':
			k.refValue, spec = true, spec[1:]
		}
		k.name = spec
		if !k.skip && !k.refName && !k.refValue && !seen[spec] {
			seen[spec] = true
			d.names = append(d.names, spec)
		}
		d.keys = append(d.keys, k)
	}
	return d, nil
}

// match splits s; ok is false when the pattern does not match.
func (d *dissectPattern) match(s, sep string) (map[string]string, bool) {
	if !strings.HasPrefix(s, d.prefix) {
		return nil, false
	}
	s = s[len(d.prefix):]
	out := map[string]string{}
	type part struct {
		v     string
		order int
	}
	appends := map[string][]part{}
	refNames := map[string]string{}
	for i, k := range d.keys {
		var v string
		if k.delimiter == "" { // the last key takes the rest
			v, s = s, ""
		} else {
			j := strings.Index(s, k.delimiter)
			if j < 0 {
				return nil, false
			}
			v, s = s[:j], s[j+len(k.delimiter):]
			if k.padRight {
				for strings.HasPrefix(s, k.delimiter) {
					s = s[len(k.delimiter):]
				}
			}
		}
		switch {
		case k.skip:
		case k.refName:
			refNames[k.name] = v
		case k.refValue:
			if n, ok := refNames[k.name]; ok {
				out[n] = v
			}
		case k.appendTo:
			appends[k.name] = append(appends[k.name], part{v, k.order*1000 + i})
		default:
			out[k.name] = v
		}
	}
	for name, parts := range appends {
		if v, ok := out[name]; ok {
			parts = append([]part{{v, -1}}, parts...)
		}
		ordered := make([]string, 0, len(parts))
		for len(parts) > 0 {
			m := 0
			for j := range parts {
				if parts[j].order < parts[m].order {
					m = j
				}
			}
			ordered = append(ordered, parts[m].v)
			parts = append(parts[:m], parts[m+1:]...)
		}
		out[name] = strings.Join(ordered, sep)
	}
	return out, true
}
