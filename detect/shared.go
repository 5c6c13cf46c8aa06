package detect

import (
	"fmt"

	"github.com/trailhound/trailhound/state"
)

// learn merges into the state of the rules loaded so far what other
// processes sharing the store (state.Shared: Redis) saved since the last
// call: a term, threshold group, alert id or suppression window another
// instance committed then counts here too, so the same new term, group or
// alert is not raised again by this one. The latest time wins, and for
// suppression the window that ends last, as in the store. Partial
// sequences are not shared (each process completes its own).
func (p *Processor) learn() error {
	sh, ok := p.store.(state.Shared)
	if !ok {
		return nil
	}
	changes, err := sh.Changes()
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	for i, ri := range p.rules {
		c, st := changes[ri.r.Key()], p.runs[i].st
		if c == nil || st == nil {
			continue
		}
		for _, m := range []struct{ into, from map[string]int64 }{{st.Terms, c.Terms}, {st.Groups, c.Groups}, {st.Alerted, c.Alerted}} {
			for k, t := range m.from {
				if old, ok := m.into[k]; !ok || t > old {
					m.into[k] = t
				}
			}
		}
		for k, w := range c.Suppress {
			if old, ok := st.Suppress[k]; !ok || w.End > old.End {
				st.Suppress[k] = w
			}
		}
	}
	return nil
}

// learned wraps an error of learn.
func learned(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("reading the shared state: %w", err)
}
