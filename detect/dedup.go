package detect

import (
	"strconv"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/state"
)

// dedupDetector groups Panther matches as Panther does: the first match
// with a dedup key opens a window of the dedup period; the window's alert
// is raised when its Threshold-th match arrives (with Unique, its
// Threshold-th distinct value), and later matches in the window are
// counted into it. Signal rules (CreateAlert: false) raise no
// alert. Matches are decided in time order once the watermark passes them;
// an alert is held until its window closes (its docs_count may still
// grow), and a window is forgotten then.
type dedupDetector struct {
	ri      *ruleInfo
	pending []candidate // matches not yet decided, sorted
	open    map[string]*dedupWindow
}

type dedupWindow struct {
	start, end int64
	count      int             // matches (with Unique: distinct values) toward the threshold
	matches    int             // matches in the window (this hunt's)
	alert      *alert.Alert    // the raised alert, or nil
	uniq       map[string]bool // with Unique: the values counted
	replaced   *state.Window   // the key's window in the state before this one's (rollback restores it)
}

func (d *dedupDetector) collect(c *Collector, i int, ev *event.Event, cd candidate) {
	r := c.p.rules[i].r
	a, later := matchAlertLater(r, c.p.rules[i].key, ev)
	a.Time = time.Unix(0, cd.t).UTC()
	cd.term = a.Title
	if r.Dedup.Key != nil {
		cd.term = r.Dedup.Key(ev)
	}
	if r.Dedup.Unique != nil {
		cd.card = []string{}
		if v, ok := r.Dedup.Unique(ev); ok {
			cd.card = []string{v}
		}
	}
	cd.alert = &a
	cd.later = later
	c.cands[i] = append(c.cands[i], cd)
}

func (d *dedupDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	dd := d.ri.r.Dedup
	if len(in) > 0 {
		d.pending = append(d.pending, in...)
		sortCandidates(d.pending)
	}
	n := before(d.pending, w)
	var out []candidate
	pass := func(win *dedupWindow) {
		if win != nil && win.alert != nil {
			out = append(out, candidate{t: win.alert.Time.UnixNano(), alert: win.alert})
		}
	}
	for _, c := range d.pending[:n] {
		key := "dedup\x1f" + c.term
		win := d.open[key]
		if win == nil || c.t >= win.end {
			if prev, ok := st.Suppress[key]; ok && c.t < prev.Start {
				// older than the key's latest window: a replay of a record
				// decided before, or a late one; its window closed (and its
				// alert went out) before that one opened
				rs.Known++
				continue
			}
			win = &dedupWindow{start: c.t, end: c.t + int64(dd.Period)}
			if prev, ok := st.Suppress[key]; ok && c.t >= prev.Start && c.t < prev.End {
				// a window opened by an earlier hunt: its alert is out already
				win.start, win.end, win.count = prev.Start, prev.End, dd.Threshold
			}
			pass(d.open[key]) // closed: no later match falls in it
			d.open[key] = win
		}
		dup := false // with Unique: a value counted already, or none
		if dd.Unique != nil {
			if win.uniq == nil {
				win.uniq = map[string]bool{}
			}
			if dup = len(c.card) == 0 || win.uniq[c.card[0]]; !dup {
				win.uniq[c.card[0]] = true
			}
		}
		if !dup {
			win.count++
		}
		win.matches++
		switch {
		case win.alert != nil:
			sp := win.alert.Suppression
			sp.DocsCount++
			sp.End = time.Unix(0, c.t).UTC()
		case dup: // counts for nothing until the window's alert is raised
		case win.count > dd.Threshold && dd.Signal: // folded into the window's signal
		case win.count > dd.Threshold:
			rs.Known++ // counted into an alert raised by an earlier hunt
		case win.count == dd.Threshold && dd.Signal:
			rs.Signals++
		case win.count == dd.Threshold:
			a := *c.alert
			if c.later != nil { // the fields only an alert gets (Panther Python: alert_context...)
				c.later(&a)
			}
			a.ID = hashID("dedup", d.ri.r.Key(), c.term, strconv.FormatInt(win.start, 10))
			a.Suppression = &alert.Suppression{Terms: map[string]any{"dedup": c.term}, DocsCount: win.matches - 1,
				Start: time.Unix(0, win.start).UTC(), End: time.Unix(0, c.t).UTC()}
			if prev, ok := st.Suppress[key]; ok {
				win.replaced = &prev
			}
			st.Suppress[key] = state.Window{AlertID: a.ID, Start: win.start, End: win.end}
			win.alert = &a
		}
	}
	clear(d.pending[:n])
	d.pending = d.pending[n:]
	for key, win := range d.open {
		if win.end <= w || w == never { // no later match falls in it
			pass(win)
			delete(d.open, key)
		}
	}
	sortCandidates(out)
	return out, w
}

// rollback forgets the windows whose alerts are not passed on yet.
func (d *dedupDetector) rollback(undos []undo) []undo {
	for key, win := range d.open {
		if win.alert != nil {
			id, replaced := win.alert.ID, win.replaced
			undos = append(undos, undo{win.start, func(st *state.Rule) {
				if st.Suppress[key].AlertID == id {
					delete(st.Suppress, key)
					if replaced != nil { // the window before it, closed: a replay must find it
						st.Suppress[key] = *replaced
					}
				}
			}})
		}
	}
	return undos
}

func (d *dedupDetector) held() int { return len(d.pending) + len(d.open) }
