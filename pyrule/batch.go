package pyrule

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
)

// batchItem is an event of a batch that reaches Python rules.
type batchItem struct {
	ev    *event.Event
	rules []*pyRule
	hdr   evalHeader
	inGo  memo // the results Go decided
}

// Prepare evaluates the Python rules on a batch of events in one call to
// a worker, rather than one call per event, and gives each event its
// results before the engine matches it (hunt.Options.Prepare). Events it
// leaves out (no event time, a worker that failed) are evaluated one at a
// time when the engine asks.
func (rt *Runtime) Prepare(evs []*event.Event) {
	s := scratches.Get().(*engine.Scratch)
	fm := rt.newFieldMemo()
	var items []batchItem
	var raws [][]byte
	n := 0
	for _, ev := range evs {
		if ev.Kind != event.KindCloudTrail {
			continue
		}
		t := ev.Time()
		if t.IsZero() {
			continue // the engine evaluates it with its file's time
		}
		fm.reset()
		batch := slices.DeleteFunc(rt.admitted(ev, s, fm), rt.isOff)
		var inGo memo
		py := batch[:0]
		for _, pr := range batch {
			if res, ok := rt.decide(ev, pr); ok {
				inGo.set(pr.idx, res)
				continue
			}
			py = append(py, pr)
		}
		batch = py
		if len(batch) == 0 {
			if len(inGo.idx) == 0 {
				ev.SetMemo(rt, noRule)
			} else {
				ev.SetMemo(rt, &inGo)
			}
			continue
		}
		items = append(items, batchItem{ev: ev, rules: batch, hdr: header(ev, batch), inGo: inGo})
		raws = append(raws, ev.Raw)
		n += len(batch)
	}
	scratches.Put(s)
	if len(items) == 0 {
		return
	}
	results, err := rt.callBatch(items, raws, n)
	if err != nil {
		return // one at a time, which finds a rule at fault (Go decides again what it can)
	}
	rt.events.Add(int64(len(items)))
	rt.calls.Add(int64(n))
	for k, it := range items {
		m := &memo{idx: append(it.inGo.idx, it.hdr.R...), res: append(it.inGo.res, results[k]...)}
		for j, pr := range it.rules {
			r := results[k][j]
			pr.calls.Add(1)
			if r.E != "" {
				rt.recordErr(pr, it.ev, r.E, false)
			}
			for _, e := range r.AE {
				rt.recordErr(pr, it.ev, e, true)
			}
		}
		it.ev.SetMemo(rt, m)
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
	rt.trips.Add(1)
	ans, err := w.call('B', parts, time.Duration(calls+2)*rt.opts.Timeout)
	if err != nil {
		rt.drop(w) // a new one starts when needed
		return nil, err
	}
	var answers [][]json.RawMessage
	err = json.Unmarshal(ans, &answers)
	rt.put(w)
	if err != nil {
		return nil, fmt.Errorf("python worker answer: %w", err)
	}
	if len(answers) != len(items) {
		return nil, fmt.Errorf("python worker answered for %d events of %d", len(answers), len(items))
	}
	out := make([][]*result, len(items))
	for k, it := range items {
		if len(answers[k]) != len(it.rules) {
			return nil, fmt.Errorf("python worker answered for %d rules of %d", len(answers[k]), len(it.rules))
		}
		if out[k], err = decodeResults(answers[k]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// place is where an event is, for messages.
func place(ev *event.Event) string { return matchRef{file: ev.File, line: ev.Line}.place() }
