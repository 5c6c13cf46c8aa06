package detect

import (
	"testing"

	"github.com/trailhound/trailhound/state"
)

// Pending entries a state file holds but this rule cannot use (another
// version of it, or damaged bytes) are dropped, never a panic.
func TestLoadPendingDropsUnusable(t *testing.T) {
	for _, key := range []string{"j\x1d-1", "j\x1d2", "j\x1dx", "j", "j\x1d0"} {
		st := state.NewRule()
		st.Pending[key] = state.Pending{Start: 1, Data: []byte(`[{"T":1,"Step":0}`)}        // truncated JSON
		st.Pending["k\x1d-3"] = state.Pending{Start: 1, Data: []byte(`[{"T":1,"Step":0}]`)} // a negative stage
		if got := loadPending(st, 2); len(got) != 0 {
			t.Errorf("%q: restored %v", key, got)
		}
	}
}
