package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/alert"
)

// A rotated JSON Lines file never splits or loses a line (but those in
// files past max_files, deleted on purpose), holds no more than max_size
// unless a single line is larger, is rotated only when the next line would
// not fit, and counts what was in the file before it was opened.
func TestFileSinkRotation(t *testing.T) {
	var one bytes.Buffer
	if err := alert.WriteJSONL(&one, testAlerts("b0", 1)); err != nil {
		t.Fatal(err)
	}
	line := int64(one.Len()) // every test alert's line has this length (prefixes of two letters)
	for _, tc := range []struct {
		name     string
		rot      Rotation
		existing int   // lines in the file before it is opened
		batches  []int // alerts per Deliver
		files    int   // files at the end: PATH and PATH.1 ...
		kept     int   // lines kept in them
	}{
		{"no rotation", Rotation{}, 0, []int{10, 10, 10}, 1, 30},
		{"three a file", Rotation{MaxSize: 3*line + line/2, MaxFiles: 3}, 0, []int{2, 2, 2, 2}, 3, 8},
		{"past max_files", Rotation{MaxSize: 3*line + line/2, MaxFiles: 2}, 0, []int{7, 7, 6}, 3, 8},
		{"exactly full", Rotation{MaxSize: 2 * line, MaxFiles: 5}, 0, []int{5}, 3, 5},
		{"line larger than max", Rotation{MaxSize: line / 2, MaxFiles: 3}, 0, []int{2, 1, 1}, 4, 4},
		{"existing file counted", Rotation{MaxSize: 3*line + line/2, MaxFiles: 1}, 2, []int{2}, 2, 4},
		{"default max_files", Rotation{MaxSize: line}, 0, []int{9}, DefaultMaxFiles + 1, DefaultMaxFiles + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.jsonl")
			var all []string
			if tc.existing > 0 {
				var b bytes.Buffer
				as := testAlerts("o0", tc.existing)
				alert.WriteJSONL(&b, as)
				os.WriteFile(path, b.Bytes(), 0o644)
				for _, a := range as {
					all = append(all, a.ID)
				}
			}
			s, err := OpenFileSink("jsonl", path, nil, NewMetrics())
			if err != nil {
				t.Fatal(err)
			}
			s.Rotate = tc.rot
			for i, n := range tc.batches {
				as := testAlerts("b"+strconv.Itoa(i), n)
				if err := s.Deliver(context.Background(), as); err != nil {
					t.Fatal(err)
				}
				for _, a := range as {
					all = append(all, a.ID)
				}
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The files, oldest first.
			var names []string
			for i := tc.files - 1; i >= 1; i-- {
				names = append(names, path+"."+strconv.Itoa(i))
			}
			names = append(names, path)
			if _, err := os.Stat(path + "." + strconv.Itoa(tc.files)); err == nil {
				t.Errorf("%s exists: more than %d files", path+"."+strconv.Itoa(tc.files), tc.files)
			}
			var got []string
			for i, name := range names {
				data, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasSuffix(data, []byte("\n")) {
					t.Errorf("%s does not end with a whole line", name)
				}
				lines := 0
				for l := range bytes.Lines(data) {
					var a struct{ ID string }
					if err := json.Unmarshal(l, &a); err != nil || a.ID == "" {
						t.Fatalf("%s: a broken line %q: %v", name, l, err)
					}
					got = append(got, a.ID)
					lines++
				}
				size := int64(len(data))
				if tc.rot.MaxSize > 0 && size > tc.rot.MaxSize && lines > 1 {
					t.Errorf("%s: %d bytes in %d lines, over max_size %d", name, size, lines, tc.rot.MaxSize)
				}
				if i < len(names)-1 && size+line <= tc.rot.MaxSize {
					t.Errorf("%s rotated at %d bytes with room for another line", name, size)
				}
			}
			if len(got) != tc.kept || !slices.Equal(got, all[len(all)-len(got):]) {
				t.Errorf("lines kept, oldest first:\n got %v\nwant the last %d of %v", got, tc.kept, all)
			}
		})
	}
}

func TestRotationConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml, err string
	}{
		{"sinks:\n  - type: jsonl\n    path: a.jsonl\n    max_size: 100MB\n    max_files: 3\n", ""},
		{"sinks:\n  - type: jsonl\n    path: a.jsonl\n    max_size: 1KB\n", ""},
		{"sinks:\n  - type: jsonl\n    path: a.jsonl\n    max_files: 3\n", "max_files goes with max_size"},
		{"sinks:\n  - type: jsonl\n    path: '-'\n    max_size: 1MB\n", "standard output is not rotated"},
		{"sinks:\n  - type: jsonl\n    path: a.jsonl\n    max_size: lots\n", "max_size: invalid size"},
		{"sinks:\n  - type: jsonl\n    path: a.jsonl\n    max_size: 1MB\n    max_files: -1\n", "want 1 or more"},
		{"sinks:\n  - type: webhook\n    url: http://x\n    max_size: 1MB\n", "for jsonl sinks, not webhook"},
	} {
		yaml := strings.ReplaceAll(tc.yaml, "a.jsonl", filepath.Join(t.TempDir(), "a.jsonl"))
		c, err := ParseConfig("serve.yaml", []byte(yaml), env(nil))
		if tc.err == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.yaml, err)
				continue
			}
			outs, err := c.OpenOutputs(nil, NewMetrics(), testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			fs := outs[0].Deliverer.(*FileSink)
			want, _ := ParseBytes(c.Sinks[0].MaxSize)
			if fs.Rotate.MaxSize != want || fs.Rotate.MaxFiles != c.Sinks[0].MaxFiles {
				t.Errorf("%q: rotation %+v", tc.yaml, fs.Rotate)
			}
			fs.Close(context.Background())
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.err)
		}
	}
}
