package event

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// rootIndexPaths are paths the root index property is checked on: present,
// absent, escaped in records, differing only in case, dotted keys, arrays
// along the path, the empty name.
var rootIndexPaths = []string{"eventSource", "eventName", "EventSource", "eventsource", "userIdentity.type", "userIdentity.Type",
	"requestParameters.a.b", "requestParameters.a", "a.b.c", "a.b", "a", "x.y", "\"q\"", "", "resources.ARN", "é.ü"}

// rootIndexSeeds are hostile records for the root index.
var rootIndexSeeds = []string{
	`{"event\u0053ource":"s","eventName":"N"}`,
	`{"eventSource":"plain","event\u0053ource":"escaped"}`,
	`{"event\u0053ource":"escaped","eventSource":"plain"}`,
	`{"eventSource":"a","eventSource":"b","EventSource":"c","eventsource":"d"}`,
	`{"userIdentity":[{"type":"A"},{"type":"B"},[{"type":"C"}]],"userIdentity.type":"flat"}`,
	`{"a.b":{"c":1},"a":{"b":{"c":2},"b.c":3},"a.b.c":4}`,
	`{"a":[1,{"b":[{"c":null},{"c":true}]},"x"],"a":{"b":"dup"}}`,
	`{"requestParameters":{"a":{"b":"x"},"a.b":"y"},"requestParameters":null}`,
	`{"\"q\"":"quoted","\u0022q\u0022":"escaped","":"empty"}`,
	`{"\u00e9":{"\u00fc":"u"},"é.ü":"flat","é":{"ü":"v"}}`,
	`{"resources":[{"ARN":"a"},{"AR\u004e":"b"}],"x":{"y":1e400}}`,
	`[{"eventSource":"in an array"}]`,
	`"a string"`,
	`{}`,
}

// checkRootIndex asserts that reading each path through the root index
// yields what a plain fastjson walk from the root yields: once the object's
// keys are unescaped (fastjson's first-match-after-unescaping), and, when no
// two top-level keys are alike, whatever fastjson has done yet.
func checkRootIndex(t *testing.T, data []byte, paths []*path) {
	t.Helper()
	var p Parser
	ev, err := p.ParseUTF8(data)
	if err != nil {
		return
	}
	var fresh, unesc fastjson.Parser
	plain, _ := fresh.ParseBytes(data)
	ref, _ := unesc.ParseBytes(data)
	dups := false
	if o, err := ref.Object(); err == nil {
		seen := map[string]bool{}
		o.Visit(func(k []byte, _ *fastjson.Value) { // unescapes the keys
			dups = dups || seen[string(k)]
			seen[string(k)] = true
		})
	}
	// read in a varying order: the first reads build the index
	for round := range 2 {
		for i := range paths {
			pa := paths[(i*(round+1))%len(paths)]
			got := valuesString(ev.walkSrc(pa, nil))
			if want := valuesString(walk(ref, pa, 0, nil)); got != want {
				t.Fatalf("record %s path %q: indexed %s, walk after unescaping %s", data, pa.name, got, want)
			}
			if want := valuesString(walk(plain, pa, 0, nil)); !dups && got != want {
				t.Fatalf("record %s path %q: indexed %s, plain walk %s", data, pa.name, got, want)
			}
		}
	}
}

func TestRootIndexMatchesWalk(t *testing.T) {
	paths := make([]*path, len(rootIndexPaths))
	for i, n := range rootIndexPaths {
		paths[i] = newPath(n)
	}
	for _, s := range rootIndexSeeds {
		checkRootIndex(t, []byte(s), paths)
	}
	// random records over a small vocabulary of keys (escaped or not,
	// differing in case, dotted), values nested through arrays
	r := rand.New(rand.NewPCG(15, 15))
	keys := []string{`eventSource`, `event\u0053ource`, `EventSource`, `eventsource`, `userIdentity`, `type`, `Type`,
		`userIdentity.type`, `a`, `b`, `c`, `a.b`, `b.c`, `\u0061`, `"q"`, `\"q\"`, ``, `\u00e9`, `é.ü`, `ü`, `ARN`, `resources`, `x`, `y`}
	var gen func(depth int) string
	gen = func(depth int) string {
		switch k := r.IntN(8); {
		case depth > 3 || k < 3:
			return []string{`"v"`, `1`, `true`, `null`, `"w\u0041"`, `-0.5e3`}[r.IntN(6)]
		case k < 5:
			var b strings.Builder
			b.WriteByte('[')
			for i := range r.IntN(3) {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(gen(depth + 1))
			}
			b.WriteByte(']')
			return b.String()
		default:
			var b strings.Builder
			b.WriteByte('{')
			for i := range r.IntN(6) {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"%s":%s`, keys[r.IntN(len(keys))], gen(depth+1))
			}
			b.WriteByte('}')
			return b.String()
		}
	}
	for range 3000 {
		rec := gen(0)
		if r.IntN(4) > 0 { // mostly objects at the root
			rec = gen(3)
			for !strings.HasPrefix(rec, "{") {
				rec = gen(2)
			}
		}
		checkRootIndex(t, []byte(rec), paths)
	}
}

// FuzzRootIndex: reading through the root index is a plain walk, for any
// record.
func FuzzRootIndex(f *testing.F) {
	for _, s := range rootIndexSeeds {
		f.Add([]byte(s))
	}
	paths := make([]*path, len(rootIndexPaths))
	for i, n := range rootIndexPaths {
		paths[i] = newPath(n)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkRootIndex(t, data, paths) })
}
