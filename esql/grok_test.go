package esql

import "testing"

// FuzzGrokPrefilter: the literal prefilter never changes what a GROK
// pattern extracts; it only spares the regex strings that cannot match.
func FuzzGrokPrefilter(f *testing.F) {
	for _, seed := range [][2]string{
		{`.*accessKeyId=(?<k>AKIA[A-Z0-9]{16}).*`, "{accessKeyId=AKIAABCDEFGHIJKLMNOP, status=Active}"},
		{`.*accessKeyId=(?<k>AKIA[A-Z0-9]{16}).*`, "{userName=bob}"},
		{`%{IP:ip} (?<user>\w+)`, "10.0.0.1 alice"},
		{`(?<a>x|y)z`, "yz"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		g, err := parseGrok(pat)
		if err != nil {
			return
		}
		got, ok := g.match(s)
		want := g.re.FindStringSubmatchIndex(s) != nil
		if ok != want {
			t.Fatalf("pattern %q on %q: matched %v, the regexp alone %v", pat, s, ok, want)
		}
		if ok && len(got) == 0 {
			t.Fatalf("pattern %q on %q: matched with no columns", pat, s)
		}
	})
}
