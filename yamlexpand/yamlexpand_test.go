package yamlexpand

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{"scalar alias", "a: &x v\nb: *x\n", "a: v\nb: v\n", ""},
		{"list alias", "names: &n [A, B]\nsel: {eventName: *n}\n", "names: [A, B]\nsel: {eventName: [A, B]}\n", ""},
		{"merge key", "base: &b {x: 1, y: 2}\nm: {<<: *b, z: 3}\n", "base: {x: 1, y: 2}\nm: {x: 1, y: 2, z: 3}\n", ""},
		{"own keys win over merged ones", "base: &b {x: 1, y: 2}\nm: {y: 9, <<: *b}\n", "base: {x: 1, y: 2}\nm: {y: 9, x: 1}\n", ""},
		{"earlier merged mapping wins", "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nm: {<<: [*a, *b]}\n", "a: {x: 1}\nb: {x: 2, y: 2}\nm: {x: 1, y: 2}\n", ""},
		{"alias inside an alias", "a: &a [1]\nb: &b {k: *a}\nc: *b\n", "a: [1]\nb: {k: [1]}\nc: {k: [1]}\n", ""},
		{"quoted << is a key", "m: {'<<': 1}\n", "m: {'<<': 1}\n", ""},
		{"merging a scalar", "a: &a 1\nm: {<<: *a}\n", "", "merge key << needs a mapping"},
		{"merged keys into string keys", "b: &b {0000000: x, 1: y}\nm: {k: z, <<: *b}\n", "b: {0000000: x, 1: y}\nm: {k: z, '0000000': x, '1': y}\n", ""},
		{"merged keys beside others", "b: &b {0000000: x}\nm: {2: z, <<: *b}\n", "b: {0000000: x}\nm: {2: z, 0000000: x}\n", ""},
		{"a key repeated through an alias", "{&b k: 1, *b : 2}\n", "", "repeated through an alias"},
	}
	for _, tt := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tt.in), &n); err != nil {
			t.Fatal(err)
		}
		x, err := Expand(&n)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var got, want any
		b, _ := yaml.Marshal(x)
		yaml.Unmarshal(b, &got)
		yaml.Unmarshal([]byte(tt.want), &want)
		if strings.Contains(string(b), "*") || strings.Contains(string(b), "&") || !equalYAML(got, want) {
			t.Errorf("%s: got\n%s", tt.name, b)
		}
		if strings.Contains(tt.want, "{y: 9, x: 1}") && !strings.Contains(string(b), "y: 9") {
			t.Errorf("%s: %s", tt.name, b)
		}
	}
}

// equalYAML compares decoded YAML values, map types included (a mapping
// whose own keys are strings decodes to a map[string]any, merged keys too).
func equalYAML(a, b any) bool { return reflect.DeepEqual(a, b) }

// A "billion laughs" document (each level aliases the one below nine
// times: 9^9 leaves) is an error, quickly.
func TestBillionLaughs(t *testing.T) {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		p := "*l" + string(rune('0'+i-1))
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.Repeat(p+", ", 8) + p + "]\n")
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(b.String()), &n); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Expand(&n)
	if err == nil || !strings.Contains(err.Error(), "aliases expand to more than") {
		t.Errorf("billion laughs: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("billion laughs took %s", d)
	}
}

// FuzzExpand checks Expand against yaml.v3's own resolution of aliases and
// merge keys when it decodes into Go values: where both succeed they agree,
// and the expanded tree holds no alias, anchor or merge key.
func FuzzExpand(f *testing.F) {
	f.Add("a: &x v\nb: *x\n")
	f.Add("base: &b {x: 1, y: 2}\nm: {y: 9, <<: *b}\n")
	f.Add("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nm: {<<: [*a, *b], z: [*a]}\n")
	f.Add("- &s [1, 2]\n- {k: *s, <<: {k: 3, j: 4}}\n")
	f.Fuzz(func(t *testing.T, doc string) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil || n.Kind == 0 {
			return
		}
		var want any
		if err := yaml.Unmarshal([]byte(doc), &want); err != nil {
			return
		}
		x, err := Expand(&n)
		if err != nil {
			return
		}
		var walk func(*yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Kind == yaml.AliasNode || n.Anchor != "" {
				t.Fatalf("alias or anchor left at line %d", n.Line)
			}
			for i, c := range n.Content {
				if n.Kind == yaml.MappingNode && i%2 == 0 && isMerge(c) {
					t.Fatalf("merge key left at line %d", c.Line)
				}
				walk(c)
			}
		}
		walk(x)
		var got any
		if err := x.Decode(&got); err != nil {
			t.Fatalf("the expanded tree does not decode: %v", err)
		}
		if !equalYAML(got, want) {
			g, _ := yaml.Marshal(got)
			w, _ := yaml.Marshal(want)
			t.Fatalf("expanded:\n%s\nyaml.v3:\n%s", g, w)
		}
	})
}
