package pyrule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
)

// A rule is decided in Go, without a call to Python, when the worker's
// analysis found its rule() to be exactly a formula over event fields
// (exact(), in the worker: only if/return, event.get, deep_get and
// event[...] with constant keys, comparisons with string constants,
// startswith/endswith, not/and/or and helpers of the same kind), for the
// events on which Go can tell what Python would do: the fields read are
// strings, missing or null (or, for a truth test or a comparison, any
// value whose outcome cannot differ). Any other event (a field of another
// type where Python would raise, a key that only a case-insensitive lookup
// would find, a string Go decodes otherwise than Python) goes to Python as
// before. A match is decided in Go only when the rule's title() and dedup()
// (those it has) are templates (literals and event values) and no other
// alert function runs at match time (they run for the raised alert, as for
// every rule whose alert functions run later).

// exactRule is what Go knows of a rule's functions.
type exactRule struct {
	rule *exNode
	// title and dedup are the templates of the functions the rule has
	// (nil: the rule has none, or it is no template)
	title, dedup []exPart
	hasTitle     bool
	hasDedup     bool
	// matches: a match can be decided in Go (title and dedup are
	// templates, no other function runs at match time)
	matches bool
}

type exOp uint8

const (
	opAnd exOp = iota
	opOr
	opNot
	opIf
	opConst
	opPy // Python decides (rule() would return no bool)
	opTruthy
	opStarts
	opEnds
	opEq
	opIn
	opContains
	opNone
)

var exOps = map[string]exOp{"and": opAnd, "or": opOr, "not": opNot, "if": opIf, "const": opConst, "py": opPy,
	"truthy": opTruthy, "startswith": opStarts, "endswith": opEnds, "eq": opEq, "in": opIn, "contains": opContains, "none": opNone}

// exNode is a node of a rule()'s formula.
type exNode struct {
	op   exOp
	kids []*exNode
	val  *exValue
	strs []string
	b    bool
}

// exValue is a value read from the event: how ('g' event.get, 'd'
// event.deep_get, 'i' event[key]), the keys, the default.
type exValue struct {
	how  byte
	keys []string
	def  pyVal
}

type pyKind uint8

const (
	pyNone  pyKind = iota
	pyStr          // a str
	pyEmpty        // an empty container (a default of {}, [] or ())
	pyJSON         // another JSON value: a number, a bool, an object, an array
)

// pyVal is a value as Python holds it.
type pyVal struct {
	kind pyKind
	s    string
	j    *fastjson.Value
}

// exPart is a part of a template: a literal ('l'), an f-string field ('f':
// a str, or "None"), an operand of + ('c': a str), or the whole value
// returned ('v').
type exPart struct {
	how byte
	lit string
	val *exValue
}

// tri is Go's answer: false, true, or Python decides.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triPy
)

// exactSpec is the worker's answer for a rule.
type exactSpec struct {
	Rule  json.RawMessage `json:"rule"`
	Title json.RawMessage `json:"title"`
	Dedup json.RawMessage `json:"dedup"`
}

// laterFns are the alert functions that run only for the raised alert
// when the rule's are proven stateless (the worker's _LATER).
var laterFns = []string{"alert_context", "severity", "description", "reference", "runbook", "destinations"}

// parseExact reads the worker's exact analysis of a rule with these
// functions.
func parseExact(raw json.RawMessage, functions []string, later bool) (*exactRule, error) {
	var spec exactSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, err
	}
	var f any
	if err := json.Unmarshal(spec.Rule, &f); err != nil {
		return nil, fmt.Errorf("rule(): %w", err)
	}
	n, err := parseNode(f, 0)
	if err != nil {
		return nil, fmt.Errorf("rule(): %w", err)
	}
	x := &exactRule{rule: n, hasTitle: slices.Contains(functions, "title"), hasDedup: slices.Contains(functions, "dedup")}
	if x.title, err = parseTemplate(spec.Title); err != nil {
		return nil, fmt.Errorf("title(): %w", err)
	}
	if x.dedup, err = parseTemplate(spec.Dedup); err != nil {
		return nil, fmt.Errorf("dedup(): %w", err)
	}
	x.matches = (!x.hasTitle || x.title != nil) && (!x.hasDedup || x.dedup != nil)
	for _, fn := range functions {
		switch {
		case fn == "rule" || fn == "title" || fn == "dedup":
		case later && slices.Contains(laterFns, fn):
		default: // unique, or alert functions that run at every match
			x.matches = false
		}
	}
	return x, nil
}

var errShape = errors.New("not a formula the worker writes")

func parseNode(f any, depth int) (*exNode, error) {
	l, ok := f.([]any)
	if !ok || len(l) == 0 || depth > 200 {
		return nil, errShape
	}
	name, _ := l[0].(string)
	op, ok := exOps[name]
	if !ok {
		return nil, fmt.Errorf("%w: %v", errShape, l[0])
	}
	n := &exNode{op: op}
	args := l[1:]
	var err error
	switch op {
	case opAnd, opOr, opNot, opIf:
		if (op == opNot && len(args) != 1) || (op == opIf && len(args) != 3) || len(args) == 0 {
			return nil, errShape
		}
		for _, a := range args {
			k, err := parseNode(a, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
		}
	case opConst:
		if len(args) != 1 {
			return nil, errShape
		}
		if n.b, ok = args[0].(bool); !ok {
			return nil, errShape
		}
	case opPy:
		if len(args) != 0 {
			return nil, errShape
		}
	case opTruthy, opNone:
		if len(args) != 1 {
			return nil, errShape
		}
		n.val, err = parseValue(args[0])
	case opStarts, opEnds, opIn:
		if len(args) != 2 {
			return nil, errShape
		}
		if n.val, err = parseValue(args[0]); err == nil {
			n.strs, err = parseStrs(args[1])
		}
	case opEq, opContains:
		if len(args) != 2 {
			return nil, errShape
		}
		s, ok := args[1].(string)
		if !ok {
			return nil, errShape
		}
		n.strs = []string{s}
		n.val, err = parseValue(args[0])
	}
	return n, err
}

func parseStrs(a any) ([]string, error) {
	l, ok := a.([]any)
	if !ok {
		return nil, errShape
	}
	out := make([]string, len(l))
	for i, x := range l {
		if out[i], ok = x.(string); !ok {
			return nil, errShape
		}
	}
	return out, nil
}

func parseValue(a any) (*exValue, error) {
	l, ok := a.([]any)
	if !ok || len(l) != 3 {
		return nil, errShape
	}
	v := &exValue{}
	switch l[0] {
	case "get":
		v.how = 'g'
	case "deep":
		v.how = 'd'
	case "item":
		v.how = 'i'
	default:
		return nil, errShape
	}
	keys, err := parseStrs(l[1])
	if err != nil || len(keys) == 0 || (v.how != 'd' && len(keys) != 1) {
		return nil, errShape
	}
	v.keys = keys
	switch d := l[2].(type) {
	case nil:
	case string:
		v.def = pyVal{kind: pyStr, s: d}
	case []any:
		if len(d) != 1 || d[0] != "empty" {
			return nil, errShape
		}
		v.def = pyVal{kind: pyEmpty}
	default:
		return nil, errShape
	}
	return v, nil
}

func parseTemplate(raw json.RawMessage) ([]exPart, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var l []any
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, err
	}
	out := []exPart{}
	for _, p := range l {
		switch p := p.(type) {
		case string:
			out = append(out, exPart{how: 'l', lit: p})
		case []any:
			if len(p) != 2 {
				return nil, errShape
			}
			v, err := parseValue(p[1])
			if err != nil {
				return nil, err
			}
			switch p[0] {
			case "fmt":
				out = append(out, exPart{how: 'f', val: v})
			case "cat":
				out = append(out, exPart{how: 'c', val: v})
			case "val":
				if len(l) != 1 {
					return nil, errShape
				}
				out = append(out, exPart{how: 'v', val: v})
			default:
				return nil, errShape
			}
		default:
			return nil, errShape
		}
	}
	return out, nil
}

// decide returns the rule's result on the event when Go can tell what
// Python would answer (rule() false; or true, with the title and dedup
// key the worker would give), false when Python must decide.
func (x *exactRule) decide(ev *event.Event, id string) (*result, bool) {
	src := ev.Source()
	if src == nil || src.Type() != fastjson.TypeObject || longDigits(ev.Raw) {
		return nil, false
	}
	switch x.rule.eval(src) {
	case triPy:
		return nil, false
	case triFalse:
		return falseResult, true
	}
	if !x.matches {
		return nil, false
	}
	res := &result{M: true}
	title := ""
	if x.hasTitle {
		s, isNone, ok := render(x.title, src)
		if !ok {
			return nil, false
		}
		if isNone {
			s = "None" // str(None)
		}
		title = truncate(s)
		res.Title = &title
	}
	def := "defaultDedupString:" + id
	switch {
	case x.hasDedup:
		s, isNone, ok := render(x.dedup, src)
		if !ok {
			return nil, false
		}
		res.Dedup = def
		if !isNone && s != "" {
			res.Dedup = truncate(s)
		}
	case title != "":
		res.Dedup = title
	default:
		res.Dedup = def
	}
	return res, true
}

// truncate cuts a string at 1,000 characters as the worker does.
func truncate(s string) string {
	if utf8.RuneCountInString(s) <= 1000 {
		return s
	}
	n := 0
	for i := range s {
		if n == 1000 {
			return s[:i] + "... (truncated)"
		}
		n++
	}
	return s
}

// longDigits reports whether a record may hold an integer of more digits
// than Python's json.loads accepts (4,300: the event then reaches no rule
// in Python, which reports the error): any run of that many digits.
func longDigits(raw []byte) bool {
	const limit = 4300
	if len(raw) <= limit {
		return false
	}
	run := 0
	for _, c := range raw {
		if c >= '0' && c <= '9' {
			if run++; run > limit {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func (n *exNode) eval(src *fastjson.Value) tri {
	switch n.op {
	case opAnd:
		for _, k := range n.kids {
			if t := k.eval(src); t != triTrue {
				return t
			}
		}
		return triTrue
	case opOr:
		for _, k := range n.kids {
			if t := k.eval(src); t != triFalse {
				return t
			}
		}
		return triFalse
	case opNot:
		switch n.kids[0].eval(src) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triPy
	case opIf:
		switch n.kids[0].eval(src) {
		case triTrue:
			return n.kids[1].eval(src)
		case triFalse:
			return n.kids[2].eval(src)
		}
		return triPy
	case opConst:
		return triOf(n.b)
	case opPy:
		return triPy
	}
	v, ok := n.val.read(src)
	if !ok {
		return triPy
	}
	switch n.op {
	case opTruthy:
		return v.truthy()
	case opNone:
		return triOf(v.kind == pyNone)
	case opEq:
		// only a str equals a str; None, numbers, bools, the event's
		// mappings and lists compare unequal without error
		return triOf(v.kind == pyStr && v.s == n.strs[0])
	case opIn:
		switch {
		case v.kind == pyStr:
			return triOf(slices.Contains(n.strs, v.s))
		case v.kind == pyNone:
			return triFalse
		case v.kind == pyJSON && isScalar(v.j):
			return triFalse // a number or a bool is in no collection of strings
		}
		return triPy // a mapping or a list: unhashable in a set
	case opStarts, opEnds, opContains:
		if v.kind != pyStr {
			return triPy // AttributeError, TypeError
		}
		for _, s := range n.strs {
			if (n.op == opStarts && strings.HasPrefix(v.s, s)) || (n.op == opEnds && strings.HasSuffix(v.s, s)) ||
				(n.op == opContains && strings.Contains(v.s, s)) {
				return triTrue
			}
		}
		return triFalse
	}
	return triPy
}

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func isScalar(j *fastjson.Value) bool {
	t := j.Type()
	return t == fastjson.TypeNumber || t == fastjson.TypeTrue || t == fastjson.TypeFalse
}

// truthy is Python's truth of the value.
func (v pyVal) truthy() tri {
	switch v.kind {
	case pyNone, pyEmpty:
		return triFalse
	case pyStr:
		return triOf(v.s != "")
	}
	switch v.j.Type() {
	case fastjson.TypeTrue:
		return triTrue
	case fastjson.TypeFalse:
		return triFalse
	case fastjson.TypeObject:
		o, _ := v.j.Object()
		return triOf(o.Len() > 0)
	case fastjson.TypeArray:
		a, _ := v.j.Array()
		return triOf(len(a) > 0)
	case fastjson.TypeNumber:
		tok := v.j.MarshalTo(nil)
		if !bytes.ContainsAny(tok, ".eE") { // an int: zero unless a digit is not
			return triOf(bytes.ContainsAny(tok, "123456789"))
		}
		f, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return triPy
		}
		return triOf(f != 0)
	}
	return triPy
}

// read reads the value as the worker's event would: event.get (the default
// for a missing key, None for null), event.deep_get (the default where a
// step is no mapping, missing or null) or event[key]. False when Go cannot
// tell.
func (x *exValue) read(src *fastjson.Value) (pyVal, bool) {
	cur := src
	for _, k := range x.keys {
		if cur.Type() != fastjson.TypeObject {
			return x.def, true // deep_get past a value that is no mapping
		}
		v, found, sure, _ := pyLookup(cur, k)
		if !sure {
			return pyVal{}, false
		}
		switch {
		case !found && x.how == 'i':
			return pyVal{}, false // KeyError
		case !found, x.how == 'd' && v.Type() == fastjson.TypeNull:
			return x.def, true
		}
		cur = v
	}
	switch cur.Type() {
	case fastjson.TypeNull:
		return pyVal{kind: pyNone}, true
	case fastjson.TypeString:
		b := cur.GetStringBytes()
		if !pyString(b) {
			return pyVal{}, false
		}
		return pyVal{kind: pyStr, s: string(b)}, true
	}
	return pyVal{kind: pyJSON, j: cur}, true
}

// pyString reports whether a string fastjson decoded is the one Python's
// json.loads gives: not so where the JSON had a lone surrogate escape,
// which fastjson keeps as its escape text or replaces, with the next
// escape, by U+FFFD.
func pyString(b []byte) bool {
	if bytes.ContainsRune(b, utf8.RuneError) {
		return false
	}
	for i := bytes.Index(b, []byte(`\u`)); i >= 0; {
		if r := b[i+2:]; len(r) >= 2 && (r[0] == 'd' || r[0] == 'D') && strings.IndexByte("89abcdefABCDEF", r[1]) >= 0 {
			return false
		}
		j := bytes.Index(b[i+2:], []byte(`\u`))
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return true
}

// pyLookup finds key in an object as the worker's case-insensitive
// mapping does: the key as given (the last one, as json.loads keeps), else
// the first key equal to it in lower case. sure is false when Go cannot
// tell: the key is missing and the object has a key that is not ASCII
// (whose lower case Python might find equal). folded says the key was found
// in another case.
func pyLookup(obj *fastjson.Value, key string) (v *fastjson.Value, found, sure, folded bool) {
	o, _ := obj.Object()
	var fold *fastjson.Value
	var foldKey string
	nonASCII := false
	o.Visit(func(k []byte, x *fastjson.Value) {
		if string(k) == key {
			v = x
			return
		}
		if !isASCII(k) {
			nonASCII = true
			return
		}
		if fold == nil && len(k) == len(key) && strings.EqualFold(string(k), key) {
			fold, foldKey = x, string(k)
		} else if fold != nil && string(k) == foldKey {
			fold = x
		}
	})
	switch {
	case v != nil:
		return v, true, true, false
	case nonASCII:
		return nil, false, false, false
	case fold != nil:
		return fold, true, true, true
	}
	return nil, false, true, false
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// render evaluates a template: the string, or None (a whole value that is
// None); ok is false when Go cannot tell what Python would give.
func render(parts []exPart, src *fastjson.Value) (s string, isNone, ok bool) {
	var b strings.Builder
	for _, p := range parts {
		if p.how == 'l' {
			b.WriteString(p.lit)
			continue
		}
		v, ok := p.val.read(src)
		if !ok {
			return "", false, false
		}
		switch {
		case v.kind == pyStr:
			b.WriteString(v.s)
		case v.kind == pyNone && p.how == 'f':
			b.WriteString("None")
		case v.kind == pyNone && p.how == 'v':
			return "", true, true
		default:
			return "", false, false
		}
	}
	return b.String(), false, true
}

// decide returns the rule's result on the event when Go decides it (the
// rule has an exact analysis and Go can tell what Python would answer),
// counting it.
func (rt *Runtime) decide(ev *event.Event, pr *pyRule) (*result, bool) {
	if pr.exact == nil {
		return nil, false
	}
	res, ok := pr.exact.decide(ev, pr.r.ID)
	if ok {
		pr.inGo.Add(1)
		rt.inGo.Add(1)
	}
	return res, ok
}

// DecidedInGo says whether Go decides the rule's rule() (and its matches)
// without Python on the events it can, "" when it does not.
func (rt *Runtime) DecidedInGo(r *rule.Rule) string {
	if rt == nil || rt.byRule[r] == nil || rt.byRule[r].exact == nil {
		return ""
	}
	if rt.byRule[r].exact.matches {
		return "rule(), title and dedup decided in Go (exact) on events whose fields they read are strings or missing"
	}
	return "rule() false decided in Go (exact) on events whose fields it reads are strings or missing; matches run in Python"
}

// fieldCheck is a prefilter's condition on a field, read straight from
// the record where the field is a string, missing or null, or where an
// object on its path is something else (deep_get's default, as missing);
// the engine's condition decides the other values, as before. Like the
// engine's, it reads keys as spelt (a key Python would find in another case
// is missed, as before).
type fieldCheck struct {
	node int // in Runtime.nodes
	f    *strFilter
}

// cond reports whether the event passes the prefilter's field condition i.
func (rt *Runtime) cond(i int, ev *event.Event, s *engine.Scratch, fm *fieldMemo) bool {
	c := &rt.fast[i]
	v := rt.node(c.node, ev, fm)
	switch {
	case v == nil: // deep_get's default: as missing
		return c.f.ff.Empty
	case v.Type() == fastjson.TypeString:
		return c.f.admits(b2s(v.GetStringBytes()))
	}
	return rt.conds[i](ev, s)
}

// b2s is the bytes as a string, without a copy: for a test that keeps no
// reference to it.
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
