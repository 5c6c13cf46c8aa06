// Package rule holds trailhound's internal representation of detection
// rules: metadata every format shares and a detection the engine runs. Front
// ends (Elastic TOML with KQL, later EQL, ES|QL, Sigma, Panther) only parse and
// lower into these types; the engine knows no rule format.
package rule

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/esql"
	"github.com/trailhound/trailhound/event"
)

// Rule is one detection rule.
type Rule struct {
	ID          string
	Name        string
	Description string
	Format      string // "elastic", later "sigma", "panther"
	Path        string // file the rule came from ("builtin:<name>" for built-ins)
	Type        string // query, eql, esql, new_terms, threshold, machine_learning
	Language    string // kuery, eql, esql, ...
	Query       string // source text of the query

	Severity   string // low, medium, high, critical
	RiskScore  int
	Tags       []string
	Threat     []Threat
	References []string
	Note       string // investigation guide (Markdown)
	Setup      string
	Author     []string
	License    string
	Version    int
	Maturity   string

	FalsePositives      []string
	InvestigationFields []string
	// ExceptionLists are the list_ids of the exception lists the rule
	// references (Elastic's exceptions_list); their items come from
	// exception files given at run time.
	ExceptionLists []string
	// ESQL is the compiled query of an ES|QL rule.
	ESQL *esql.Program
	// Sequence is set for EQL sequence rules; Cond is then any step.
	Sequence *Sequence
	Index    []string

	Schedule      Schedule
	BuildingBlock bool

	EventCategoryOverride string
	Output                *Output
	Dedup                 *Dedup
	Tests                 []Test
	Correlation           *Correlation
	// Alias is another name rules may reference this one by (Sigma's name).
	Alias string
	// FilterOf lists the rules a Sigma filter document applies to (ids or
	// names; empty: every Sigma CloudTrail rule); Cond is its condition.
	FilterOf    []string
	NewTerms    *NewTerms
	Threshold   *Threshold
	Suppression *Suppression

	// Cond is the condition of query-type rules.
	Cond Cond

	// Script is the file holding the rule's logic in a language run outside
	// the engine (a Panther rule's Python file); a runtime for it (package
	// pyrule) sets Cond and Output when it can run it.
	Script string

	// Unsupported, when set, says why the rule cannot run; such a rule is
	// listed, never run as a weaker rule.
	Unsupported string
	// Warnings are non-fatal remarks from loading (unknown keys ...).
	Warnings []string

	key string // identity when the id is not unique in its format (MarkDuplicateIDs)
}

// Key is the rule's identity, hashed into its alert ids and naming its
// state: the id for Elastic rules (their alert ids are as before), the
// format and the id for the other formats (a Sigma rule may reuse an
// Elastic rule's id, and is still another rule), and for a rule whose id
// another rule of its format has too, its file as well (MarkDuplicateIDs).
// It does not depend on which other rules are loaded, except for such
// duplicates.
func (r *Rule) Key() string {
	switch {
	case r.key != "":
		return r.key
	case r.Format == "elastic" || r.Format == "":
		return r.ID
	}
	return r.Format + ":" + r.ID
}

// MarkDuplicateIDs finds rules that share an id, within a format or across
// formats, and returns one warning per shared id naming every file.
// Runnable rules sharing an id within one format get their file (and, when
// one file holds several, their position in it) into their Key, so their
// alerts and state stay apart; a rule that cannot run (a deprecated copy)
// changes no key. Calling it again is harmless.
func MarkDuplicateIDs(rules []*Rule) []string {
	byID := map[string][]*Rule{}
	var ids []string
	for _, r := range rules {
		if r.ID == "" {
			continue
		}
		if byID[r.ID] == nil {
			ids = append(ids, r.ID)
		}
		byID[r.ID] = append(byID[r.ID], r)
	}
	var warnings []string
	for _, id := range ids {
		rs := byID[id]
		if len(rs) < 2 {
			continue
		}
		var where []string
		perFormat := map[string]int{} // runnable rules
		for _, r := range rs {
			where = append(where, fmt.Sprintf("%s rule %q (%s)", r.Format, r.Name, r.Path))
			if r.Runnable() {
				perFormat[r.Format]++
			}
		}
		warnings = append(warnings, fmt.Sprintf("rule id %s is shared by %s: their alerts and state are kept apart, but rules should have their own ids",
			id, strings.Join(where, " and ")))
		seen := map[string]int{}
		for _, r := range rs {
			if perFormat[r.Format] < 2 || !r.Runnable() {
				continue
			}
			r.key = ""
			k := r.Key() + " " + r.Path // readable in state stats
			if n := seen[k]; n > 0 {
				seen[k]++
				k += "#" + strconv.Itoa(n)
			} else {
				seen[k] = 1
			}
			r.key = k
		}
	}
	return warnings
}

// Runnable reports whether the engine can run the rule.
func (r *Rule) Runnable() bool {
	return r.Unsupported == "" && (r.Cond != nil || r.Correlation != nil)
}

// Schedule is when a rule runs, in event time.
type Schedule struct {
	Interval          time.Duration // default 5m
	From              string        // date math, e.g. now-6m
	Lookback          time.Duration // now minus From
	MaxSignals        int           // default 100
	TimestampOverride string
}

// Threat is one ATT&CK mapping.
type Threat struct {
	Framework  string      `json:"framework"`
	Tactic     Ref         `json:"tactic"`
	Techniques []Technique `json:"techniques,omitempty"`
}

// Technique is an ATT&CK technique with optional sub-techniques.
type Technique struct {
	Ref
	Subtechniques []Ref `json:"subtechniques,omitempty"`
}

// Ref names an ATT&CK object.
type Ref struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Reference string `json:"reference,omitempty"`
}

// NewTerms configures a new_terms rule.
type NewTerms struct {
	Fields             []string
	HistoryWindowStart string
}

// Threshold configures a threshold rule.
type Threshold struct {
	Fields      []string
	Value       int
	Cardinality []Cardinality
}

// Cardinality is a distinct-count condition of a threshold rule.
type Cardinality struct {
	Field string
	Value int
}

// Suppression is Elastic's alert_suppression.
type Suppression struct {
	GroupBy               []string
	Duration              time.Duration
	MissingFieldsStrategy string
}

// ParseDateMath parses Elastic's relative date math of the form now-<n><unit>
// (units s, m, h, d, w) and returns the duration back from now.
func ParseDateMath(s string) (time.Duration, error) {
	if s == "now" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(s, "now-")
	if !ok || len(rest) < 2 {
		return 0, fmt.Errorf("unsupported date math %q (want now-<n><unit>)", s)
	}
	return ParseDuration(rest)
}

// ParseDuration parses Elastic durations such as 5m, 1h, 10d, 30s.
func ParseDuration(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	unit := s[len(s)-1]
	var n int
	if _, err := fmt.Sscanf(s[:len(s)-1], "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != s[:len(s)-1] {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	var d time.Duration
	switch unit {
	case 's':
		d = time.Second
	case 'm':
		d = time.Minute
	case 'h':
		d = time.Hour
	case 'd':
		d = 24 * time.Hour
	case 'w':
		d = 7 * 24 * time.Hour
	default:
		return 0, fmt.Errorf("invalid duration unit in %q", s)
	}
	if n > int(math.MaxInt64/d) {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return time.Duration(n) * d, nil
}

// Exception is one exception item: an event matching Cond raises no alert
// from the rules it applies to. An item applies to the rules whose
// ExceptionLists name its ListID or, when no loaded rule names that list, to
// every rule (a shared exceptions file).
type Exception struct {
	ItemID string // Kibana's item_id, which names the item in messages
	ListID string
	Name   string
	Cond   Cond
}

// Sequence is an EQL sequence: steps in time order, joined on fields, all
// within MaxSpan of the first, broken off by Until.
type Sequence struct {
	By      []string // join fields common to every step
	MaxSpan time.Duration
	Steps   []SeqStep
	Until   *SeqStep
}

// SeqStep is one step of a sequence, with its own extra join fields.
type SeqStep struct {
	Cond Cond
	By   []string
}

// Output customises a rule's alerts per event (Panther's AlertTitle,
// AlertContext and DynamicSeverities). Nil functions keep the defaults.
type Output struct {
	Title    func(*event.Event) string
	Context  func(*event.Event) map[string]any
	Severity func(*event.Event) string
	// Reference and Runbook replace the rule's references and guide for
	// one alert when they return non-empty (a Panther rule's reference()
	// and runbook()).
	Reference func(*event.Event) string
	Runbook   func(*event.Event) string
	// Description and Destinations, when set, give one alert a
	// description and the names of the places it should go (a Panther
	// rule's description() and destinations()).
	Description  func(*event.Event) string
	Destinations func(*event.Event) []string
	// Later, when set, gives the alert fields above but the title (and
	// the dedup key) only for the matches that become alerts: called at
	// each match, it returns what gives them from the match's record,
	// called (once) when the match raises an alert. Context, Severity,
	// Reference, Runbook, Description and Destinations are not called
	// then.
	Later func(*event.Event) func(record []byte) Later
}

// Later is what an Output's Later function gives for an alert: the
// values of its Context, Severity, Reference, Runbook, Description and
// Destinations functions.
type Later struct {
	Context                                   map[string]any
	Severity, Reference, Runbook, Description string
	Destinations                              []string
}

// Dedup groups a rule's matches into alerts as Panther does: matches with
// the same key within Period of the first form one alert, raised once
// Threshold of them have arrived. Signal rules (CreateAlert: false) raise
// none.
type Dedup struct {
	Period    time.Duration
	Threshold int
	Key       func(*event.Event) string // nil: the alert title
	Signal    bool
	// Unique, when set, makes Threshold count distinct values of it (a
	// Panther rule's unique()) instead of matches; ok is false for a match
	// without a value, which counts for nothing.
	Unique func(*event.Event) (v string, ok bool)
}

// Test is a rule unit test: whether the rule raises an alert on Logs (in
// order, as one hunt), and optionally what the alert says.
type Test struct {
	Name             string
	Expected         bool
	Logs             []json.RawMessage
	ExpectedTitle    string
	ExpectedSeverity string
	ExpectedContext  map[string]any
	HasMocks         bool
	// Mocks are Panther's: names in the rule's module replaced for the
	// test (functions return ReturnValue).
	Mocks []Mock
	// LogType is the test's log type (Panther's LogType; empty: the
	// rule's first).
	LogType string
	// ExpectedDedup is the dedup string the test expects (Panther's).
	ExpectedDedup string
	Path          string // file the test came from
}

// Mock replaces a name in a rule's module for a test.
type Mock struct {
	ObjectName  string
	ReturnValue any
}

// Correlation is a rule over other rules' matches (Sigma correlation
// rules): counts, distinct values or the order of matches per group within
// a timespan.
type Correlation struct {
	Type     string   // event_count, value_count, temporal, temporal_ordered
	Rules    []string // ids or names of the correlated rules (rules or correlations)
	GroupBy  []string
	Aliases  map[string]map[string]string // group-by alias -> rule id or name -> field
	Timespan time.Duration
	Op       string // gt, gte, lt, lte, eq, neq (counting types)
	Value    int
	Field    string // value_count: the field whose distinct values count
	Generate bool   // the correlated rules raise their own alerts too
	// Legacy is the Sigma 1 aggregation condition (`sel | count() > 5`,
	// `a near b`) the correlation was made from, when it was.
	Legacy string
}

// CheckContext compares an alert's context with a test's ExpectedContext,
// as JSON (so YAML- and JSON-decoded values compare equal); the message
// says what differed.
func (t Test) CheckContext(got any) (ok bool, msg string) {
	g, w := jsonValue(got), jsonValue(t.ExpectedContext)
	if reflect.DeepEqual(g, w) {
		return true, ""
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return false, fmt.Sprintf("alert context %s, expected %s", gb, wb)
}

// jsonValue round-trips a value through JSON.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	json.Unmarshal(b, &out)
	return out
}
