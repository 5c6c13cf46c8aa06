package esql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/trailhound/trailhound/regexlit"
)

var compileRegexp = regexp.Compile

// grokPattern is a grok expression compiled to an RE2 regular expression.
type grokPattern struct {
	re    *regexp.Regexp
	pass  func(string) bool // literals a match needs (nil: none known)
	names []string          // output column per capture group gN
	types []string          // "" (string), "int", "float"
	subs  []grokSub         // the regexp's groups that are gN, in order
}

// grokSub ties a submatch of the regexp to its output (names[idx]).
type grokSub struct{ sub, idx int }

// grokLibrary holds the standard grok patterns rules use, written for RE2
// (no atomic groups or look-around).
var grokLibrary = map[string]string{
	"USERNAME":          `[a-zA-Z0-9._-]+`,
	"USER":              `%{USERNAME}`,
	"EMAILLOCALPART":    `[a-zA-Z0-9!#$%&'*+\-/=?^_{|}~]{1,64}(?:\.[a-zA-Z0-9!#$%&'*+\-/=?^_{|}~]{1,62}){0,63}`,
	"EMAILADDRESS":      `%{EMAILLOCALPART}@%{HOSTNAME}`,
	"INT":               `[+-]?[0-9]+`,
	"BASE10NUM":         `[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)`,
	"NUMBER":            `%{BASE10NUM}`,
	"BASE16NUM":         `[+-]?(?:0x)?[0-9A-Fa-f]+`,
	"POSINT":            `[1-9][0-9]*`,
	"NONNEGINT":         `[0-9]+`,
	"WORD":              `\b\w+\b`,
	"NOTSPACE":          `\S+`,
	"SPACE":             `\s*`,
	"DATA":              `.*?`,
	"GREEDYDATA":        `.*`,
	"QUOTEDSTRING":      `"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`(?:[^`\\\\]|\\\\.)*`",
	"QS":                `%{QUOTEDSTRING}`,
	"UUID":              `[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}`,
	"MAC":               `(?:[A-Fa-f0-9]{2}[:-]){5}[A-Fa-f0-9]{2}|(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}`,
	"IPV4":              `(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)`,
	"IPV6":              `(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%[0-9A-Za-z]+)?`,
	"IP":                `(?:%{IPV6}|%{IPV4})`,
	"HOSTNAME":          `\b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\.?\b`,
	"IPORHOST":          `(?:%{IP}|%{HOSTNAME})`,
	"HOSTPORT":          `%{IPORHOST}:%{POSINT}`,
	"PATH":              `(?:%{UNIXPATH}|%{WINPATH})`,
	"UNIXPATH":          `(?:/[^/\s]*)+`,
	"WINPATH":           `(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+`,
	"URIPROTO":          `[A-Za-z](?:[A-Za-z0-9+\-.]+)+`,
	"URIHOST":           `%{IPORHOST}(?::%{POSINT})?`,
	"URIPATH":           `(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+`,
	"URIQUERY":          `[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*`,
	"URIPATHPARAM":      `%{URIPATH}(?:\?%{URIQUERY})?`,
	"URI":               `%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?`,
	"MONTH":             `\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?|[Mm]a(?:y|i)?|[Jj]un(?:e|i)?|[Jj]ul(?:y|i)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo](?:c|k)?t(?:ober)?|[Nn]ov(?:ember)?|[Dd]e(?:c|z)(?:ember)?)\b`,
	"MONTHNUM":          `(?:0?[1-9]|1[0-2])`,
	"MONTHDAY":          `(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])`,
	"DAY":               `(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)`,
	"YEAR":              `(?:\d\d){1,2}`,
	"HOUR":              `(?:2[0123]|[01]?[0-9])`,
	"MINUTE":            `(?:[0-5][0-9])`,
	"SECOND":            `(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)`,
	"TIME":              `%{HOUR}:%{MINUTE}(?::%{SECOND})?`,
	"ISO8601_TIMEZONE":  `(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))`,
	"TIMESTAMP_ISO8601": `%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?`,
	"LOGLEVEL":          `(?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo(?:rmation)?|INFO(?:RMATION)?|[Ww]arn(?:ing)?|WARN(?:ING)?|[Ee]rr(?:or)?|ERR(?:OR)?|[Cc]rit(?:ical)?|CRIT(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?)`,
}

var grokRef = regexp.MustCompile(`%\{(\w+)(?::([\w.@\[\]-]+))?(?::(int|float|long|double|boolean|string))?\}`)
var namedGroup = regexp.MustCompile(`\(\?P?<([^>!=]+)>`)

func parseGrok(pat string) (*grokPattern, error) {
	g := &grokPattern{}
	var expand func(p string, depth int) (string, error)
	expand = func(p string, depth int) (string, error) {
		if depth > 20 {
			return "", fmt.Errorf("patterns nest too deep")
		}
		var err error
		out := grokRef.ReplaceAllStringFunc(p, func(m string) string {
			sub := grokRef.FindStringSubmatch(m)
			lib, ok := grokLibrary[sub[1]]
			if !ok {
				err = fmt.Errorf("unknown grok pattern %%{%s}", sub[1])
				return ""
			}
			inner, e := expand(lib, depth+1)
			if e != nil {
				err = e
				return ""
			}
			if sub[2] == "" || depth > 0 {
				return "(?:" + inner + ")"
			}
			g.names = append(g.names, sub[2])
			t := sub[3]
			switch t {
			case "long":
				t = "int"
			case "double":
				t = "float"
			case "string":
				t = ""
			}
			g.types = append(g.types, t)
			return fmt.Sprintf("(?P<g%d>%s)", len(g.names)-1, inner)
		})
		return out, err
	}
	// raw named groups (?<name>...) first, so their numbering follows the text
	pat = namedGroup.ReplaceAllStringFunc(pat, func(m string) string {
		name := namedGroup.FindStringSubmatch(m)[1]
		g.names = append(g.names, name)
		g.types = append(g.types, "")
		return fmt.Sprintf("(?P<g%d>", len(g.names)-1)
	})
	expanded, err := expand(pat, 0)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(expanded)
	if err != nil {
		return nil, fmt.Errorf("%w (grok patterns run as RE2: no look-around or atomic groups)", err)
	}
	g.re = re
	if len(g.names) == 0 {
		return nil, fmt.Errorf("pattern extracts nothing")
	}
	g.pass = regexlit.Filter(expanded)
	for i, name := range re.SubexpNames() {
		idx, err := strconv.Atoi(strings.TrimPrefix(name, "g"))
		if !strings.HasPrefix(name, "g") || err != nil || idx >= len(g.names) || re.SubexpIndex(name) != i {
			continue
		}
		g.subs = append(g.subs, grokSub{i, idx})
	}
	return g, nil
}

// columns returns the distinct output columns in order.
func (g *grokPattern) columns() []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range g.names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// match returns the captured values (typed), or ok=false.
func (g *grokPattern) match(s string) (map[string]Value, bool) {
	if g.pass != nil && !g.pass(s) {
		return nil, false
	}
	loc := g.re.FindStringSubmatchIndex(s)
	if loc == nil {
		return nil, false
	}
	out := make(map[string]Value, len(g.subs))
	for _, gs := range g.subs {
		i, idx := gs.sub, gs.idx
		var v Value // an optional group that took no part stays null
		if loc[2*i] >= 0 {
			text := s[loc[2*i]:loc[2*i+1]]
			switch g.types[idx] {
			case "int":
				v = cast(text, "long")
			case "float":
				v = cast(text, "double")
			case "boolean":
				v = cast(text, "boolean")
			default:
				v = text
			}
		}
		if prev, ok := out[g.names[idx]]; ok && prev != nil { // repeated names become multi-valued
			out[g.names[idx]] = append(values(prev), v)
			continue
		}
		out[g.names[idx]] = v
	}
	return out, true
}
