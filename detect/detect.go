// Package detect turns rule matches into alerts the way Elastic's detection
// engine does, in event time: scheduled runs over look-back windows with
// max_signals per run, de-duplication across overlapping windows and across
// hunts, new_terms with a history window, threshold with cardinality, and
// alert suppression. State that must outlive a hunt lives in a state.Store.
//
// Matching runs in parallel (a Collector per worker). The processor takes
// the matches as event time advances (Advance, with a watermark: the lowest
// event time still to come) and raises every alert that can no longer
// change, each rule through the detector of its kind, in time order, so the
// result depends neither on the order in which files were read nor on how
// the input was cut into watermarks. Finish is the end of the input.
package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// maxTermCombinations caps the cross product of array values one event
// contributes to a new_terms or threshold rule, as Elastic does.
const maxTermCombinations = 100

// Options restrict what is considered, and how Finish runs.
type Options struct {
	From, To time.Time // event-time range; zero means unbounded
	// Parallel is how many goroutines Finish decides the rules on
	// (default 1). Nothing else runs while a hunt finishes, and an
	// input whose records are out of order leaves every decision to the
	// end: a hunt gives Finish its workers.
	Parallel int
}

// Processor holds the rules and their state for one hunt or stream.
type Processor struct {
	rules    []*ruleInfo
	index    map[*rule.Rule]int
	store    state.Store
	opts     Options
	dirty    map[int]bool  // rules whose state changed since the last Commit
	pending  [][]candidate // correlations: alerts of the correlations they read
	order    []int         // the order rules advance in (finishOrder)
	plain    int           // how many rules at the front of order are independent (see alone)
	orderErr error         // correlations that read each other in a cycle
	runs     []*ruleRun    // per rule: what advancing keeps

	mu         sync.Mutex
	collectors []*Collector
	watermark  atomic.Int64 // the last watermark passed to Advance
	horizon    atomic.Int64 // Horizon as of the last Commit
	hold       atomic.Int64 // Hold: state entries a record at or after it may need are kept
}

type ruleInfo struct {
	r           *rule.Rule
	key         string // r.Key(), which builds a string for a rule not Elastic's
	interval    int64
	lookback    int64
	history     int64 // new_terms history window
	termGetters []event.Getter
	groupGetter []event.Getter
	cardGetter  []event.Getter
	suppGetter  []event.Getter
	feeds       []feed // correlations reading this rule's matches
	chained     []feed // correlations reading this correlation's alerts
	silent      bool   // only correlations use the matches (Sigma generate: false)
	corr        *corrInfo
	steps       []engine.Matcher // EQL sequence steps; the until step last
	slice       int64            // aggregating ES|QL: length of the time slices aggregated as records arrive
	stepBy      [][]event.Getter // join fields per step (sequence by + step by)
	det         detector
}

// New prepares a processor for rules (the engine's runnable rules).
func New(rules []*rule.Rule, store state.Store, opts Options) (*Processor, error) {
	p := &Processor{index: map[*rule.Rule]int{}, store: store, opts: opts, dirty: map[int]bool{}}
	rule.MarkDuplicateIDs(rules) // rules sharing an id get keys of their own (catalog.Load did it already)
	for i, r := range rules {
		ri := &ruleInfo{r: r, key: r.Key(), interval: int64(r.Schedule.Interval), lookback: int64(r.Schedule.Lookback)}
		if ri.interval <= 0 {
			ri.interval = int64(5 * time.Minute)
		}
		if ri.lookback <= 0 {
			ri.lookback = ri.interval
		}
		if nt := r.NewTerms; nt != nil && r.Type == "new_terms" {
			h, err := rule.ParseDateMath(nt.HistoryWindowStart)
			if err != nil {
				return nil, fmt.Errorf("rule %s: history_window_start: %w", r.ID, err)
			}
			ri.history = int64(h)
			for _, f := range nt.Fields {
				ri.termGetters = append(ri.termGetters, event.ResolveIndexed(f))
			}
		}
		if th := r.Threshold; th != nil && r.Type == "threshold" {
			for _, f := range th.Fields {
				ri.groupGetter = append(ri.groupGetter, event.ResolveIndexed(f))
			}
			for _, c := range th.Cardinality {
				ri.cardGetter = append(ri.cardGetter, event.ResolveIndexed(c.Field))
			}
		}
		if r.ESQL != nil && r.ESQL.Aggregating && r.ESQL.Partials() {
			// run windows [k*interval - lookback, k*interval) hold whole slices
			ri.slice = gcd(ri.interval, ri.lookback)
		}
		if sq := r.Sequence; sq != nil {
			steps := sq.Steps
			if sq.Until != nil {
				steps = append(steps[:len(steps):len(steps)], *sq.Until)
			}
			for _, st := range steps {
				m, err := engine.CompileCond(st.Cond)
				if err != nil {
					return nil, fmt.Errorf("rule %s: sequence step: %w", r.ID, err)
				}
				var gs []event.Getter
				for _, f := range append(append([]string(nil), sq.By...), st.By...) {
					gs = append(gs, event.ResolveIndexed(f))
				}
				ri.steps = append(ri.steps, m)
				ri.stepBy = append(ri.stepBy, gs)
			}
		}
		// an aggregating ES|QL rule's matches are head rows, not alerts:
		// its result rows carry their suppression keys (rowSuppression)
		if s := r.Suppression; s != nil && (r.ESQL == nil || !r.ESQL.Aggregating) {
			for _, f := range s.GroupBy {
				ri.suppGetter = append(ri.suppGetter, event.ResolveIndexed(f))
			}
		}
		p.index[r] = i
		p.rules = append(p.rules, ri)
	}
	p.pending = make([][]candidate, len(p.rules))
	if err := p.linkCorrelations(); err != nil {
		return nil, err
	}
	p.order, p.orderErr = p.finishOrder()
	for p.plain < len(p.order) && p.rules[p.order[p.plain]].alone() {
		p.plain++
	}
	for _, ri := range p.rules {
		ri.det = newDetector(ri)
		if cd, ok := ri.det.(*correlationDetector); ok {
			cd.hold = &p.hold
		}
		p.runs = append(p.runs, &ruleRun{sup: newSuppressor(ri), untimed: map[string]bool{}, outH: math.MinInt64})
	}
	p.watermark.Store(math.MinInt64)
	p.horizon.Store(math.MinInt64)
	p.hold.Store(never)
	return p, nil
}

// alone reports whether a rule advances without reading or writing another
// rule's run: a rule that is no correlation, or a correlation that reads
// only rules' matches and whose alerts no correlation reads (the Sigma
// corpus's are all such). Alone rules advance in any order, in parallel.
func (ri *ruleInfo) alone() bool {
	return ri.corr == nil || len(ri.corr.waits) == 0 && len(ri.chained) == 0
}

// finishOrder is the order rules are finished in: the rules that advance
// alone first, then each other correlation after the correlations it
// reads.
func (p *Processor) finishOrder() ([]int, error) {
	var order []int
	done := map[int]bool{}
	var corrs []int
	for i, ri := range p.rules {
		if ri.alone() {
			order = append(order, i)
			done[i] = true
		} else {
			corrs = append(corrs, i)
		}
	}
	for len(corrs) > 0 {
		var rest []int
		for _, i := range corrs {
			ready := true
			for _, w := range p.rules[i].corr.waits {
				ready = ready && done[w]
			}
			if ready {
				order = append(order, i)
				done[i] = true
			} else {
				rest = append(rest, i)
			}
		}
		if len(rest) == len(corrs) {
			return nil, fmt.Errorf("correlations reference each other in a cycle: %s", p.rules[rest[0]].r.Name)
		}
		corrs = rest
	}
	return order, nil
}

// RuleStats reports what Advance and Finish did with one rule's matches.
type RuleStats struct {
	Matches    int // matching events (threshold: group memberships)
	Alerts     int
	Withheld   int // over max_signals in every run that could have raised them
	Suppressed int // folded into an earlier alert by alert_suppression
	Known      int // raised by an earlier hunt already (state)
	Duplicates int // the same record seen twice (delivered twice)
	Signals    int // Panther CreateAlert: false: matches that would have alerted
	NoTime     int // matches of records without a usable event time, skipped: the rule needs event time
	Late       int // matches earlier than the watermark when they came (still used where the window survives)
}

// hashID is the hex SHA-256 of parts joined by NUL: the id of an alert that
// is not one event's (sequences, aggregates, thresholds).
func hashID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
