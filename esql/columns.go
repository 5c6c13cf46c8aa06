package esql

import (
	"path"
	"strings"

	"github.com/trailhound/trailhound/event"
)

// columns is what a query can read at some command, as ES|QL checks a
// query against the index mapping before running it. We have no mapping: a
// field of the index is any name of the ECS vocabulary (event.*, aws.*,
// user.* ...: the aws integration's mapping, whose fields are null where a
// record lacks them) or of the raw CloudTrail record (eventName,
// userIdentity.*, requestParameters.* ...), and the METADATA columns the
// FROM command names; when FROM also names another data source's indexes
// (logs-endpoint.*), whose mappings we do not have, any name. EVAL, DISSECT, GROK, RENAME and STATS add columns;
// KEEP, DROP, RENAME and STATS take them away.
type columns struct {
	src   *Query
	index bool            // the index's fields are columns
	keep  []string        // with index: KEEP patterns the index's fields must match (nil: all)
	drop  []string        // with index: DROP patterns and renamed fields
	cols  map[string]bool // columns made (or kept) by commands
	// anyField: FROM also names another data source's indexes, so any name
	// may be a field of the index
	anyField bool
}

func (c *columns) isIndexField(name string) bool {
	if strings.HasPrefix(name, "_") {
		for _, m := range c.src.Metadata {
			if m == name {
				return true
			}
		}
		return false
	}
	return c.anyField || event.IsECSName(name) || event.IsRawName(name)
}

// otherSource reports whether an index pattern names another data source's
// indexes (logs-endpoint.*, logs-kubernetes.*, .alerts-*, logs-*), whose
// fields we cannot know.
func otherSource(pattern string) bool {
	return !strings.Contains(pattern, "cloudtrail") &&
		(strings.HasPrefix(pattern, "logs-") || strings.HasPrefix(pattern, ".") || strings.HasPrefix(pattern, "*"))
}

func matchAny(pats []string, name string) bool {
	for _, p := range pats {
		if ok, _ := path.Match(strings.ReplaceAll(p, "[", `\[`), name); ok || p == name {
			return true
		}
	}
	return false
}

func (c *columns) known(name string) bool {
	if c.cols[name] {
		return true
	}
	return c.index && c.isIndexField(name) && (c.keep == nil || matchAny(c.keep, name)) && !matchAny(c.drop, name)
}

// checkColumns reports the first column a command reads that does not
// exist at that command: "Unknown column [x]", as ES|QL does, rather than a
// column of nulls. starts are the commands' positions in src.
func checkColumns(q *Query, src string, starts []int) error {
	c := &columns{src: q, index: true, cols: map[string]bool{}}
	for _, ix := range q.Indexes {
		c.anyField = c.anyField || otherSource(ix)
	}
	var bad string
	need := func(e Expr) {
		walkExpr(e, func(x Expr) {
			if f, ok := x.(Field); ok && bad == "" && f.Name != "*" && !c.known(f.Name) {
				bad = f.Name
			}
		})
	}
	for i, cmd := range q.Commands {
		switch cmd := cmd.(type) {
		case Where:
			need(cmd.Cond)
		case Eval:
			for _, a := range cmd.Fields {
				need(a.Expr)
				c.cols[a.Name] = true // later assignments may read it
			}
		case Dissect:
			need(cmd.Input)
			for _, n := range Outputs(cmd) {
				c.cols[n] = true
			}
		case Grok:
			need(cmd.Input)
			for _, n := range Outputs(cmd) {
				c.cols[n] = true
			}
		case MvExpand:
			need(Field{cmd.Field})
		case Sort:
			for _, k := range cmd.Keys {
				need(k.Expr)
			}
		case Stats:
			for _, a := range cmd.Aggs {
				for _, x := range append([]Expr{a.Arg, a.Filter}, a.Args...) {
					if x != nil {
						need(x)
					}
				}
			}
			for _, b := range cmd.By {
				need(b.Expr)
			}
			if bad == "" {
				c.index, c.keep, c.drop, c.cols = false, nil, nil, map[string]bool{}
				for _, a := range cmd.Aggs {
					c.cols[a.Name] = true
				}
				for _, b := range cmd.By {
					c.cols[b.Name] = true
				}
			}
		case Keep:
			kept := map[string]bool{}
			var pats []string
			for _, p := range cmd.Patterns {
				if !strings.ContainsAny(p, "*?[") {
					if !c.known(p) && bad == "" {
						bad = p
					}
					kept[p] = true
					continue
				}
				pats = append(pats, p)
				for n := range c.cols {
					if matchAny([]string{p}, n) {
						kept[n] = true
					}
				}
			}
			if c.index {
				c.keep = pats // index fields only by a pattern; named ones are in kept
				if c.keep == nil {
					c.index = false
				}
			}
			c.cols = kept
		case Drop:
			for _, p := range cmd.Patterns {
				if !strings.ContainsAny(p, "*?[") && !c.known(p) && bad == "" {
					bad = p
				}
				for n := range c.cols {
					if matchAny([]string{p}, n) {
						delete(c.cols, n)
					}
				}
				c.drop = append(c.drop, p)
			}
		case Rename:
			for k, from := range cmd.From {
				if !c.known(from) && bad == "" {
					bad = from
				}
				delete(c.cols, from)
				c.drop = append(c.drop, from)
				c.cols[cmd.To[k]] = true
			}
		}
		if bad != "" {
			pos := starts[i]
			if j := strings.Index(src[pos:], bad); j >= 0 {
				pos += j
			}
			return errAt(src, pos, "Unknown column [%s] in %s (a column is a field of the index, ECS or raw CloudTrail, or made by an earlier command)", bad, cmd.name())
		}
	}
	return nil
}
