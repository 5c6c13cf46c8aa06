package panther

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
	"go.yaml.in/yaml/v3"
)

// expr is a compiled match expression over a JSON value (the event, or an
// element in a list comprehension).
type expr func(root *fastjson.Value) bool

// key is a compiled key specifier: it yields the value at a path, or, with
// [*], the list of values.
type key struct {
	text  string
	steps []step
}

type step struct {
	name  string
	index int  // >= 0 for [n]
	all   bool // [*]
}

func parseKeyPath(s string) (key, error) {
	k := key{text: s}
	for _, seg := range strings.Split(s, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		if name != "" {
			k.steps = append(k.steps, step{name: name, index: -1})
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			if !ok {
				return k, fmt.Errorf("KeyPath %q: missing ]", s)
			}
			if idx == "*" {
				k.steps = append(k.steps, step{all: true, index: -1})
			} else {
				n, err := strconv.Atoi(idx)
				if err != nil {
					return k, fmt.Errorf("KeyPath %q: bad index %q", s, idx)
				}
				k.steps = append(k.steps, step{index: n})
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return k, nil
}

// get returns the value at the key (nil when absent); a [*] step gathers
// the values into a list (multi is true).
func (k key) get(root *fastjson.Value) (vals []*fastjson.Value, multi bool) {
	cur := []*fastjson.Value{root}
	for _, s := range k.steps {
		var next []*fastjson.Value
		for _, v := range cur {
			switch {
			case s.all:
				multi = true
				next = append(next, v.GetArray()...)
			case s.index >= 0:
				if arr := v.GetArray(); s.index < len(arr) {
					next = append(next, arr[s.index])
				}
			default:
				if c := v.Get(s.name); c != nil {
					next = append(next, c)
				}
			}
		}
		cur = next
	}
	return cur, multi
}

// keySpec reads Key, DeepKey or KeyPath from a mapping.
func keySpec(m map[string]*yaml.Node) (key, bool, error) {
	if n, ok := m["KeyPath"]; ok {
		k, err := parseKeyPath(n.Value)
		return k, true, err
	}
	if n, ok := m["Key"]; ok {
		return key{text: n.Value, steps: []step{{name: n.Value, index: -1}}}, true, nil
	}
	if n, ok := m["DeepKey"]; ok {
		k := key{}
		var parts []string
		for _, e := range n.Content {
			if i, err := strconv.Atoi(e.Value); err == nil && e.Tag == "!!int" {
				k.steps = append(k.steps, step{index: i})
			} else {
				k.steps = append(k.steps, step{name: e.Value, index: -1})
			}
			parts = append(parts, e.Value)
		}
		k.text = strings.Join(parts, ".")
		return k, true, nil
	}
	return key{}, false, nil
}

// keyOf reads a key specifier given on its own (AlertContext, GroupBy).
func keyOf(n *yaml.Node) (key, error) {
	m, err := mapping(n)
	if err != nil {
		return key{}, err
	}
	k, ok, err := keySpec(m)
	if err == nil && !ok {
		err = fmt.Errorf("line %d: needs Key, DeepKey or KeyPath", n.Line)
	}
	return k, err
}

func mapping(n *yaml.Node) (map[string]*yaml.Node, error) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected a mapping", n.Line)
	}
	m := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		m[n.Content[i].Value] = n.Content[i+1]
	}
	return m, nil
}

// compileList compiles a list of match expressions, ANDed.
func compileList(n *yaml.Node) (expr, error) {
	if n.Kind != yaml.SequenceNode {
		e, err := compileExpr(n)
		return e, err
	}
	var es []expr
	for _, c := range n.Content {
		e, err := compileExpr(c)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return func(r *fastjson.Value) bool {
		for _, e := range es {
			if !e(r) {
				return false
			}
		}
		return true
	}, nil
}

func compileExpr(n *yaml.Node) (expr, error) {
	m, err := mapping(n)
	if err != nil {
		return nil, err
	}
	for _, comb := range []string{"All", "Any", "OnlyOne", "None"} {
		if list, ok := m[comb]; ok {
			var es []expr
			for _, c := range list.Content {
				e, err := compileExpr(c)
				if err != nil {
					return nil, err
				}
				es = append(es, e)
			}
			return combinator(comb, es), nil
		}
	}
	if _, ok := m["Enrichment"]; ok {
		return nil, fmt.Errorf("line %d: Enrichment (lookup tables) is not supported", n.Line)
	}
	condNode, ok := m["Condition"]
	if !ok {
		return nil, fmt.Errorf("line %d: a match expression needs a Condition or a combinator", n.Line)
	}
	cond := condNode.Value
	switch cond {
	case "AlwaysTrue":
		return func(*fastjson.Value) bool { return true }, nil
	case "AlwaysFalse":
		return func(*fastjson.Value) bool { return false }, nil
	}
	k, hasKey, err := keySpec(m)
	if err != nil {
		return nil, err
	}
	// multi-key: compare two fields
	if vs, ok := m["Values"]; ok && !hasKey && len(vs.Content) == 2 && vs.Content[0].Kind == yaml.MappingNode {
		var keys [2]key
		for i, c := range vs.Content {
			cm, _ := mapping(c)
			if keys[i], _, err = keySpec(cm); err != nil {
				return nil, err
			}
		}
		cmp, err := comparison(cond, n.Line)
		if err != nil {
			return nil, err
		}
		return func(r *fastjson.Value) bool {
			a, _ := keys[0].get(r)
			b, _ := keys[1].get(r)
			if len(a) == 0 || len(b) == 0 {
				return cmp.onMissing
			}
			return cmp.fn(a[0], scalarOf(b[0]))
		}, nil
	}
	if !hasKey {
		return nil, fmt.Errorf("line %d: condition %s needs Key, DeepKey or KeyPath", n.Line, cond)
	}
	switch cond {
	case "AnyElement", "AllElements", "OnlyOneElement", "NoElement":
		exprs, ok := m["Expressions"]
		if !ok {
			return nil, fmt.Errorf("line %d: %s needs Expressions", n.Line, cond)
		}
		inner, err := compileList(exprs)
		if err != nil {
			return nil, err
		}
		return func(r *fastjson.Value) bool {
			vals, multi := k.get(r)
			var elems []*fastjson.Value
			if multi {
				elems = vals
			} else if len(vals) == 1 {
				elems = vals[0].GetArray()
			}
			n := 0
			for _, e := range elems {
				if inner(e) {
					n++
				}
			}
			switch cond {
			case "AnyElement":
				return n > 0
			case "AllElements":
				return len(elems) > 0 && n == len(elems)
			case "OnlyOneElement":
				return n == 1
			}
			return n == 0
		}, nil
	case "Exists", "DoesNotExist":
		want := cond == "Exists"
		return func(r *fastjson.Value) bool { v, _ := k.get(r); return (len(v) > 0) == want }, nil
	case "IsNull", "IsNotNull":
		want := cond == "IsNull"
		return func(r *fastjson.Value) bool {
			v, _ := k.get(r)
			null := len(v) == 0 || v[0].Type() == fastjson.TypeNull
			return null == want
		}, nil
	case "IsNullOrEmpty", "IsNotNullOrEmpty":
		want := cond == "IsNullOrEmpty"
		return func(r *fastjson.Value) bool {
			v, _ := k.get(r)
			empty := len(v) == 0 || isEmpty(v[0])
			return empty == want
		}, nil
	case "IsIn", "IsNotIn":
		vs, ok := m["Values"]
		if !ok || vs.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("line %d: %s needs a list of Values", n.Line, cond)
		}
		var set []scalar
		for _, c := range vs.Content {
			set = append(set, yamlScalar(c))
		}
		in := cond == "IsIn"
		return func(r *fastjson.Value) bool {
			v, _ := k.get(r)
			if len(v) == 0 {
				return !in
			}
			got := scalarOf(v[0])
			for _, s := range set {
				if got.equal(s, false) {
					return in
				}
			}
			return !in
		}, nil
	}
	cmp, err := comparison(cond, n.Line)
	if err != nil {
		return nil, err
	}
	valNode, ok := m["Value"]
	if !ok && !cmp.noValue {
		return nil, fmt.Errorf("line %d: condition %s needs a Value", n.Line, cond)
	}
	var want scalar
	if ok {
		want = yamlScalar(valNode)
	}
	if cmp.prepare != nil {
		if err := cmp.prepare(want); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n.Line, cond, err)
		}
	}
	return func(r *fastjson.Value) bool {
		v, multi := k.get(r)
		if len(v) == 0 {
			return cmp.onMissing
		}
		if multi { // a [*] path: the list holds the value
			arr := fastjson.MustParse("[]")
			for i, x := range v {
				arr.SetArrayItem(i, x)
			}
			return cmp.fn(arr, want)
		}
		return cmp.fn(v[0], want)
	}, nil
}

func combinator(name string, es []expr) expr {
	return func(r *fastjson.Value) bool {
		n := 0
		for _, e := range es {
			if e(r) {
				n++
				if name == "Any" {
					return true
				}
			} else if name == "All" {
				return false
			}
		}
		switch name {
		case "All":
			return true
		case "Any":
			return false
		case "OnlyOne":
			return n == 1
		}
		return n == 0
	}
}

func isEmpty(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeNull:
		return true
	case fastjson.TypeString:
		return len(v.GetStringBytes()) == 0
	case fastjson.TypeArray:
		return len(v.GetArray()) == 0
	case fastjson.TypeObject:
		o, _ := v.Object()
		return o.Len() == 0
	}
	return false
}

// scalar is a comparable value: a string, a number or a boolean.
type scalar struct {
	kind byte // 's', 'n', 'b', 0 (other)
	s    string
	n    float64
	b    bool
}

func (a scalar) equal(b scalar, fold bool) bool {
	if a.kind != b.kind {
		return false // Python: "403" != 403
	}
	switch a.kind {
	case 's':
		if fold {
			return strings.EqualFold(a.s, b.s)
		}
		return a.s == b.s
	case 'n':
		return a.n == b.n
	case 'b':
		return a.b == b.b
	}
	return false
}

func scalarOf(v *fastjson.Value) scalar {
	switch v.Type() {
	case fastjson.TypeString:
		return scalar{kind: 's', s: string(v.GetStringBytes())}
	case fastjson.TypeNumber:
		return scalar{kind: 'n', n: v.GetFloat64()}
	case fastjson.TypeTrue:
		return scalar{kind: 'b', b: true}
	case fastjson.TypeFalse:
		return scalar{kind: 'b'}
	}
	return scalar{}
}

func yamlScalar(n *yaml.Node) scalar {
	switch n.Tag {
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err == nil {
			return scalar{kind: 'n', n: f}
		}
	case "!!bool":
		return scalar{kind: 'b', b: strings.EqualFold(n.Value, "true")}
	case "!!null":
		return scalar{}
	}
	return scalar{kind: 's', s: n.Value}
}

// cmpSpec is one condition: fn compares a present value; onMissing is the
// result for an absent key (negative conditions hold, as Python's
// `event.get(k) != v` does).
type cmpSpec struct {
	fn        func(v *fastjson.Value, want scalar) bool
	onMissing bool
	noValue   bool
	prepare   func(want scalar) error
}

func comparison(cond string, line int) (cmpSpec, error) {
	str := func(f func(got, want string) bool, fold bool) func(*fastjson.Value, scalar) bool {
		return func(v *fastjson.Value, want scalar) bool {
			if v.Type() != fastjson.TypeString || want.kind != 's' {
				return false
			}
			got, w := string(v.GetStringBytes()), want.s
			if fold {
				got, w = strings.ToLower(got), strings.ToLower(w)
			}
			return f(got, w)
		}
	}
	neg := func(c cmpSpec) cmpSpec {
		f := c.fn
		return cmpSpec{fn: func(v *fastjson.Value, w scalar) bool { return !f(v, w) }, onMissing: true, prepare: c.prepare}
	}
	num := func(f func(a, b float64) bool) cmpSpec {
		return cmpSpec{fn: func(v *fastjson.Value, want scalar) bool {
			var got float64
			switch v.Type() {
			case fastjson.TypeNumber:
				got = v.GetFloat64()
			case fastjson.TypeString:
				var err error
				if got, err = strconv.ParseFloat(string(v.GetStringBytes()), 64); err != nil {
					return false
				}
			default:
				return false
			}
			return want.kind == 'n' && f(got, want.n)
		}}
	}
	contains := func(fold bool) cmpSpec {
		sub := str(strings.Contains, fold)
		return cmpSpec{fn: func(v *fastjson.Value, want scalar) bool {
			if v.Type() == fastjson.TypeArray { // a list contains the value
				for _, e := range v.GetArray() {
					if scalarOf(e).equal(want, fold) {
						return true
					}
				}
				return false
			}
			return sub(v, want)
		}}
	}
	var ipNet netip.Prefix
	ip := func(f func(netip.Addr) bool) cmpSpec {
		return cmpSpec{fn: func(v *fastjson.Value, _ scalar) bool {
			a, err := netip.ParseAddr(string(v.GetStringBytes()))
			return v.Type() == fastjson.TypeString && err == nil && f(a)
		}, noValue: true}
	}
	switch cond {
	case "Equals", "IEquals":
		fold := cond == "IEquals"
		return cmpSpec{fn: func(v *fastjson.Value, want scalar) bool { return scalarOf(v).equal(want, fold) }}, nil
	case "DoesNotEqual", "IDoesNotEqual":
		c, _ := comparison(strings.Replace(cond, "DoesNotEqual", "Equals", 1), line)
		return neg(c), nil
	case "StartsWith", "IStartsWith":
		return cmpSpec{fn: str(strings.HasPrefix, cond[0] == 'I')}, nil
	case "EndsWith", "IEndsWith":
		return cmpSpec{fn: str(strings.HasSuffix, cond[0] == 'I')}, nil
	case "Contains", "IContains":
		return contains(cond[0] == 'I'), nil
	case "DoesNotStartWith", "IDoesNotStartWith", "DoesNotEndWith", "IDoesNotEndWith", "DoesNotContain", "IDoesNotContain":
		pos := strings.Replace(strings.Replace(cond, "DoesNot", "", 1), "StartWith", "StartsWith", 1)
		pos = strings.Replace(strings.Replace(pos, "EndWith", "EndsWith", 1), "Contain", "Contains", 1)
		c, err := comparison(pos, line)
		if err != nil {
			return cmpSpec{}, err
		}
		return neg(c), nil
	case "IsGreaterThan", "GreaterThan":
		return num(func(a, b float64) bool { return a > b }), nil
	case "IsGreaterThanOrEqual", "IsGreaterThanOrEquals", "GreaterThanOrEqual":
		return num(func(a, b float64) bool { return a >= b }), nil
	case "IsLessThan", "LessThan":
		return num(func(a, b float64) bool { return a < b }), nil
	case "IsLessThanOrEqual", "IsLessThanOrEquals", "LessThanOrEqual":
		return num(func(a, b float64) bool { return a <= b || math.Abs(a-b) < 1e-12 }), nil
	case "IsIPAddress":
		return ip(func(netip.Addr) bool { return true }), nil
	case "IsIPv4Address":
		return ip(func(a netip.Addr) bool { return a.Is4() }), nil
	case "IsIPv6Address":
		return ip(func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }), nil
	case "IsIPAddressPrivate":
		return ip(func(a netip.Addr) bool { return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() }), nil
	case "IsIPAddressPublic":
		return ip(func(a netip.Addr) bool {
			return a.IsGlobalUnicast() && !a.IsPrivate()
		}), nil
	case "IsIPAddressInCIDR", "IsIPAddressNotInCIDR":
		in := cond == "IsIPAddressInCIDR"
		c := cmpSpec{fn: func(v *fastjson.Value, _ scalar) bool {
			a, err := netip.ParseAddr(string(v.GetStringBytes()))
			return err == nil && ipNet.Contains(a) == in
		}, onMissing: !in}
		c.prepare = func(w scalar) (err error) { ipNet, err = netip.ParsePrefix(w.s); return err }
		return c, nil
	case "CIDRContainsIPAddresses", "CIDRDoesNotContainIPAddresses":
		in := cond == "CIDRContainsIPAddresses"
		var addr netip.Addr
		c := cmpSpec{fn: func(v *fastjson.Value, _ scalar) bool {
			p, err := netip.ParsePrefix(string(v.GetStringBytes()))
			return err == nil && p.Contains(addr) == in
		}, onMissing: !in}
		c.prepare = func(w scalar) (err error) { addr, err = netip.ParseAddr(w.s); return err }
		return c, nil
	}
	return cmpSpec{}, fmt.Errorf("line %d: unknown condition %q", line, cond)
}
