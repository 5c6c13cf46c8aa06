// Package engine evaluates compiled rules against events. Rules are indexed
// by the event source and name they pin, so an event costs two field reads
// unless some rule could match it.
package engine

import (
	"cmp"
	"fmt"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/regexlit"
	"github.com/trailhound/trailhound/rule"
)

// Engine holds compiled rules and their index. It is safe for concurrent use;
// each goroutine needs its own Scratch.
type Engine struct {
	exceptions []exception
	derived    []*rule.Rule // runnable rules without a condition (correlations)
	rules      []*compiled
	// index[0] is for any event, index[1] for raw CloudTrail records, whose
	// dataset is aws.cloudtrail: their index leaves out what a rule can
	// only match on other datasets
	index [2]*index
	comp  compiler // numbers the memos of the rules' and exceptions' matchers
}

// index lists rules by the event sources and names their conditions pin.
type index struct {
	byProvAct map[string][]*compiled
	byProv    map[string][]*compiled
	byAct     map[string][]*compiled
	anyEvent  []*compiled
}

func newIndex() *index {
	return &index{byProvAct: map[string][]*compiled{}, byProv: map[string][]*compiled{}, byAct: map[string][]*compiled{}}
}

// add lists c under ks (ok false: under none, for every event).
func (x *index) add(c *compiled, ks []indexKey, ok bool) {
	if !ok {
		x.anyEvent = append(x.anyEvent, c)
		return
	}
	for _, k := range ks {
		m, key := x.byProvAct, k.prov+"\x00"+k.act
		switch {
		case k.prov == "":
			m, key = x.byAct, k.act
		case k.act == "":
			m, key = x.byProv, k.prov
		}
		// a rule under several keys of one event (a branch per action and
		// one per source, say) is listed once: candidates compacts
		if n := len(m[key]); n == 0 || m[key][n-1] != c {
			m[key] = append(m[key], c)
		}
	}
}

// exception is a compiled exception item and the rules it applies to (nil:
// every rule).
type exception struct {
	match matcher
	rules map[*rule.Rule]bool
}

type compiled struct {
	idx   int
	rule  *rule.Rule
	match matcher
	// static is the conjunction of the condition's conjuncts that read
	// nothing but fields decided by the event source and name, and the
	// identity type (nil: none), rest that of the others (nil: none, true).
	// On a raw CloudTrail record whose source and name are strings (and
	// whose userIdentity.type is one, when static reads it: byType), static
	// is decided once per source, name and type (candidates), and only rest
	// runs per event.
	static, rest matcher
	byType       bool
}

// candidate is a rule that could match an event and the matcher that
// decides it: its whole condition, or only what its source and name left
// undecided.
type candidate struct {
	c     *compiled
	match matcher // nil: true
}

type matcher func(e *event.Event, s *Scratch) bool

// Scratch is per-goroutine working memory.
type Scratch struct {
	excepted []uint8
	// per index: provider -> action -> rules (per identity type)
	cache [2]map[string]map[string]*pairCands
	n     int
	prof  []RuleProfile // per compiled rule, when profiling
	memos []memo        // by memo slot (see memo.go)
	// last is the source and name of the event before and their
	// candidates (consecutive records mostly share them)
	last struct {
		kind      int
		prov, act []byte
		pc        *pairCands
	}
}

// RuleProfile is what one rule cost: events it was evaluated on (those its
// provider/action pins and its conditions on them let through), events it
// matched, and the time spent evaluating it and handling its matches.
type RuleProfile struct {
	Rule    *rule.Rule
	Evals   int64
	Matches int64
	Time    time.Duration
}

// Profile makes Match time each rule evaluated with this scratch; Profiles
// adds the results up.
func (s *Scratch) Profile(e *Engine) { s.prof = make([]RuleProfile, len(e.rules)) }

// Profiles adds up the profiles of scratches (each made a profiling one with
// Profile), most costly rule first.
func (e *Engine) Profiles(scratches ...*Scratch) []RuleProfile {
	out := make([]RuleProfile, len(e.rules))
	for i, c := range e.rules {
		out[i].Rule = c.rule
	}
	for _, s := range scratches {
		for i, p := range s.prof {
			out[i].Evals += p.Evals
			out[i].Matches += p.Matches
			out[i].Time += p.Time
		}
	}
	slices.SortStableFunc(out, func(a, b RuleProfile) int { return cmp.Compare(b.Time, a.Time) })
	return out
}

// NewScratch returns working memory for one goroutine.
func NewScratch() *Scratch {
	return &Scratch{cache: [2]map[string]map[string]*pairCands{{}, {}}}
}

// Compile compiles runnable rules. Rules that are not runnable are skipped
// (callers list them with their reasons); a rule that fails to compile is an
// error naming it.
func Compile(rules []*rule.Rule) (*Engine, error) {
	e := &Engine{index: [2]*index{newIndex(), newIndex()}}
	for _, r := range rules {
		if !r.Runnable() {
			continue
		}
		if r.Cond == nil { // a correlation: it reads other rules' matches
			e.derived = append(e.derived, r)
			continue
		}
		c := &compiled{idx: len(e.rules), rule: r}
		var err error
		if c.static, c.rest, c.byType, err = e.comp.split(r.Cond); err != nil {
			return nil, fmt.Errorf("rule %s (%s): %w", r.ID, r.Name, err)
		}
		c.match = both(c.static, c.rest)
		e.rules = append(e.rules, c)
		for i, cloudTrail := range []bool{false, true} {
			ks, ok := keys(r.Cond, cloudTrail)
			e.index[i].add(c, ks, ok)
		}
	}
	return e, nil
}

// indexKey is an event source and name a rule's condition lets through
// ("" for either: any).
type indexKey struct{ prov, act string }

// keys returns the event sources and names an event must have for c to
// match it (ok false when c does not pin them): those its conjuncts
// require, else those a conjunct that is a disjunction requires, every
// branch of which is pinned (the union of the branches'). For a raw
// CloudTrail record (cloudTrail), a condition that requires another
// dataset is pinned to nothing: no key, ok.
// Case-insensitive pins (Sigma) are lower case, marked with foldKey.
func keys(c rule.Cond, cloudTrail bool) ([]indexKey, bool) {
	if cloudTrail && otherDataset(c) {
		return nil, true
	}
	if or, ok := c.(rule.Or); ok {
		var out []indexKey
		for _, b := range or.Conds {
			ks, ok := keys(b, cloudTrail)
			if !ok {
				return nil, false
			}
			out = append(out, ks...)
		}
		return out, true
	}
	provs, acts, folded := pins(c)
	if folded { // indexed under lower-case keys, looked up likewise
		for i := range provs {
			provs[i] = foldKey + provs[i]
		}
		for i := range acts {
			acts[i] = foldKey + acts[i]
		}
	}
	var out []indexKey
	switch {
	case provs != nil && acts != nil:
		for _, p := range provs {
			for _, a := range acts {
				out = append(out, indexKey{p, a})
			}
		}
	case provs != nil:
		for _, p := range provs {
			out = append(out, indexKey{prov: p})
		}
	case acts != nil:
		for _, a := range acts {
			out = append(out, indexKey{act: a})
		}
	default:
		for _, x := range rule.Conjuncts(c) {
			if _, isAnd := x.(rule.And); !isAnd && !isOr(x) {
				continue
			}
			if ks, ok := keys(x, cloudTrail); ok {
				return ks, true
			}
		}
	}
	return out, len(out) > 0
}

// otherDataset reports whether c requires a dataset other than a raw
// CloudTrail record's (event.Dataset).
func otherDataset(c rule.Cond) bool {
	for _, x := range rule.Conjuncts(c) {
		cmp, ok := x.(rule.Cmp)
		if !ok || cmp.Op != rule.OpEq || cmp.Field != "data_stream.dataset" && cmp.Field != "event.dataset" {
			continue
		}
		if !slices.ContainsFunc(cmp.Values, func(v string) bool {
			return v == event.Dataset || cmp.CaseInsensitive && strings.EqualFold(v, event.Dataset)
		}) {
			return true
		}
	}
	return false
}

func isOr(c rule.Cond) bool {
	_, ok := c.(rule.Or)
	return ok
}

// Rules returns the compiled rules in order.
func (e *Engine) Rules() []*rule.Rule {
	out := make([]*rule.Rule, len(e.rules), len(e.rules)+len(e.derived))
	for i, c := range e.rules {
		out[i] = c.rule
	}
	return append(out, e.derived...)
}

var (
	providerFields = map[string]bool{"event.provider": true, "eventSource": true}
	actionFields   = map[string]bool{"event.action": true, "eventName": true}
)

// pins returns the event sources and names a condition requires (nil when
// it does not pin them); folded is true when a pin is case-insensitive (Sigma),
// and then both are returned in lower case.
func pins(c rule.Cond) (provs, acts []string, folded bool) {
	for _, x := range rule.Conjuncts(c) {
		cmp, ok := x.(rule.Cmp)
		if !ok || cmp.Op != rule.OpEq {
			continue
		}
		if providerFields[cmp.Field] && provs == nil {
			provs, folded = cmp.Values, folded || cmp.CaseInsensitive
		}
		if actionFields[cmp.Field] && acts == nil {
			acts, folded = cmp.Values, folded || cmp.CaseInsensitive
		}
	}
	if folded {
		provs, acts = lowerAll(provs), lowerAll(acts)
	}
	return provs, acts, folded
}

func lowerAll(vs []string) []string {
	if vs == nil {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.ToLower(v)
	}
	return out
}

// foldKey marks the index keys of case-insensitive pins.
const foldKey = "\x01"

// split compiles the conjuncts of c that read only fields decided by the
// event source and name, and the identity type (static), apart from the
// others (rest); either is nil when it has no conjunct. byType says that
// static reads the identity type.
//
// A conjunct that reads other fields too may still imply a condition on
// these (implied): "(provider and action and type) or (type and key id)"
// holds only where "(provider and action and type) or type" does. That
// implied condition joins static, decided once per source, name and type;
// the conjunct itself stays in rest.
func (k *compiler) split(c rule.Cond) (static, rest matcher, byType bool, err error) {
	var st, other []rule.Cond
	for _, x := range rule.Conjuncts(c) {
		if ok, t := keyedOnly(x); ok {
			st = append(st, x)
			byType = byType || t
			continue
		}
		other = append(other, x)
		if im := implied(x); im != nil {
			_, t := keyedOnly(im)
			st = append(st, im)
			byType = byType || t
		}
	}
	if len(st) > 0 {
		if static, err = k.compile(rule.Simplify(rule.And{Conds: st})); err != nil {
			return nil, nil, false, err
		}
	}
	if len(other) > 0 {
		if rest, err = k.compile(rule.Simplify(rule.And{Conds: other})); err != nil {
			return nil, nil, false, err
		}
	}
	return static, rest, byType, nil
}

// implied returns a condition that holds wherever c does and reads only
// fields keyedOnly accepts, or nil when c implies none: of a conjunction,
// its conjuncts' implied conditions; of a disjunction, the disjunction of
// its branches' when every branch implies one.
func implied(c rule.Cond) rule.Cond {
	if ok, _ := keyedOnly(c); ok {
		return c
	}
	switch c := c.(type) {
	case rule.And:
		var out []rule.Cond
		for _, x := range c.Conds {
			if im := implied(x); im != nil {
				out = append(out, im)
			}
		}
		switch len(out) {
		case 0:
			return nil
		case 1:
			return out[0]
		}
		return rule.And{Conds: out}
	case rule.Or:
		out := make([]rule.Cond, len(c.Conds))
		for i, x := range c.Conds {
			if out[i] = implied(x); out[i] == nil {
				return nil
			}
		}
		return rule.Or{Conds: out}
	}
	return nil
}

// both is the conjunction of two matchers (nil: true).
func both(a, b matcher) matcher {
	switch {
	case a == nil && b == nil:
		return func(*event.Event, *Scratch) bool { return true }
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(e *event.Event, s *Scratch) bool { return a(e, s) && b(e, s) }
}

// keyedOnly reports whether c is made of comparisons of fields whose values
// on a raw CloudTrail record follow from its event source and name
// (event.BySourceAndName: eventSource, event.action, data_stream.dataset,
// event.category ...) and its identity type (event.ByIdentityType); byType
// says that it reads the identity type.
func keyedOnly(c rule.Cond) (ok, byType bool) {
	field := func(f string) bool {
		byType = byType || event.ByIdentityType(f)
		return event.BySourceAndName(f) || event.ByIdentityType(f)
	}
	all := func(cs []rule.Cond) bool {
		for _, x := range cs {
			ok, t := keyedOnly(x)
			if !ok {
				return false
			}
			byType = byType || t
		}
		return true
	}
	switch c := c.(type) {
	case rule.And:
		ok = all(c.Conds)
	case rule.Or:
		ok = all(c.Conds)
	case rule.Not:
		return keyedOnly(c.Cond)
	case rule.Cmp:
		ok = field(c.Field)
	case rule.Pred:
		ok = c.Only && len(c.Fields) > 0 && !slices.ContainsFunc(c.Fields, func(f string) bool { return !field(f) })
	}
	return ok, ok && byType
}

// identityType reads userIdentity.type, which keys the candidates of raw
// CloudTrail records with the event source and name.
var identityType = event.ResolveView("userIdentity.type")

// typeOf returns a raw CloudTrail record's identity type: the one non-empty
// string its userIdentity.type holds (ok false otherwise).
func typeOf(ev *event.Event) (string, bool) {
	vs := identityType(ev)
	if len(vs) != 1 || vs[0].T != event.String || vs[0].S == "" {
		return "", false
	}
	return vs[0].S, true
}

// candidates returns the rules that could match an event with this source
// and name, in rule order, each with the matcher that decides it. On a raw
// CloudTrail record with a source and a name, a rule's conjuncts that read
// only those (and the identity type, when the record has one) are decided
// when the source, name and type are first seen together: the rule is left
// out when they are false, and only its other conjuncts run on each event.
func (e *Engine) candidates(s *Scratch, ev *event.Event) []candidate {
	prov, act := ev.Provider(), ev.Action()
	i := 0
	if ev.Kind == event.KindCloudTrail {
		i = 1
	}
	var byAct map[string]*pairCands
	var pc *pairCands
	if l := &s.last; l.pc != nil && l.kind == i && string(l.prov) == prov && string(l.act) == act {
		pc = l.pc
	} else {
		byAct = s.cache[i][prov]
		if pc = byAct[act]; pc != nil {
			l.kind, l.prov, l.act, l.pc = i, append(l.prov[:0], prov...), append(l.act[:0], act...), pc
		}
	}
	if pc != nil && !pc.typed {
		return pc.list
	}
	typ := "" // no type to decide by (a real one is not empty)
	if pc != nil {
		typ, _ = typeOf(ev)
		if c, ok := pc.lookup(typ); ok {
			return c
		}
	}
	x := e.index[i]
	var out []*compiled
	out = append(out, x.byProvAct[prov+"\x00"+act]...)
	out = append(out, x.byProv[prov]...)
	out = append(out, x.byAct[act]...)
	lp, la := foldKey+strings.ToLower(prov), foldKey+strings.ToLower(act)
	out = append(out, x.byProvAct[lp+"\x00"+la]...)
	out = append(out, x.byProv[lp]...)
	out = append(out, x.byAct[la]...)
	out = append(out, x.anyEvent...)
	sort.Slice(out, func(i, j int) bool { return out[i].idx < out[j].idx })
	// a rule indexed under several of these keys is listed once
	out = slices.Compact(out)
	// eventSource and eventName are strings (Parse read them so): the
	// fields of static conjuncts have values decided by prov and act alone
	// (and the identity type, read only when a rule decides by it)
	decide := i == 1 && prov != "" && act != ""
	typedPair := decide && slices.ContainsFunc(out, func(c *compiled) bool { return c.static != nil && c.byType })
	typed := false
	if typedPair {
		typ, typed = typeOf(ev)
	}
	cands := make([]candidate, 0, len(out))
	for _, c := range out {
		switch {
		case !decide || c.static == nil || c.byType && !typed:
			cands = append(cands, candidate{c, c.match})
		case c.static(ev, s):
			cands = append(cands, candidate{c, c.rest})
		}
	}
	if s.n > 100000 { // bound the cache against hostile input
		clear(s.cache[0])
		clear(s.cache[1])
		s.n = 0
		byAct, pc = nil, nil
		s.last.pc = nil
	}
	if pc != nil && byAct == nil { // found as the last event's
		byAct = s.cache[i][prov]
	}
	// the event's strings live in its parser's buffer: copy the keys
	if byAct == nil {
		byAct = map[string]*pairCands{}
		s.cache[i][strings.Clone(prov)] = byAct
	}
	if pc == nil {
		pc = &pairCands{typed: typedPair}
		byAct[strings.Clone(act)] = pc
	}
	if typedPair {
		pc.add(strings.Clone(typ), cands)
	} else {
		pc.list = cands
	}
	s.n++
	return cands
}

// pairCands are the candidates of an event source and name: one list, or
// one per identity type when a rule decides by it (typed).
type pairCands struct {
	typed bool
	list  []candidate
	// the lists by type: the first few types seen in a slice, searched
	// in turn (a pair's events have few types, and comparing them costs
	// less than hashing one), the others in a map
	types  []typeCands
	byType map[string][]candidate
}

type typeCands struct {
	typ   string
	cands []candidate
}

// fewTypes is how many types a pairCands keeps in its slice.
const fewTypes = 8

// lookup returns the candidates of events of type typ (ok false: not
// decided yet).
func (pc *pairCands) lookup(typ string) (_ []candidate, ok bool) {
	for i := range pc.types {
		if pc.types[i].typ == typ {
			return pc.types[i].cands, true
		}
	}
	c, ok := pc.byType[typ]
	return c, ok
}

// add keeps the candidates of events of type typ.
func (pc *pairCands) add(typ string, cands []candidate) {
	for i := range pc.types {
		if pc.types[i].typ == typ {
			pc.types[i].cands = cands
			return
		}
	}
	if len(pc.types) < fewTypes {
		pc.types = append(pc.types, typeCands{typ, cands})
		return
	}
	if pc.byType == nil {
		pc.byType = map[string][]candidate{}
	}
	pc.byType[typ] = cands
}

// AddExceptions adds exception items. An item applies to the rules that
// reference its list (rule.ExceptionLists) or, when no rule does, to all.
func (e *Engine) AddExceptions(items []rule.Exception) error {
	for _, it := range items {
		m, err := e.comp.compile(it.Cond)
		if err != nil {
			return fmt.Errorf("exception item_id %s (%q): %w", it.ItemID, it.Name, err)
		}
		x := exception{match: m}
		for _, c := range e.rules {
			if it.ListID != "" && slices.Contains(c.rule.ExceptionLists, it.ListID) {
				if x.rules == nil {
					x.rules = map[*rule.Rule]bool{}
				}
				x.rules[c.rule] = true
			}
		}
		e.exceptions = append(e.exceptions, x)
	}
	return nil
}

// Match calls fn for every rule that matches ev and no exception of the rule
// excludes.
func (e *Engine) Match(ev *event.Event, s *Scratch, fn func(*rule.Rule)) {
	s.excepted = s.excepted[:0] // per item: 0 unknown, 1 no match, 2 match
	if s.prof != nil {
		e.matchProfiled(ev, s, fn)
		return
	}
	for _, cd := range e.candidates(s, ev) {
		if cd.match != nil && !cd.match(ev, s) || e.excepted(cd.c.rule, ev, s) {
			continue
		}
		fn(cd.c.rule)
	}
}

// matchProfiled is Match timing each rule, its matches' handling (fn)
// included.
func (e *Engine) matchProfiled(ev *event.Event, s *Scratch, fn func(*rule.Rule)) {
	for _, cd := range e.candidates(s, ev) {
		start := time.Now()
		p := &s.prof[cd.c.idx]
		p.Evals++
		if (cd.match == nil || cd.match(ev, s)) && !e.excepted(cd.c.rule, ev, s) {
			p.Matches++
			fn(cd.c.rule)
		}
		p.Time += time.Since(start)
	}
}

// excepted reports whether an exception item that applies to r matches ev,
// evaluating each item at most once per event.
func (e *Engine) excepted(r *rule.Rule, ev *event.Event, s *Scratch) bool {
	if len(e.exceptions) == 0 {
		return false
	}
	if len(s.excepted) == 0 {
		s.excepted = append(s.excepted, make([]uint8, len(e.exceptions))...)
	}
	for i, x := range e.exceptions {
		if x.rules != nil && !x.rules[r] {
			continue
		}
		if s.excepted[i] == 0 {
			s.excepted[i] = 1
			if x.match(ev, s) {
				s.excepted[i] = 2
			}
		}
		if s.excepted[i] == 2 {
			return true
		}
	}
	return false
}

// Eval reports whether a single condition matches an event (for tests and
// ad hoc queries).
func Eval(c rule.Cond, ev *event.Event) (bool, error) {
	m, err := new(compiler).compile(c)
	if err != nil {
		return false, err
	}
	return m(ev, NewScratch()), nil
}

// compiler compiles conditions into matchers, numbering the memo slots
// they use in a Scratch.
type compiler struct{ memos int }

func (k *compiler) compile(c rule.Cond) (matcher, error) {
	switch c := c.(type) {
	case rule.And:
		ms, err := k.compileAll(ordered(c.Conds))
		if err != nil {
			return nil, err
		}
		return func(e *event.Event, s *Scratch) bool {
			for _, m := range ms {
				if !m(e, s) {
					return false
				}
			}
			return true
		}, nil
	case rule.Or:
		ms, err := k.compileAll(c.Conds)
		if err != nil {
			return nil, err
		}
		return func(e *event.Event, s *Scratch) bool {
			for _, m := range ms {
				if m(e, s) {
					return true
				}
			}
			return false
		}, nil
	case rule.Not:
		m, err := k.compile(c.Cond)
		if err != nil {
			return nil, err
		}
		return func(e *event.Event, s *Scratch) bool { return !m(e, s) }, nil
	case rule.Cmp:
		return k.compileCmp(c)
	case rule.Pred:
		if c.Only && len(c.Fields) == 1 {
			return k.predMemo(c.Fields[0], c.Match), nil
		}
		return func(e *event.Event, _ *Scratch) bool { return c.Match(e) }, nil
	}
	return nil, fmt.Errorf("unknown condition %T", c)
}

// costlyFields are fields whose first read in an event costs more than
// finding a key: the parsed parts of user_agent parse the agent.
// (event.outcome was one when a record was parsed whole: it looks for two
// keys that are usually absent, which the record's key offsets now answer
// as cheaply as any other.)
var costlyFields = []string{"user_agent.name", "user_agent.version", "user_agent.os.*", "user_agent.device.*"}

// costlyPrefix starts every pattern of costlyFields.
const costlyPrefix = "user_agent."

// cost ranks a condition by what its evaluation on an event may cost,
// its costliest part's: 0 comparisons of fields read from the record, 1 a
// predicate (opaque: a Sigma modifier, an EQL function), 2 a read of a
// costly field, 3 a regular expression (a scan of the value, often a long
// one: an ARN, a path).
func cost(c rule.Cond) int {
	n := 0
	switch c := c.(type) {
	case rule.And:
		for _, x := range c.Conds {
			n = max(n, cost(x))
		}
	case rule.Or:
		for _, x := range c.Conds {
			n = max(n, cost(x))
		}
	case rule.Not:
		n = cost(c.Cond)
	case rule.Pred:
		n = 1
		if slices.ContainsFunc(c.Fields, costly) {
			n = 2
		}
	case rule.Cmp:
		if costly(c.Field) {
			n = 2
		}
		if c.Op == rule.OpRegex {
			n = 3
		}
	}
	return n
}

// ordered returns conjuncts in the order a conjunction evaluates them
// (all are pure): the costly last, so that an event most rules rule out by
// a cheaper one never evaluates them; and of those that cost the same, the
// likely true last (likelyTrue).
func ordered(conds []rule.Cond) []rule.Cond {
	// each conjunct ranked once, not at every comparison (cost walks
	// the conjunct)
	type ranked struct {
		c            rule.Cond
		cost, likely int
	}
	rs := make([]ranked, len(conds))
	for i, c := range conds {
		rs[i] = ranked{c, cost(c), likelyTrue(c)}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.cost, b.cost), cmp.Compare(a.likely, b.likely))
	})
	out := make([]rule.Cond, len(rs))
	for i, r := range rs {
		out[i] = r.c
	}
	return out
}

// likelyTrue is 1 for a conjunct most records satisfy, 0 for any other: a
// test that a field exists (rules test fields most records have) and a
// negation (an exclusion). With them last, "outcome is success and source.ip
// exists and the key id is AKIA*" reads source.ip only for long-term keys.
func likelyTrue(c rule.Cond) int {
	switch c := c.(type) {
	case rule.Cmp:
		if c.Op == rule.OpExists {
			return 1
		}
	case rule.Not:
		return 1
	}
	return 0
}

// costly reports whether a field is one of costlyFields.
func costly(field string) bool {
	if !strings.HasPrefix(field, costlyPrefix) { // most fields: without path.Match
		return false
	}
	return slices.ContainsFunc(costlyFields, func(f string) bool {
		ok, _ := path.Match(f, field)
		return ok
	})
}

func (k *compiler) compileAll(cs []rule.Cond) ([]matcher, error) {
	ms := make([]matcher, len(cs))
	for i, c := range cs {
		m, err := k.compile(c)
		if err != nil {
			return nil, err
		}
		ms[i] = m
	}
	return ms, nil
}

// searches reports whether matching one of pats searches the value (more
// than one pattern, or a pattern with a literal between wildcards) rather
// than comparing its ends.
func searches(pats []rule.Pattern) bool {
	return len(pats) > 1 || len(pats) == 1 && len(pats[0].Parts) > 2
}

// anyValue builds a matcher that is true when some non-null value of the
// field satisfies ok.
func anyValue(get event.View, ok func(string) bool) matcher {
	return func(e *event.Event, _ *Scratch) bool {
		for _, v := range get(e) {
			if v.T != event.Null && ok(v.S) {
				return true
			}
		}
		return false
	}
}

func (k *compiler) compileCmp(c rule.Cmp) (matcher, error) {
	get := event.ViewIndexed(c.Field)
	fold := func(s string) string { return s }
	if c.CaseInsensitive {
		fold = strings.ToLower
	}
	switch c.Op {
	case rule.OpExists:
		return anyValue(get, func(string) bool { return true }), nil
	case rule.OpEq:
		if len(c.Values) == 0 {
			return nil, fmt.Errorf("%s: no values", c.Field)
		}
		if len(c.Values) == 1 && !c.CaseInsensitive {
			want := c.Values[0]
			return anyValue(get, func(s string) bool { return s == want }), nil
		}
		set := make(map[string]bool, len(c.Values))
		for _, v := range c.Values {
			set[fold(v)] = true
		}
		return anyValue(get, func(s string) bool { return set[fold(s)] }), nil
	case rule.OpWildcard:
		pats := c.Patterns
		if c.CaseInsensitive {
			pats = make([]rule.Pattern, len(c.Patterns))
			for i, p := range c.Patterns {
				pats[i] = p.Lower()
			}
		}
		ok := func(s string) bool {
			s = fold(s)
			for _, p := range pats {
				if p.Match(s) {
					return true
				}
			}
			return false
		}
		if searches(pats) || c.CaseInsensitive {
			return k.anyValueMemo(get, ok), nil
		}
		return anyValue(get, ok), nil
	case rule.OpRegex:
		if len(c.Values) != 1 {
			return nil, fmt.Errorf("%s: a regex needs one pattern", c.Field)
		}
		expr := "^(?:" + c.Values[0] + ")$"
		if c.CaseInsensitive {
			expr = "(?i)" + expr
		}
		// a pattern wrapped in .* on both sides is an unanchored search,
		// which Go runs without backtracking over the wrappers
		if core, ok := containsCore(c.Values[0]); ok && !c.CaseInsensitive {
			expr = core
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Field, err)
		}
		if pass := regexlit.Filter(expr); pass != nil {
			return k.anyValueMemo(get, func(s string) bool { return pass(s) && re.MatchString(s) }), nil
		}
		return k.anyValueMemo(get, re.MatchString), nil
	case rule.OpLT, rule.OpLTE, rule.OpGT, rule.OpGTE:
		if len(c.Values) != 1 {
			return nil, fmt.Errorf("%s: a range needs one value", c.Field)
		}
		want := c.Values[0]
		wantNum, numErr := strconv.ParseFloat(want, 64)
		op := c.Op
		return anyValue(get, func(s string) bool {
			var cmp int
			if n, err := strconv.ParseFloat(s, 64); err == nil && numErr == nil {
				switch {
				case n < wantNum:
					cmp = -1
				case n > wantNum:
					cmp = 1
				}
			} else {
				cmp = strings.Compare(s, want)
			}
			switch op {
			case rule.OpLT:
				return cmp < 0
			case rule.OpLTE:
				return cmp <= 0
			case rule.OpGT:
				return cmp > 0
			}
			return cmp >= 0
		}), nil
	}
	return nil, fmt.Errorf("%s: unsupported operator %v", c.Field, c.Op)
}

// Matcher is a compiled condition.
type Matcher func(*event.Event, *Scratch) bool

// CompileCond compiles one condition (a sequence step, say).
func CompileCond(c rule.Cond) (Matcher, error) {
	m, err := new(compiler).compile(c)
	if err != nil {
		return nil, err
	}
	return Matcher(m), nil
}

// containsCore returns, for an anchored pattern of the form ^.*X.*$ (any
// character, dot matching newlines), the unanchored pattern X.
func containsCore(pat string) (string, bool) {
	re, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 4 {
		return "", false
	}
	s := re.Sub
	anyStar := func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpStar && r.Sub[0].Op == syntax.OpAnyChar
	}
	if s[0].Op != syntax.OpBeginText || s[len(s)-1].Op != syntax.OpEndText || !anyStar(s[1]) || !anyStar(s[len(s)-2]) {
		return "", false
	}
	core := &syntax.Regexp{Op: syntax.OpConcat, Sub: s[2 : len(s)-2]}
	return core.String(), true
}
