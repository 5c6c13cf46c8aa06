// Package useragent parses User-Agent strings into the fields Elasticsearch's
// user_agent processor writes (name, version, os.name/version/full,
// device.name), from the uap-core regexes that ua-parser/uap-go embeds.
package useragent

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/ua-parser/uap-go/uaparser"
	"gopkg.in/yaml.v3"

	"github.com/trailhound/trailhound/regexlit"
)

// Agent is a User-Agent string whose parts are parsed when first asked
// for (the device regexes alone cost twice the rest). Empty strings mean the
// processor leaves the field out; Name and DeviceName are never empty
// ("Other" when unknown). An Agent is safe for concurrent use.
type Agent struct {
	s                          string
	uaOnce, osOnce, deviceOnce sync.Once
	name, version              string
	osName, osVersion, osFull  string
	deviceName                 string
}

// Name is user_agent.name.
func (a *Agent) Name() string { a.uaOnce.Do(a.parseUA); return a.name }

// Version is user_agent.version.
func (a *Agent) Version() string { a.uaOnce.Do(a.parseUA); return a.version }

// OSName is user_agent.os.name.
func (a *Agent) OSName() string { a.osOnce.Do(a.parseOS); return a.osName }

// OSVersion is user_agent.os.version.
func (a *Agent) OSVersion() string { a.osOnce.Do(a.parseOS); return a.osVersion }

// OSFull is user_agent.os.full.
func (a *Agent) OSFull() string { a.osOnce.Do(a.parseOS); return a.osFull }

// DeviceName is user_agent.device.name.
func (a *Agent) DeviceName() string { a.deviceOnce.Do(a.parseDevice); return a.deviceName }

// cacheSize bounds the cache of parsed agents; CloudTrail logs hold few
// distinct agents, and when the cache fills it is emptied.
const cacheSize = 4096

var (
	mu    sync.Mutex
	cache = map[string]*Agent{}
)

// Parse returns the Agent of s, the same one for the same string while it
// stays in the bounded cache, so each part is parsed once per distinct
// string.
func Parse(s string) *Agent {
	mu.Lock()
	defer mu.Unlock()
	if a, ok := cache[s]; ok {
		return a
	}
	if len(cache) >= cacheSize {
		clear(cache)
	}
	a := &Agent{s: strings.Clone(s)}
	cache[a.s] = a
	return a
}

// The patterns of each part (user agent, OS, device) as uap-go reads them
// (its embedded YAML, decoded with the same YAML package), none compiled
// yet: uap-go's New compiles all 1,200 (60-90 ms at every start) where a
// hunt's agents pass the literal filters of a few dozen. Each part's section
// of the YAML is decoded when the part is first parsed: most rules read only
// the agent's name, whose patterns are a fifth of the text.
var (
	uaDefs     = sync.OnceValue(func() *uaparser.RegexDefinitions { return decodeDefs("user_agent_parsers") })
	osDefs     = sync.OnceValue(func() *uaparser.RegexDefinitions { return decodeDefs("os_parsers") })
	deviceDefs = sync.OnceValue(func() *uaparser.RegexDefinitions { return decodeDefs("device_parsers") })
)

// decodeDefs decodes the section of uap-go's YAML under a top-level key.
func decodeDefs(key string) *uaparser.RegexDefinitions {
	var d uaparser.RegexDefinitions
	if err := yaml.Unmarshal(section(uaparser.DefinitionYaml, key), &d); err != nil {
		// the embedded regexes are part of the module: an error here
		// cannot depend on input
		panic(fmt.Sprintf("useragent: the embedded uap-core regexes: %v", err))
	}
	return &d
}

// section returns the lines of a YAML document from the one that starts
// with key and a colon up to the next line that starts with a letter (the
// next top-level key), or the whole document when no line starts with key.
func section(doc []byte, key string) []byte {
	start := -1
	if bytes.HasPrefix(doc, []byte(key+":")) {
		start = 0
	} else if i := bytes.Index(doc, []byte("\n"+key+":")); i >= 0 {
		start = i + 1
	}
	if start < 0 {
		return doc
	}
	for i := start; ; {
		j := bytes.IndexByte(doc[i:], '\n')
		if j < 0 {
			return doc[start:]
		}
		i += j + 1
		if i < len(doc) && (doc[i] >= 'a' && doc[i] <= 'z' || doc[i] >= 'A' && doc[i] <= 'Z') {
			return doc[start:i]
		}
	}
}

// part is one part's patterns (user agent, OS or device): per pattern the
// test every string its regex matches passes (regexlit.Filter; nil: none),
// since uap-go tries hundreds of regexes in turn and these rule most of
// them out with a substring search (0.6 ms per distinct agent before), and
// the compilation of its regex, done by uap-go the first time a string
// passes the test.
type part struct {
	pass    []func(string) bool
	once    []sync.Once
	compile func(i int)
}

// newPart builds the filters of n patterns, whose regex flags and
// expressions def gives; compile(i) has uap-go compile pattern i.
func newPart(n int, def func(i int) (flags, expr string), compile func(i int)) *part {
	p := &part{pass: make([]func(string) bool, n), once: make([]sync.Once, n), compile: compile}
	for i := range n {
		flags, expr := def(i)
		if flags != "" { // as uap-go compiles it
			expr = "(?" + flags + ")" + expr
		}
		p.pass[i] = regexlit.FilterMax(expr, maxLiterals)
	}
	return p
}

// try reports whether pattern i's regex may match s, compiling it if so.
func (p *part) try(i int, s string) bool {
	if pass := p.pass[i]; pass != nil && !pass(s) {
		return false
	}
	p.once[i].Do(func() { p.compile(i) })
	return true
}

// compileWith has uap-go compile the patterns of d (its own New, which
// sets their defaults too): d's slices share their patterns with uaDefs,
// osDefs and deviceDefs.
func compileWith(d uaparser.RegexDefinitions) {
	if _, err := uaparser.New(uaparser.WithCacheSize(1), uaparser.WithRegexDefinitions(d)); err != nil {
		panic(fmt.Sprintf("useragent: the embedded uap-core regexes: %v", err))
	}
}

// The parts are built the first time each is parsed: most rules read only
// the agent's name, and the device patterns' filters took 25 ms to build.
var (
	uaPart = sync.OnceValue(func() *part {
		d := uaDefs()
		return newPart(len(d.UA), func(i int) (string, string) { return d.UA[i].Flags, d.UA[i].Expr },
			func(i int) { compileWith(uaparser.RegexDefinitions{UA: d.UA[i : i+1]}) })
	})
	osPart = sync.OnceValue(func() *part {
		d := osDefs()
		return newPart(len(d.OS), func(i int) (string, string) { return d.OS[i].Flags, d.OS[i].Expr },
			func(i int) { compileWith(uaparser.RegexDefinitions{OS: d.OS[i : i+1]}) })
	})
	devicePart = sync.OnceValue(func() *part {
		d := deviceDefs()
		return newPart(len(d.Device), func(i int) (string, string) { return d.Device[i].Flags, d.Device[i].Expr },
			func(i int) { compileWith(uaparser.RegexDefinitions{Device: d.Device[i : i+1]}) })
	})
)

// maxLiterals bounds the literals of one alternation a pattern's filter
// checks: uap-core's bot pattern alternates about 200 names.
const maxLiterals = 1024

// The parse functions below are uap-go's ParseUserAgent, ParseOs and
// ParseDevice (the same patterns in the same order, each applied by uap-go's
// own Match into one result, the first with a family winning, "Other" when
// none) except that a pattern whose literal filter rejects the string is
// passed over (its regex cannot match it, so Match would leave the result
// as it is) and a regex is compiled when first needed. TestFilteredParsersAgree
// compares them with uap-go's parser on every distinct agent of the corpus
// logs.

func parseUserAgent(s string) *uaparser.UserAgent {
	return firstMatch(uaPart(), uaDefs().UA, s, func(r *uaparser.UserAgent) *string { return &r.Family })
}

func parseOs(s string) *uaparser.Os {
	return firstMatch(osPart(), osDefs().OS, s, func(r *uaparser.Os) *string { return &r.Family })
}

func parseDevice(s string) *uaparser.Device {
	return firstMatch(devicePart(), deviceDefs().Device, s, func(r *uaparser.Device) *string { return &r.Family })
}

// firstMatch applies pats (p's patterns) in order to s, each by uap-go's
// Match into one result, until one sets its family; "Other" when none does.
func firstMatch[P interface{ Match(string, *R) }, R any](p *part, pats []P, s string, family func(*R) *string) *R {
	r := new(R)
	for i, pat := range pats {
		if !p.try(i, s) {
			continue
		}
		if pat.Match(s, r); *family(r) != "" {
			return r
		}
	}
	*family(r) = "Other"
	return r
}

func (a *Agent) parseUA() {
	a.name = "Other"
	if ua := parseUserAgent(a.s); ua != nil && ua.Family != "" && ua.Family != "Other" {
		a.name = ua.Family
		a.version = joinVersion(ua.Major, ua.Minor, ua.Patch)
	}
}

func (a *Agent) parseOS() {
	if os := parseOs(a.s); os != nil && os.Family != "" && os.Family != "Other" {
		a.osName = os.Family
		if v := joinVersion(os.Major, os.Minor, os.Patch, os.PatchMinor); v != "" {
			a.osVersion = v
			a.osFull = os.Family + " " + v
		}
	}
}

func (a *Agent) parseDevice() {
	a.deviceName = "Other"
	if d := parseDevice(a.s); d != nil && d.Family != "" {
		a.deviceName = d.Family
	}
}

// joinVersion joins the version parts up to the first missing one, as the
// processor does since Elasticsearch 8.16.2 (before, an empty part left a
// trailing dot: "24.0.").
func joinVersion(parts ...string) string {
	if len(parts) == 0 || parts[0] == "" {
		return ""
	}
	v := parts[0]
	for _, p := range parts[1:] {
		if p == "" {
			break
		}
		v += "." + p
	}
	return v
}
