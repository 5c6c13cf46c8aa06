package detect

import (
	"fmt"

	"github.com/trailhound/trailhound/state"
)

// learn merges into the state of the rules loaded so far what other
// processes sharing the store (state.Shared: Redis) saved since the last
// call: a term, threshold group, alert id or suppression window another
// instance committed then counts here too, so the same new term, group or
// alert is not raised again by this one. They merge as in the store
// (state.Rule.Merge: the latest time wins, for suppression the window that
// ends last, ties to the same window as Redis keeps). Partial sequences
// are not shared (each process completes its own).
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
		st.Merge(c)
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
