package regexlit

import (
	"regexp"
	"strings"
	"testing"
)

func TestLiteralFilter(t *testing.T) {
	ransom := `(?i)^(?:arn:aws:s3:::[^/]+/.*?(how|decrypt|restor|help|instruct|read|get|recov|save|encrypt|delet|info|ransom).*)$`
	tests := []struct {
		expr   string
		in     string
		pass   bool // the filter lets it through
		filter bool // a filter exists
	}{
		{ransom, "arn:aws:s3:::bucket/photos/cat.jpg", false, true},
		{ransom, "arn:aws:s3:::bucket/HOW_TO_DECRYPT.txt", true, true},
		{ransom, "ARN:AWS:S3:::b/x/Ransom.txt", true, true},
		{ransom, "arn:aws:s3:::bucket/\u212aey.txt", true, true}, // non-ASCII: always through
		{`^(?:abc.*def)$`, "abcxxdef", true, true},
		{`^(?:abc.*def)$`, "abcxxDEF", false, true},
		{`^(?:.*(AWSLogs|CloudTrail).*)$`, "x/cloudtrail/y", false, true}, // case-sensitive
		{`^(?:a*)$`, "", true, false},
		{`^(?:(ab|)c)$`, "c", true, true}, // only c is required
		// a literal and an alternation after it: one of their concatenations
		{`(Scrapy|Simpy|SimplePie|Slurp)/(\d+)`, "lang/python md/pyimpl", false, true},
		{`(Scrapy|Simpy|SimplePie|Slurp)/(\d+)`, "x SimplePie/2", true, true},
		{`[Bb]ai[Dd]u`, "Bai Du", false, true},
		{`[Bb]ai[Dd]u`, "baiDu", true, true},
		{`(?i)[Bb]ot`, "ROBOT", true, true},
		{`a(b|)c`, "ac", true, true},
		{`a(b|)c`, "a c", false, true},
	}
	for _, tc := range tests {
		f := Filter(tc.expr)
		if (f != nil) != tc.filter {
			t.Errorf("%s: filter %v, want %v", tc.expr, f != nil, tc.filter)
			continue
		}
		if f != nil && f(tc.in) != tc.pass {
			t.Errorf("%s on %q: %v, want %v", tc.expr, tc.in, f(tc.in), tc.pass)
		}
		if re := regexp.MustCompile(tc.expr); re.MatchString(tc.in) && f != nil && !f(tc.in) {
			t.Errorf("%s rejects %q, which the regex matches", tc.expr, tc.in)
		}
	}
}

// FuzzLiteralFilter: the filter never rejects a string its regex matches.
func FuzzLiteralFilter(f *testing.F) {
	for _, seed := range [][2]string{
		{`(?i).*?(how|decrypt|ransom).*`, "arn:aws:s3:::b/HOW.txt"},
		{`ab+c|d(e|f)g`, "xdfgx"},
		{`(?i)k`, "\u212a"},
		{`(?i)s.t`, "\u017fxt"},
		{`a{2,}b`, "aab"},
		{`S(?:imp(?:y|le)|crapy)`, "Simple"},
		{`(?i)x[Kk]y(a|b)?`, "X\u212aY"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		for _, expr := range []string{pat, "(?i)" + pat, "^(?:" + pat + ")$"} {
			re, err := regexp.Compile(expr)
			if err != nil {
				return
			}
			if pass := Filter(expr); pass != nil && re.MatchString(s) && !pass(s) {
				t.Fatalf("%q rejects %q, which the regex matches", expr, s)
			}
		}
	})
}

// BenchmarkFoldSet: the ransom-note rule's literals against an S3 object
// ARN that holds none of them, one pass per literal against one pass.
func BenchmarkFoldSet(b *testing.B) {
	lits := []string{"how", "decrypt", "restor", "help", "instruct", "read", "get", "recov", "save", "encrypt", "delet", "info", "ransom"}
	s := "arn:aws:s3:::my-company-data-bucket-prod/logs/2024/03/01/app-server-17/part-00042.json.gz"
	b.Run("per-literal", func(b *testing.B) {
		for b.Loop() {
			containsAny(s, lits, true)
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		sc := newFoldScan(lits)
		for b.Loop() {
			sc.in(s)
		}
	})
}

// FuzzFoldScan holds foldScan to a search for each literal in turn.
func FuzzFoldScan(f *testing.F) {
	f.Add("how,decrypt,ransom", "arn:aws:s3:::b/HOW.txt")
	f.Add("a,bc,b", "xB")
	f.Add("bot,crawler,spider,x", "Mozilla/5.0 (compatible; Googlebot/2.1)")
	f.Add(",q", "")
	f.Add("zz,z\xff", "Z\xff")
	f.Fuzz(func(t *testing.T, list, s string) {
		lits := strings.Split(list, ",")
		for i, l := range lits { // lower case, as required gives them
			b := []byte(l)
			for j, c := range b {
				b[j] = toLowerASCII(c)
			}
			lits[i] = string(b)
		}
		if got, want := newFoldScan(lits).in(s), containsAny(s, lits, true); got != want {
			t.Fatalf("foldScan(%q).in(%q) = %v, one literal at a time %v", lits, s, got, want)
		}
	})
}
