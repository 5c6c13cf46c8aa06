package detect

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/esql"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
)

// Collector gathers one worker's matches until the processor takes them
// (Advance, Finish). Add may run while the processor advances on another
// goroutine.
type Collector struct {
	p       *Processor
	buf     []event.Value
	scratch *engine.Scratch

	mu        sync.Mutex // guards what follows: Advance takes it
	cands     [][]candidate
	firstSeen map[termKey]int                 // new_terms: index of the candidate holding the bucket's alert
	slices    map[int]map[int64]*esql.Partial // aggregating ES|QL: rule -> slice start -> aggregation
	sliceRows map[int]int
	untimed   [][]candidate // alerts on records without a usable event time, at their file's time
	noTime    []int         // matches of such records a rule skipped (it needs event time)
	late      []int         // matches earlier than the watermark when they came
	sights    [][]sighting  // new_terms: matches without an alert (newTermsDetector.collect)
	terms     [][]string    // new_terms: each field's values of the event (views)
	// spare is a taken cands the processor has read and given back
	// (emptied): its arrays, grown to a batch's matches, are reused
	spare [][]candidate
}

// NewCollector returns a collector for one goroutine.
func (p *Processor) NewCollector() *Collector {
	c := &Collector{p: p, scratch: engine.NewScratch()}
	c.reset()
	p.mu.Lock()
	p.collectors = append(p.collectors, c)
	p.mu.Unlock()
	return c
}

// reset starts empty buffers.
func (c *Collector) reset() {
	n := len(c.p.rules)
	c.cands, c.spare = c.spare, nil
	if c.cands == nil {
		c.cands = make([][]candidate, n)
	}
	c.firstSeen = map[termKey]int{}
	c.slices = map[int]map[int64]*esql.Partial{}
	c.sliceRows = map[int]int{}
	c.untimed = make([][]candidate, n)
	c.noTime = make([]int, n)
	c.late = make([]int, n)
	c.sights = make([][]sighting, n)
}

// take returns what the collector gathered and starts over.
func (c *Collector) take() *Collector {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := &Collector{cands: c.cands, sights: c.sights, slices: c.slices, sliceRows: c.sliceRows, untimed: c.untimed, noTime: c.noTime, late: c.late}
	c.reset()
	return got
}

// maxSpare is the most matches of one rule whose array a collector keeps
// for reuse (a candidate is 256 bytes).
const maxSpare = 1024

// giveBack returns a taken collector's matches, read, for reuse.
func (c *Collector) giveBack(got *Collector) {
	for i, cs := range got.cands {
		if cap(cs) > maxSpare { // a burst's: not kept for ever
			got.cands[i] = nil
			continue
		}
		clear(cs)
		got.cands[i] = cs[:0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spare == nil {
		c.spare = got.cands
	}
}

// eventTime is the rule's time for an event: event.ingested when the rule
// overrides its timestamp and the event has one (ECS input), else the event
// time (raw CloudTrail has no ingest time, so Elastic's fallback applies).
func eventTime(r *rule.Rule, ev *event.Event) time.Time {
	if r.Schedule.TimestampOverride != "" && ev.Kind == event.KindECS {
		if s, ok := event.Lookup(ev, r.Schedule.TimestampOverride).(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil && event.TimeInRange(t) {
				return t.UTC()
			}
		}
	}
	return ev.Time()
}

// values returns the string values of a field, de-duplicated.
func (c *Collector) values(g event.Getter, ev *event.Event) []string {
	c.buf = g(ev, c.buf[:0])
	var out []string
	for _, v := range c.buf {
		if v.T == event.Null {
			continue
		}
		dup := false
		for _, o := range out {
			if o == v.S {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, strings.Clone(v.S))
		}
	}
	return out
}

// views is values without copies: the strings are the event's, to be read
// before the next one (appended to out).
func (c *Collector) views(g event.Getter, ev *event.Event, out []string) []string {
	c.buf = g(ev, c.buf[:0])
	for _, v := range c.buf {
		if v.T != event.Null && !slices.Contains(out, v.S) {
			out = append(out, v.S)
		}
	}
	return out
}

// cross returns the cross product of value lists (nil if any list is empty).
func cross(lists [][]string) [][]string {
	out := [][]string{nil}
	for _, l := range lists {
		if len(l) == 0 {
			return nil
		}
		var next [][]string
		for _, prefix := range out {
			for _, v := range l {
				if len(next) >= maxTermCombinations {
					break
				}
				next = append(next[:len(next):len(next)], append(append([]string(nil), prefix...), v))
			}
		}
		out = next
	}
	return out
}

// Add records that ev matched r. A match earlier than the last watermark
// passed to Advance is late: counted, and still used where the rule's
// window survives.
func (c *Collector) Add(r *rule.Rule, ev *event.Event) {
	i := c.p.index[r]
	ri := c.p.rules[i]
	t := eventTime(r, ev)
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.IsZero() {
		c.addUntimed(i, ev)
		return
	}
	if (!c.p.opts.From.IsZero() && t.Before(c.p.opts.From)) || (!c.p.opts.To.IsZero() && !t.Before(c.p.opts.To)) {
		return
	}
	cd := candidate{t: t.UnixNano()}
	if cd.t < c.p.watermark.Load() {
		c.late[i]++
	}
	c.feedCorrelations(ri, ev, cd.t)
	if ri.suppGetter != nil {
		vals := make([][]string, len(ri.suppGetter))
		for j, g := range ri.suppGetter {
			vals[j] = c.values(g, ev)
		}
		cd.supp, cd.sv = suppression(r, vals)
	}
	ri.det.collect(c, i, ev, cd)
}
