package pyrule

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/hunt"
)

var parsers = sync.Pool{New: func() any { return &event.Parser{} }}

// batchItem is a record of a batch that reaches Python rules.
type batchItem struct {
	i     int
	rules []*pyRule
	hdr   evalHeader
	place string
}

// Prepare evaluates the Python rules on a batch of records in one call to
// a worker, rather than one call per record: it returns the function to
// call with each record's parsed event (by index) before the engine
// matches it, which gives the event its results. Records it leaves out
// (no event time, a worker that failed) are evaluated one at a time when
// the engine asks. It returns nil when no record of the batch reaches
// Python.
func (rt *Runtime) Prepare(recs []hunt.Record) func(int, *event.Event) {
	p := parsers.Get().(*event.Parser)
	s := scratches.Get().(*engine.Scratch)
	var items []batchItem
	var raws [][]byte
	n := 0
	for i, rc := range recs {
		ev, err := p.Parse(rc.Data)
		if err != nil || ev.Kind != event.KindCloudTrail {
			continue
		}
		ev.File, ev.Line, ev.Offset = rc.File, rc.Line, rc.Offset
		t := ev.Time()
		if t.IsZero() {
			continue // the engine evaluates it with its file's time
		}
		var batch []*pyRule
		for _, c := range rt.candidates(ev) {
			if (c.match == nil || c.match(ev, s)) && !rt.isOff(c) {
				batch = append(batch, c)
			}
		}
		if len(batch) == 0 {
			continue
		}
		it := batchItem{i: i, rules: batch, place: place(ev),
			hdr: evalHeader{R: make([]int, len(batch)), ID: rowID(ev), T: t.UTC().Format("2006-01-02 15:04:05.000000000"), Now: float64(t.UnixNano()) / 1e9}}
		for j, pr := range batch {
			it.hdr.R[j] = pr.idx
		}
		items = append(items, it)
		raws = append(raws, rc.Data)
		n += len(batch)
	}
	scratches.Put(s)
	parsers.Put(p)
	if len(items) == 0 {
		return nil
	}
	results, err := rt.callBatch(items, raws, n)
	if err != nil {
		return nil // one at a time, which finds a rule at fault
	}
	memos := make([]*memo, len(recs))
	rt.events.Add(int64(len(items)))
	rt.calls.Add(int64(n))
	for k, it := range items {
		m := &memo{res: make([]*result, len(rt.rules))}
		for j, pr := range it.rules {
			r := results[k][j]
			m.res[pr.idx] = r
			pr.calls.Add(1)
			if r.E != "" {
				rt.recordErrAt(pr, it.place, r.E, false)
			}
			for _, e := range r.AE {
				rt.recordErrAt(pr, it.place, e, true)
			}
		}
		memos[it.i] = m
	}
	return func(i int, ev *event.Event) {
		if m := memos[i]; m != nil {
			ev.SetMemo(rt, m)
		}
	}
}

func (rt *Runtime) isOff(pr *pyRule) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return pr.off != ""
}

type batchHeader struct {
	Events []evalHeader `json:"events"`
	Len    []int        `json:"n"`
}

// callBatch evaluates a batch's events on an idle worker.
func (rt *Runtime) callBatch(items []batchItem, raws [][]byte, calls int) ([][]*result, error) {
	h := batchHeader{Events: make([]evalHeader, len(items)), Len: make([]int, len(items))}
	for k, it := range items {
		h.Events[k], h.Len[k] = it.hdr, len(raws[k])
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	parts := append([][]byte{hb, []byte("\n")}, raws...)
	w, err := rt.get()
	if err != nil {
		return nil, err
	}
	ans, err := w.call('B', parts, time.Duration(calls+2)*rt.opts.Timeout)
	if err != nil {
		rt.drop(w) // a new one starts when needed
		return nil, err
	}
	var out [][]*result
	err = json.Unmarshal(ans, &out)
	rt.put(w)
	if err != nil {
		return nil, fmt.Errorf("python worker answer: %w", err)
	}
	if len(out) != len(items) {
		return nil, fmt.Errorf("python worker answered for %d events of %d", len(out), len(items))
	}
	for k, it := range items {
		if len(out[k]) != len(it.rules) {
			return nil, fmt.Errorf("python worker answered for %d rules of %d", len(out[k]), len(it.rules))
		}
	}
	return out, nil
}

// place is where an event is, for messages.
func place(ev *event.Event) string {
	if ev.Line > 0 {
		return fmt.Sprintf("%s:%d", ev.File, ev.Line)
	}
	return ev.File
}
