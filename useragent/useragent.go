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

// Agent is a parsed User-Agent. Empty strings mean the processor leaves the
// field out; Name and DeviceName are never empty ("Other" when unknown).
type Agent struct {
	Name       string
	Version    string
	OSName     string
	OSVersion  string
	OSFull     string
	DeviceName string
}

// cacheSize bounds the cache of parsed agents; CloudTrail logs hold few
// distinct agents, and when the cache fills it is emptied.
const cacheSize = 4096

var (
	parserOnce sync.Once
	parser     *uaparser.Parser

	mu    sync.Mutex
	cache = map[string]*Agent{}
)

// Parse parses s, once per distinct string (the regexes compile on first
// use). The result is shared: do not modify it.
func Parse(s string) *Agent {
	mu.Lock()
	a, ok := cache[s]
	mu.Unlock()
	if ok {
		return a
	}
	a = parse(s)
	mu.Lock()
	if len(cache) >= cacheSize {
		clear(cache)
	}
	cache[strings.Clone(s)] = a
	mu.Unlock()
	return a
}

func parse(s string) *Agent {
	parserOnce.Do(func() {
		// the embedded regexes are part of the module: an error here
		// cannot depend on input
		var err error
		if parser, err = uaparser.New(uaparser.WithCacheSize(1)); err != nil {
			panic(fmt.Sprintf("useragent: the embedded uap-core regexes: %v", err))
		}
	})
	a := &Agent{Name: "Other", DeviceName: "Other"}
	if ua := parser.ParseUserAgent(s); ua != nil && ua.Family != "" && ua.Family != "Other" {
		a.Name = ua.Family
		a.Version = joinVersion(ua.Major, ua.Minor, ua.Patch)
	}
	if os := parser.ParseOs(s); os != nil && os.Family != "" && os.Family != "Other" {
		a.OSName = os.Family
		if v := joinVersion(os.Major, os.Minor, os.Patch, os.PatchMinor); v != "" {
			a.OSVersion = v
			a.OSFull = os.Family + " " + v
		}
	}
	if d := parser.ParseDevice(s); d != nil && d.Family != "" {
		a.DeviceName = d.Family
	}
	return a
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
