package useragent

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/ua-parser/uap-go/uaparser"
	"github.com/valyala/fastjson"
	"gopkg.in/yaml.v3"

	"github.com/trailhound/trailhound/record"
)

// corpusAgents returns every distinct user agent of the corpus logs (raw
// records' userAgent, ECS documents' user_agent.original), sorted.
func corpusAgents(t testing.TB) []string {
	t.Helper()
	const logs = "../../shared/corpus/cloudtrail-logs"
	if _, err := os.Stat(logs); err != nil {
		t.Skipf("shared corpus not found at %s: %v", logs, err)
	}
	walked := record.Walk([]string{logs})
	seen := map[string]bool{}
	var p fastjson.Parser
	for _, in := range walked.Inputs {
		rc, err := record.Open(in.Path)
		if err != nil {
			t.Fatal(err)
		}
		err = record.ForEach(rc, 0, func(rec record.Record) error {
			v, err := p.ParseBytes(rec.Data)
			if err != nil {
				return nil // reported by hunt; not this test's concern
			}
			for _, path := range [][]string{{"userAgent"}, {"user_agent", "original"}} {
				if s := v.GetStringBytes(path...); s != nil {
					seen[string(s)] = true
				}
			}
			return nil
		}, func(*record.PosError) {})
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(in.Path), err)
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// The literal-filtered parsers give uap-go's own answers (every part) on
// every distinct user agent of the corpus logs and on agents of other
// shapes (browsers, phones, bots, non-ASCII).
func TestFilteredParsersAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs uap-go's every pattern on every corpus agent (over a minute under -race); run without -short (CI does)")
	}
	agents := append(corpusAgents(t),
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"curl/8.4.0", "python-requests/2.31.0", "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
		"Ｍozilla/5.0 (ｉPhone) ſafari KELVIN", "", "Other",
	)
	full := reference()
	for _, s := range agents {
		if got, want := *parseUserAgent(s), *full.ParseUserAgent(s); got != want {
			t.Errorf("user agent of %q: filtered %+v, uap-go %+v", s, got, want)
		}
		if got, want := *parseOs(s), *full.ParseOs(s); got != want {
			t.Errorf("os of %q: filtered %+v, uap-go %+v", s, got, want)
		}
		if got, want := *parseDevice(s), *full.ParseDevice(s); got != want {
			t.Errorf("device of %q: filtered %+v, uap-go %+v", s, got, want)
		}
	}
	t.Logf("%d distinct user agents compared", len(agents))
}

// BenchmarkCorpusAgents parses every part of every distinct corpus user
// agent, with uap-go's parser and with the literal-filtered one.
func BenchmarkCorpusAgents(b *testing.B) {
	agents := corpusAgents(b)
	full := reference()
	b.Run("uap-go", func(b *testing.B) {
		for b.Loop() {
			for _, s := range agents {
				full.ParseUserAgent(s)
				full.ParseOs(s)
				full.ParseDevice(s)
			}
		}
	})
	b.Run("filtered", func(b *testing.B) {
		for b.Loop() {
			for _, s := range agents {
				parseUserAgent(s)
				parseOs(s)
				parseDevice(s)
			}
		}
	})
	b.Run("uap-go-name", func(b *testing.B) {
		for b.Loop() {
			for _, s := range agents {
				full.ParseUserAgent(s)
			}
		}
	})
	b.Run("filtered-name", func(b *testing.B) {
		for b.Loop() {
			for _, s := range agents {
				parseUserAgent(s)
			}
		}
	})
}

// reference is uap-go's own parser, every regex compiled by its New.
var reference = sync.OnceValue(func() *uaparser.Parser {
	p, err := uaparser.New(uaparser.WithCacheSize(1))
	if err != nil {
		panic(err)
	}
	return p
})

// Each part's section of uap-go's YAML decodes to the patterns the whole
// document gives that part; section finds a key's lines, or gives the whole
// document.
func TestSections(t *testing.T) {
	var whole uaparser.RegexDefinitions
	if err := yaml.Unmarshal(uaparser.DefinitionYaml, &whole); err != nil {
		t.Fatal(err)
	}
	ua, os, device := decodeDefs("user_agent_parsers"), decodeDefs("os_parsers"), decodeDefs("device_parsers")
	if !reflect.DeepEqual(ua.UA, whole.UA) || len(ua.OS)+len(ua.Device) > 0 {
		t.Errorf("user_agent_parsers: %d patterns (and %d others), the whole document %d", len(ua.UA), len(ua.OS)+len(ua.Device), len(whole.UA))
	}
	if !reflect.DeepEqual(os.OS, whole.OS) || len(os.UA)+len(os.Device) > 0 {
		t.Errorf("os_parsers: %d patterns (and %d others), the whole document %d", len(os.OS), len(os.UA)+len(os.Device), len(whole.OS))
	}
	if !reflect.DeepEqual(device.Device, whole.Device) || len(device.UA)+len(device.OS) > 0 {
		t.Errorf("device_parsers: %d patterns (and %d others), the whole document %d", len(device.Device), len(device.UA)+len(device.OS), len(whole.Device))
	}
	if len(whole.UA) == 0 || len(whole.OS) == 0 || len(whole.Device) == 0 {
		t.Errorf("the whole document has %d, %d and %d patterns", len(whole.UA), len(whole.OS), len(whole.Device))
	}
	doc := "a:\n  - x: 1\n# c\nb:\n  - y: 'b:'\nc: 3"
	for _, tc := range []struct{ key, want string }{
		{"a", "a:\n  - x: 1\n# c\n"},
		{"b", "b:\n  - y: 'b:'\n"},
		{"c", "c: 3"},
		{"d", doc},
		{"x", doc},
	} {
		if got := string(section([]byte(doc), tc.key)); got != tc.want {
			t.Errorf("section %q = %q, want %q", tc.key, got, tc.want)
		}
	}
}
