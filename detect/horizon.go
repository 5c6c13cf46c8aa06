package detect

import (
	"math"
	"time"
)

// Horizon is the earliest event time of a record whose effect the state
// saved by the last Commit may not hold: a match still held in memory (a
// run, window, suppression or dedup period not decided yet, or an alert not
// returned yet), or a record that such a match's window may still read. A
// live input may let go of (acknowledge) the records it delivered before
// the last Advance whose event times are all earlier than Horizon: after a
// crash, the saved state and a replay of the records it still holds give
// the same alerts. Records without event time count at the time their
// input stamped them. Before the first Commit it is the earliest time.
//
// It is conservative (a rule's whole look-back, interval, sequence span,
// correlation timespan, dedup period and suppression duration back from
// the lowest time the rule may still raise an alert at), so a replay may
// repeat alerts already delivered (with the same ids), never miss one.
func (p *Processor) Horizon() time.Time {
	return time.Unix(0, p.horizon.Load())
}

// horizonNow computes Horizon from what the processor holds now; Commit
// stores it.
func (p *Processor) horizonNow() int64 {
	w := p.watermark.Load()
	lo := int64(math.MaxInt64)
	for i, ri := range p.rules {
		run := p.runs[i]
		h := min(w, run.outH)
		if run.st == nil { // never advanced: nothing held
			h = w
		}
		for _, x := range run.sup.held {
			h = min(h, x.t)
		}
		lo = min(lo, sub(h, keepSpan(ri)))
	}
	if lo == math.MaxInt64 { // no rules
		lo = w
	}
	return lo
}

// keepSpan is how far back from an alert's time the records that make it
// may lie, generously: two look-backs and intervals, the sequence span,
// correlation timespan, dedup period and suppression duration.
func keepSpan(ri *ruleInfo) int64 {
	r := ri.r
	d := 2 * (ri.lookback + ri.interval)
	if r.Sequence != nil {
		d += int64(r.Sequence.MaxSpan)
	}
	if r.Correlation != nil {
		d += int64(r.Correlation.Timespan)
	}
	if r.Dedup != nil {
		d += int64(r.Dedup.Period)
	}
	if r.Suppression != nil {
		d += int64(r.Suppression.Duration)
	}
	return d
}

// sub is a-b, saturated at the lowest time.
func sub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// Hold keeps, from the next Advance on, every state entry a record at or
// after t may need (suppression and dedup windows, threshold groups, terms,
// raised alert ids, partial sequences): a live input that will replay its
// unacknowledged records, the earliest at t, after a crash needs the state
// to remember what those records met the first time, or a replayed record
// would open a window of its own and raise an alert under another id. The
// zero time holds nothing back.
func (p *Processor) Hold(t time.Time) {
	if t.IsZero() {
		p.hold.Store(never)
		return
	}
	p.hold.Store(nanos(t))
}

// Stats is per-rule statistics so far (by rule.Rule.Key), for a stream
// that never finishes. Call it where Advance is called, not beside it.
func (p *Processor) Stats() map[string]RuleStats {
	stats := map[string]RuleStats{}
	for i, run := range p.runs {
		if run.rs != (RuleStats{}) {
			stats[p.rules[i].r.Key()] = run.rs
		}
	}
	return stats
}
