package detect

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/state"
)

// ruleRun is what the processor keeps of one rule between watermarks.
type ruleRun struct {
	st      *state.Rule // loaded at the first Advance, saved by Commit
	sup     *suppressor
	rs      RuleStats
	untimed map[string]bool // ids of the alerts on records without event time seen so far
	outH    int64           // lowest time of an alert the rule may still raise (correlations reading it wait for it)
	expired int64           // the time the state was last expired at
}

// forgetter is a detector that mirrors state entries in memory (partial
// sequences) and drops them as the state expires them.
type forgetter interface {
	forget(before int64)
}

// Advance takes every match the collectors gathered so far and returns,
// sorted by event time, every alert that can no longer change given that
// no more matches earlier than w will come (later ones are late: counted
// in RuleStats.Late and still used where their window survives). It
// forgets every entry that can no longer matter, so what it keeps is
// bounded by the rules' windows. Collectors may keep adding while it runs.
func (p *Processor) Advance(w time.Time) ([]alert.Alert, error) {
	n := nanos(w)
	if n == math.MinInt64 { // nothing can be decided yet: the matches wait in the collectors
		return nil, nil
	}
	return p.advance(n, 1)
}

// Finish takes the remaining matches as the end of the input (Advance to
// the end of time) and returns the alerts not returned yet, sorted by time,
// and per-rule statistics of the whole input (by rule.Rule.Key). The new
// state is kept until Commit.
func (p *Processor) Finish() ([]alert.Alert, map[string]RuleStats, error) {
	alerts, err := p.advance(never, max(1, p.opts.Parallel))
	if err != nil {
		return nil, nil, err
	}
	return alerts, p.Stats(), nil
}

// Commit saves the state as of the last Advance or Finish. Call it after
// the alerts returned so far have been delivered: a hunt killed before then
// is replayed from the last commit, with the same alert ids. After Finish
// nothing is held back, so a replay neither loses nor doubles an alert.
// Mid-stream, what the processor did for alerts it has not returned yet (a
// new term's sighting whose run is open, a threshold group or suppression
// window whose alert may still grow, a dedup window) is left out of what is
// saved, so a replay raises those alerts again.
//
// With a store several processes share (state.Shared), Commit then merges
// in what the others saved since the last Commit (see learn).
func (p *Processor) Commit() error {
	horizon := p.horizonNow()
	if len(p.dirty) == 0 {
		p.horizon.Store(horizon)
		return learned(p.learn())
	}
	save := make(map[string]*state.Rule, len(p.dirty))
	for i := range p.dirty {
		save[p.rules[i].r.Key()] = p.returned(i)
	}
	if err := p.store.Save(save); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	p.dirty = map[int]bool{}
	p.horizon.Store(horizon)
	return learned(p.learn())
}

// undo reverts, in a copy of a rule's state, what the processor did for an
// alert it has not returned yet (event time t).
type undo struct {
	t  int64
	fn func(*state.Rule)
}

// rollbacker is a detector that changed the state for alerts it has not
// passed on yet.
type rollbacker interface {
	rollback(undos []undo) []undo
}

// stateSaver is a detector that writes what it keeps into the rule's state
// only when the state is saved.
type stateSaver interface {
	saveState(st *state.Rule)
}

// returned is a copy of rule i's state without what was done for the alerts
// not returned yet (the latest first), so that a replay from it raises them.
func (p *Processor) returned(i int) *state.Rule {
	run := p.runs[i]
	if s, ok := p.rules[i].det.(stateSaver); ok {
		s.saveState(run.st)
	}
	undos := run.sup.rollback(nil)
	if r, ok := p.rules[i].det.(rollbacker); ok {
		undos = r.rollback(undos)
	}
	if len(undos) == 0 {
		return run.st
	}
	st := run.st
	cp := &state.Rule{Terms: maps.Clone(st.Terms), Groups: maps.Clone(st.Groups), Suppress: maps.Clone(st.Suppress),
		Alerted: maps.Clone(st.Alerted), Pending: maps.Clone(st.Pending), Watermark: st.Watermark, Expired: st.Expired}
	sort.SliceStable(undos, func(a, b int) bool { return undos[a].t > undos[b].t })
	for _, u := range undos {
		u.fn(cp)
	}
	return cp
}

var (
	maxNanos = time.Unix(0, math.MaxInt64)
	minNanos = time.Unix(0, math.MinInt64)
)

// nanos is t in Unix nanoseconds, saturated.
func nanos(t time.Time) int64 {
	switch {
	case t.After(maxNanos):
		return never
	case t.Before(minNanos):
		return math.MinInt64
	}
	return t.UnixNano()
}

func (p *Processor) advance(w int64, parallel int) ([]alert.Alert, error) {
	if p.orderErr != nil {
		return nil, p.orderErr
	}
	w = max(w, p.watermark.Load())
	p.watermark.Store(w)
	for _, i := range p.order { // the store is read here, one rule at a time
		if run := p.runs[i]; run.st == nil {
			st, err := p.store.Load(p.rules[i].r.Key())
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", p.rules[i].r.Key(), err)
			}
			run.st, run.expired = st, math.MinInt64
		}
	}
	p.mu.Lock()
	cols := slices.Clone(p.collectors)
	p.mu.Unlock()
	got := make([]*Collector, len(cols))
	for k, c := range cols {
		got[k] = c.take()
	}
	// each rule's alerts, then all of them in one array of the right size
	// (an alert is large: growing the array copied them over and over)
	per := make([][]alert.Alert, len(p.order))
	touched := make([]bool, len(p.order))
	step := func(k int) { per[k], touched[k] = p.advanceRule(p.order[k], w, got) }
	if parallel > 1 && p.plain > 1 {
		p.advanceParallel(parallel, got, step)
	} else {
		for k := range p.order {
			step(k)
		}
	}
	n := 0
	for k, i := range p.order {
		if touched[k] {
			p.dirty[i] = true
		}
		n += len(per[k])
	}
	var all []alert.Alert
	if n > 0 {
		all = make([]alert.Alert, 0, n)
	}
	for _, alerts := range per {
		all = append(all, alerts...)
	}
	for k, c := range cols { // their matches are copied where they are kept
		c.giveBack(got[k])
	}
	alert.Sort(all)
	return all, nil
}

// advanceParallel runs step on every place of p.order, the rules that
// advance alone (ruleInfo.alone) on parallel goroutines. Such a rule reads
// nothing of another rule, and writes only its own run, state and
// detector: they go in any order, those with the most matches first (one
// started last would run alone). The correlations that read or feed other
// correlations follow, in their order, once the others are done: they read
// the rules they wait for (their horizon, and alerts passed on by chain).
func (p *Processor) advanceParallel(parallel int, got []*Collector, step func(k int)) {
	ks := make([]int, p.plain)
	load := make([]int, p.plain)
	for k := range ks {
		i := p.order[k]
		ks[k], load[k] = k, p.rules[i].det.held()
		for _, c := range got {
			load[k] += len(c.cands[i]) + len(c.sights[i]) + len(c.slices[i])
		}
	}
	slices.SortStableFunc(ks, func(a, b int) int { return load[b] - load[a] })
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(parallel, p.plain) {
		wg.Go(func() {
			for x := int(next.Add(1) - 1); x < p.plain; x = int(next.Add(1) - 1) {
				step(ks[x])
			}
		})
	}
	wg.Wait()
	for k := p.plain; k < len(p.order); k++ {
		step(k)
	}
}

// advanceRule takes a rule's new matches through its detector and the
// suppressor, and returns the alerts that can no longer change, and
// whether its state may have changed. Its state is loaded (advance).
func (p *Processor) advanceRule(i int, w int64, got []*Collector) ([]alert.Alert, bool) {
	ri, run := p.rules[i], p.runs[i]
	st, rs := run.st, &run.rs
	in := p.pending[i]
	p.pending[i] = nil
	var untimed []candidate
	if only := onlyCands(got, i); len(in) == 0 && only != nil {
		// the detectors copy what they keep: no copy of the one
		// collector's matches first
		in = only.cands[i]
	} else {
		for _, c := range got {
			in = append(in, c.cands[i]...)
		}
	}
	for _, c := range got {
		rs.Late += c.late[i]
		rs.NoTime += c.noTime[i]
		untimed = append(untimed, c.untimed[i]...)
	}
	rs.Matches += len(in)
	if nt, ok := ri.det.(*newTermsDetector); ok {
		added, latest := nt.see(i, got)
		rs.Matches += added
		st.Watermark = max(st.Watermark, latest) // the sightings held from before counted already
	}
	for _, c := range got { // aggregating ES|QL: slices, at their start
		for start, pt := range c.slices[i] {
			in = append(in, candidate{t: start, part: pt})
		}
		rs.Matches += c.sliceRows[i]
	}
	touched := len(in) > 0 || len(untimed) > 0 || ri.det.held() > 0 || len(run.sup.held) > 0
	for _, c := range in {
		st.Watermark = max(st.Watermark, c.t)
	}
	wr := w
	if ri.corr != nil { // the correlations it reads first
		for _, j := range ri.corr.waits {
			wr = min(wr, p.runs[j].outH)
		}
	}
	raised, h := ri.det.advance(wr, in, st, rs)
	p.chain(ri, run.sup.add(raised, st, rs, len(ri.chained) > 0))
	run.outH = h
	alerts := run.sup.release(h)
	if len(untimed) > 0 {
		rs.Matches += len(untimed)
		alerts = append(alerts, raiseUntimed(ri, untimed, run.untimed, st, rs)...)
	}
	if ri.silent { // only correlations use these matches
		rs.Signals += len(alerts)
		alerts = nil
	}
	rs.Alerts += len(alerts)
	p.expire(ri, run, h)
	return alerts, touched
}

// onlyCands returns the one taken collector that has matches of rule i
// when no other has any, nor any ES|QL slice of it (nil otherwise).
func onlyCands(got []*Collector, i int) *Collector {
	var only *Collector
	for _, c := range got {
		if len(c.slices[i]) > 0 {
			return nil
		}
		if len(c.cands[i]) > 0 {
			if only != nil {
				return nil
			}
			only = c
		}
	}
	return only
}

// expire drops the state entries of a rule that no match to come can need:
// those out of the rule's windows back from the earlier of its latest
// event and h (the lowest time it may still raise an alert at). Mid-stream
// it does so at most once per interval.
func (p *Processor) expire(ri *ruleInfo, run *ruleRun, h int64) {
	st := run.st
	at := min(st.Watermark, h, p.hold.Load())
	if h != never && at < run.expired+ri.interval {
		return
	}
	run.expired = at
	keep := time.Duration(ri.lookback + ri.interval)
	if sq := ri.r.Sequence; sq != nil {
		keep += sq.MaxSpan // a sequence alert's events span up to maxspan
	}
	if c := ri.r.Correlation; c != nil {
		keep += c.Timespan
	}
	latest := st.Watermark
	st.Watermark = at
	st.Expire(state.Retention{Terms: time.Duration(ri.history), Groups: time.Duration(ri.lookback), Alerted: keep, Pending: keep})
	st.Watermark = latest
	if f, ok := ri.det.(forgetter); ok {
		f.forget(at - int64(keep))
	}
}
