// Package useragent parses User-Agent strings into the fields Elasticsearch's
// user_agent processor writes (name, version, os.name/version/full,
// device.name), from the uap-core regexes that ua-parser/uap-go embeds.
package useragent

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ua-parser/uap-go/uaparser"
	"go.yaml.in/yaml/v3"

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

// definitions are uap-core's patterns as uap-go embeds them, not compiled.
var definitions = sync.OnceValue(func() *uaparser.RegexDefinitions {
	var d uaparser.RegexDefinitions
	// the embedded patterns are part of the module: an error here cannot
	// depend on input
	if err := yaml.Unmarshal(uaparser.DefinitionYaml, &d); err != nil {
		panic(fmt.Sprintf("useragent: the embedded uap-core patterns: %v", err))
	}
	return &d
})

// part is one of uap-core's three lists of patterns (agents, operating
// systems, devices), tried in order, the first match with a family
// winning, "Other" when none: uap-go's ParseUserAgent, ParseOs and
// ParseDevice, except that
//   - a pattern whose literal filter rejects the string is passed over: its
//     regex cannot match it, so uap-go's Match would leave the result as it
//     is (the filters rule most of the hundreds of patterns out with a
//     substring search: 0.6 ms per distinct agent before);
//   - each pattern is compiled, by uap-go's New over it alone, the first
//     time a string passes its filter: compiling all 1,200 at the first
//     agent cost 65-85 ms of every hunt reading one, and most hunts read
//     only agents' names, of few distinct agents.
//
// TestFilteredParsersAgree compares the parts with uap-go's parser on every
// distinct agent of the corpus logs.
type part[R any] struct {
	once    sync.Once
	pats    []interface{ Match(string, *R) } // set by init, with their expressions
	exprs   []string
	pass    []func(string) bool // the literal filters (nil: none)
	built   []sync.Once
	init    func(p *part[R])
	compile func(i int) // compiles pattern i
	family  func(*R) *string
}

func (p *part[R]) parse(s string) *R {
	p.once.Do(func() {
		p.init(p)
		p.built = make([]sync.Once, len(p.pats))
		for _, e := range p.exprs {
			p.pass = append(p.pass, regexlit.FilterMax(e, maxLiterals))
		}
	})
	r := new(R)
	for i, pat := range p.pats {
		if pass := p.pass[i]; pass != nil && !pass(s) {
			continue
		}
		p.built[i].Do(func() { p.compile(i) })
		if pat.Match(s, r); *p.family(r) != "" {
			return r
		}
	}
	*p.family(r) = "Other"
	return r
}

// expr is a pattern's expression as uap-go compiles it.
func expr(flags, e string) string {
	if flags == "" {
		return e
	}
	return "(?" + flags + ")" + e
}

// compile compiles defs' patterns (uap-go's New sets each one's Reg).
func compile(defs uaparser.RegexDefinitions) {
	if _, err := uaparser.New(uaparser.WithRegexDefinitions(defs), uaparser.WithCacheSize(1)); err != nil {
		panic(fmt.Sprintf("useragent: the embedded uap-core patterns: %v", err))
	}
}

var (
	agents = part[uaparser.UserAgent]{
		init: func(p *part[uaparser.UserAgent]) {
			for _, q := range definitions().UA {
				p.pats, p.exprs = append(p.pats, q), append(p.exprs, expr(q.Flags, q.Expr))
			}
		},
		compile: func(i int) { compile(uaparser.RegexDefinitions{UA: definitions().UA[i : i+1]}) },
		family:  func(r *uaparser.UserAgent) *string { return &r.Family },
	}
	systems = part[uaparser.Os]{
		init: func(p *part[uaparser.Os]) {
			for _, q := range definitions().OS {
				p.pats, p.exprs = append(p.pats, q), append(p.exprs, expr(q.Flags, q.Expr))
			}
		},
		compile: func(i int) { compile(uaparser.RegexDefinitions{OS: definitions().OS[i : i+1]}) },
		family:  func(r *uaparser.Os) *string { return &r.Family },
	}
	devices = part[uaparser.Device]{
		init: func(p *part[uaparser.Device]) {
			for _, q := range definitions().Device {
				p.pats, p.exprs = append(p.pats, q), append(p.exprs, expr(q.Flags, q.Expr))
			}
		},
		compile: func(i int) { compile(uaparser.RegexDefinitions{Device: definitions().Device[i : i+1]}) },
		family:  func(r *uaparser.Device) *string { return &r.Family },
	}
)

// maxLiterals bounds the literals of one alternation a pattern's filter
// checks: uap-core's bot pattern alternates about 200 names.
const maxLiterals = 1024

func parseUserAgent(s string) *uaparser.UserAgent { return agents.parse(s) }

func parseOs(s string) *uaparser.Os { return systems.parse(s) }

func parseDevice(s string) *uaparser.Device { return devices.parse(s) }

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
