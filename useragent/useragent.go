// Package useragent parses User-Agent strings into the fields Elasticsearch's
// user_agent processor writes (name, version, os.name/version/full,
// device.name), from the uap-core regexes that ua-parser/uap-go embeds.
package useragent

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ua-parser/uap-go/uaparser"
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
	parserOnce sync.Once
	parser     *uaparser.Parser

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

func compiled() *uaparser.Parser {
	parserOnce.Do(func() {
		// the embedded regexes are part of the module: an error here
		// cannot depend on input
		var err error
		if parser, err = uaparser.New(uaparser.WithCacheSize(1)); err != nil {
			panic(fmt.Sprintf("useragent: the embedded uap-core regexes: %v", err))
		}
	})
	return parser
}

func (a *Agent) parseUA() {
	a.name = "Other"
	if ua := compiled().ParseUserAgent(a.s); ua != nil && ua.Family != "" && ua.Family != "Other" {
		a.name = ua.Family
		a.version = joinVersion(ua.Major, ua.Minor, ua.Patch)
	}
}

func (a *Agent) parseOS() {
	if os := compiled().ParseOs(a.s); os != nil && os.Family != "" && os.Family != "Other" {
		a.osName = os.Family
		if v := joinVersion(os.Major, os.Minor, os.Patch, os.PatchMinor); v != "" {
			a.osVersion = v
			a.osFull = os.Family + " " + v
		}
	}
}

func (a *Agent) parseDevice() {
	a.deviceName = "Other"
	if d := compiled().ParseDevice(a.s); d != nil && d.Family != "" {
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
