package state

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestBoltRoundTripAndExpiry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s", "state.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	h := int64(time.Hour)
	r := NewRule()
	r.Terms["arn:aws:iam::1:user/a"] = 10 * h
	r.Terms["arn:aws:iam::1:user/old"] = 1 * h
	r.Groups["acct"] = 9 * h
	r.Suppress["k"] = Window{AlertID: "a1", Start: 9 * h, End: 11 * h}
	r.Alerted["a1"] = 9 * h
	r.Watermark = 10 * h
	r.Expire(Retention{Terms: 5 * time.Hour, Groups: time.Hour, Alerted: time.Hour})
	if _, ok := r.Terms["arn:aws:iam::1:user/old"]; ok {
		t.Error("a term older than its window was kept")
	}
	if err := st.Save(map[string]*Rule{"rule-1": r}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBolt(path); !errors.Is(err, ErrLocked) {
		t.Errorf("second open: %v, want ErrLocked", err)
	}
	st.Close()

	st, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Load("rule-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Terms["arn:aws:iam::1:user/a"] != 10*h || len(got.Terms) != 1 || got.Groups["acct"] != 9*h ||
		got.Suppress["k"] != r.Suppress["k"] || got.Alerted["a1"] != 9*h || got.Watermark != 10*h {
		t.Errorf("loaded %+v, saved %+v", got, r)
	}
	stats, err := st.Stats()
	if err != nil || len(stats) != 1 || stats[0].Terms != 1 || stats[0].Alerted != 1 {
		t.Errorf("stats %+v, %v", stats, err)
	}
	empty, err := st.Load("unknown")
	if err != nil || len(empty.Terms) != 0 {
		t.Errorf("unknown rule: %+v, %v", empty, err)
	}
}

// Merge keeps what Redis keeps of two processes' saves, ties included: the
// processes then agree on which suppression window (and alert id) holds.
func TestRuleMerge(t *testing.T) {
	for _, c := range []struct {
		name         string
		mine, theirs Window
		want         Window
	}{
		{"theirs ends later", Window{"a", 1, 5}, Window{"b", 2, 6}, Window{"b", 2, 6}},
		{"mine ends later", Window{"a", 1, 7}, Window{"b", 2, 6}, Window{"a", 1, 7}},
		{"same end, theirs greater", Window{"a", 1, 5}, Window{"b", 1, 5}, Window{"b", 1, 5}},
		{"same end, mine greater", Window{"b", 1, 5}, Window{"a", 1, 5}, Window{"b", 1, 5}},
		{"same end, later start", Window{"z", 1, 5}, Window{"a", 2, 5}, Window{"a", 2, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, from := NewRule(), NewRule()
			r.Suppress["k"], from.Suppress["k"] = c.mine, c.theirs
			r.Terms["t"], from.Terms["t"] = 5, 4
			from.Terms["u"], from.Alerted["id"], from.Groups["g"] = 3, 2, 1
			r.Merge(from)
			if r.Suppress["k"] != c.want || r.Terms["t"] != 5 || r.Terms["u"] != 3 || r.Alerted["id"] != 2 || r.Groups["g"] != 1 {
				t.Errorf("merged %+v", r)
			}
			// Redis's tie-break (the Lua script's) as the store applies it
			if laterWindow(c.theirs, c.mine) != (c.want == c.theirs && c.theirs != c.mine) {
				t.Errorf("laterWindow disagrees")
			}
		})
	}
}
