// Package alert defines trailhound's alerts: what a rule declares, the
// matched record and a stable id, and the ways to print them.
package alert

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"
	"weak"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/termtext"
)

// Alert is one rule match.
type Alert struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"@timestamp"`
	Rule  Rule      `json:"rule"`
	Event Event     `json:"event"`
	Title string    `json:"title,omitempty"`
	// Description and Destinations are what a Panther rule's description()
	// and destinations() returned for this alert.
	Description  string           `json:"description,omitempty"`
	Destinations []string         `json:"destinations,omitempty"`
	Fields       map[string]any   `json:"fields,omitempty"`
	Context      map[string]any   `json:"context,omitempty"`
	NewTerms     []string         `json:"new_terms,omitempty"`
	Threshold    *ThresholdResult `json:"threshold_result,omitempty"`
	Suppression  *Suppression     `json:"suppression,omitempty"`
	Sequence     *Sequence        `json:"sequence,omitempty"`
	// TimeSubstitute is set when @timestamp is not the event's time: the
	// record had no usable event time, and @timestamp is its file's.
	TimeSubstitute *TimeSubstitute `json:"time_substitute,omitempty"`
	Record         json.RawMessage `json:"record"`
	// RecordError is set when the record (or a field taken from it) could
	// not be written as JSON: Record then holds it as a JSON string.
	RecordError string `json:"record_error,omitempty"`

	// validRecord is Record when New copied it from a record known to be
	// valid JSON (event.Event.ValidJSON): writing it need not validate it
	// again, while Record is still that slice.
	validRecord json.RawMessage
}

// recordValid reports whether a.Record is known to be valid JSON.
func (a *Alert) recordValid() bool {
	return len(a.Record) > 0 && len(a.validRecord) == len(a.Record) && &a.validRecord[0] == &a.Record[0]
}

// TimeSubstitute says where an alert's @timestamp comes from when the
// record has no usable event time: From is "file_name" (the time in a
// CloudTrail delivery file's name), "file_modified" (the file's
// modification time) or "read" (standard input: when it was read); Reason
// says what was wrong with the record's time.
type TimeSubstitute struct {
	From   string `json:"from"`
	Reason string `json:"reason"`
}

// Term is a field and one of its values.
type Term struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// ThresholdResult describes the group a threshold alert counted: its terms,
// the number of events, the distinct count of the cardinality field, and
// the first and last event times.
type ThresholdResult struct {
	Terms       []Term    `json:"terms,omitempty"`
	Count       int       `json:"count"`
	Cardinality []Term    `json:"cardinality,omitempty"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
}

// Suppression tells how many later alerts of the same group were folded into
// this one, and over which time span.
type Suppression struct {
	Terms     map[string]any `json:"terms"`
	DocsCount int            `json:"docs_count"`
	Start     time.Time      `json:"start"`
	End       time.Time      `json:"end"`
}

// Rule is what the rule declares, carried by each alert.
type Rule struct {
	ID            string        `json:"id"`
	Name          string        `json:"name"`
	Type          string        `json:"type"`
	Format        string        `json:"format"`
	Severity      string        `json:"severity"`
	RiskScore     int           `json:"risk_score"`
	Tags          []string      `json:"tags,omitempty"`
	Threat        []rule.Threat `json:"threat,omitempty"`
	References    []string      `json:"references,omitempty"`
	BuildingBlock bool          `json:"building_block,omitempty"`
	Guide         string        `json:"guide,omitempty"`
	Path          string        `json:"path"`
}

// Event locates the matched record.
type Event struct {
	ID       string `json:"id,omitempty"`
	Provider string `json:"provider,omitempty"`
	Action   string `json:"action,omitempty"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Offset   int64  `json:"offset"`
}

// ID is the stable alert id for a record and a rule: SHA-256 of the
// record's identity (its eventID, or its file and byte offset when it has
// none) and the rule's identity, rule.Rule.Key (the id for Elastic rules,
// format and id for the others). Rerunning a hunt gives the same ids.
func ID(ev *event.Event, ruleKey string) string { return IDWith(ev, ruleKey, "") }

// IDWith is ID with extra identity (new_terms: the new terms), so one record
// can raise one alert per distinct extra.
func IDWith(ev *event.Event, ruleKey, extra string) string {
	var arr [256]byte // what is hashed, on the stack when it fits
	b := arr[:0]
	if id := ev.ID(); id != "" {
		b = append(append(b, "event:"...), id...)
	} else {
		b = append(append(append(b, "pos:"...), ev.File...), ':')
		b = strconv.AppendInt(b, ev.Offset, 10)
	}
	b = append(append(b, 0), ruleKey...)
	if extra != "" {
		b = append(append(b, 0), extra...)
	}
	sum := sha256.Sum256(b)
	var id [2 * sha256.Size]byte
	hex.Encode(id[:], sum[:])
	return string(id[:])
}

// DefaultFields are shown when a rule names no investigation fields.
var DefaultFields = []string{"@timestamp", "event.action", "event.provider", "event.outcome", "aws.cloudtrail.user_identity.arn", "source.address", "user_agent.original", "cloud.account.id", "cloud.region"}

// New builds the alert for ev matching r. It copies everything it keeps, so
// the alert outlives the event.
func New(ev *event.Event, r *rule.Rule) Alert { return NewWithID(ev, r, ID(ev, r.Key())) }

// NewWithID is New with the alert id given (IDWith's, say): the id is
// hashed once.
func NewWithID(ev *event.Event, r *rule.Rule, id string) Alert {
	fields := r.InvestigationFields
	if len(fields) == 0 {
		fields = DefaultFields
	}
	a := FromRule(r)
	a.ID = id
	a.Time = ev.Time()
	a.Event = Locate(ev)
	a.Fields = make(map[string]any, len(fields))
	a.Record = json.RawMessage(append([]byte(nil), ev.Raw...))
	if ev.ValidJSON() {
		a.validRecord = a.Record
	}
	views := fieldViews(r, fields)
	if views == nil {
		for _, f := range fields {
			if v := event.Lookup(ev, f); v != nil {
				a.Fields[f] = v
			}
		}
		return a
	}
	// the fields' strings are copied into one allocation
	var small [16][]event.Value
	vals := small[:0]
	size := 0
	for _, view := range views {
		vs := view(ev)
		for _, v := range vs {
			size += len(v.S)
		}
		vals = append(vals, vs)
	}
	buf := make([]byte, 0, size)
	clone := func(s string) string {
		if s == "" {
			return ""
		}
		n := len(buf)
		buf = append(buf, s...) // within the capacity: buf is never moved
		return unsafe.String(&buf[n], len(s))
	}
	for i, f := range fields {
		if v := event.Display(vals[i], clone); v != nil {
			a.Fields[f] = v
		}
	}
	return a
}

// ruleViews are a rule's output fields and their views (event.LookupView).
type ruleViews struct {
	fields []string
	views  []event.View
}

// outputViews keeps the views of rules' output fields, resolved at their
// first alert rather than for each field of each alert. A rule's entry goes
// when the rule is collected: a process that loads its rules again (serve
// on SIGHUP, benchmarks) neither keeps the old ones alive nor fills the
// bound with them. Bounded all the same (past the bound, fields are looked
// up by name).
var (
	outputViews  sync.Map // weak.Pointer[rule.Rule] -> *ruleViews
	outputCached atomic.Int64
)

const maxOutputViews = 4096

// fieldViews returns the views of fields, r's output fields (nil: look
// them up by name).
func fieldViews(r *rule.Rule, fields []string) []event.View {
	key := weak.Make(r)
	if x, ok := outputViews.Load(key); ok {
		if rv := x.(*ruleViews); sameStrings(rv.fields, fields) {
			return rv.views
		}
		return nil // the rule's fields changed since: by name
	}
	if outputCached.Add(1) > maxOutputViews {
		outputCached.Add(-1)
		return nil
	}
	views := make([]event.View, len(fields))
	for i, f := range fields {
		if views[i] = event.LookupView(f); views[i] == nil {
			outputCached.Add(-1)
			return nil
		}
	}
	if _, loaded := outputViews.LoadOrStore(key, &ruleViews{fields: fields, views: views}); loaded {
		outputCached.Add(-1) // another goroutine stored it first
	} else {
		runtime.AddCleanup(r, forgetViews, key)
	}
	return views
}

// forgetViews drops a collected rule's output views.
func forgetViews(key weak.Pointer[rule.Rule]) {
	outputViews.Delete(key)
	outputCached.Add(-1)
}

// sameStrings reports whether a and b are the same slice.
func sameStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Locate returns the alert's Event for ev: its id, provider, action and
// place, copied so they outlive ev (in one allocation).
func Locate(ev *event.Event) Event {
	id, provider, action := ev.ID(), ev.Provider(), ev.Action()
	// a Builder, not id + provider + action: a concatenation of one
	// non-empty string is that string, not a copy
	var sb strings.Builder
	sb.Grow(len(id) + len(provider) + len(action))
	sb.WriteString(id)
	sb.WriteString(provider)
	sb.WriteString(action)
	all := sb.String()
	return Event{
		ID: all[:len(id)], Provider: all[len(id) : len(id)+len(provider)], Action: all[len(id)+len(provider):],
		File: ev.File, Line: ev.Line, Offset: ev.Offset,
	}
}

// FromRule returns an alert carrying r's metadata and nothing else.
func FromRule(r *rule.Rule) Alert {
	return Alert{Rule: Rule{
		ID: r.ID, Name: r.Name, Type: r.Type, Format: r.Format, Severity: r.Severity, RiskScore: r.RiskScore,
		Tags: r.Tags, Threat: r.Threat, References: r.References, BuildingBlock: r.BuildingBlock,
		Guide: r.Note, Path: r.Path,
	}}
}

// Sort orders alerts by event time, then rule name, then id (alerts equal
// in all three in the order sort.Slice gives them).
//
// An Alert is large (over 500 bytes): sort.Slice swapped them O(n log n)
// times through reflection. Sort checks whether they are in order already
// (one rule's, mostly), and else orders their indices with the same
// pattern-defeating quicksort, so the same comparisons give the same
// order, and then moves each alert once, in place.
func Sort(as []Alert) {
	sorted := true
	for i := 1; i < len(as) && sorted; i++ {
		sorted = compareAlerts(&as[i-1], &as[i]) <= 0
	}
	if sorted {
		return
	}
	order := make([]int32, len(as))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return compareAlerts(&as[x], &as[y]) })
	// as[i] = as[order[i]] in place, a cycle at a time (a place done is
	// marked order[i] = i)
	for i := range as {
		if int(order[i]) == i {
			continue
		}
		tmp := as[i]
		j := i
		for {
			k := int(order[j])
			order[j] = int32(j)
			if k == i {
				as[j] = tmp
				break
			}
			as[j] = as[k]
			j = k
		}
	}
}

// compareAlerts orders alerts by event time, then rule name, then id.
func compareAlerts(a, b *Alert) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := strings.Compare(a.Rule.Name, b.Rule.Name); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// WriteJSONL writes one alert per line. A record's bytes cannot make it
// fail: an alert that does not encode (its record, or a value taken from it,
// is not valid JSON) is written with the record as a JSON string, those
// values as strings, and the reason in record_error.
//
// The lines are the bytes encoding/json writes for the alerts (with
// SetEscapeHTML(false)); appendAlert writes them without reflection, and
// leaves what it does not know to encoding/json. They are written in chunks
// of about chunkSize bytes.
func WriteJSONL(w io.Writer, as []Alert) error {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	buf := e.buf[:0]
	defer func() {
		if cap(buf) <= 4*chunkSize { // one huge batch's buffer is not kept
			e.buf = buf[:0]
		}
	}()
	for i := range as {
		var ok bool
		if buf, ok = e.appendAlert(buf, &as[i]); !ok {
			var err error
			if buf, err = appendReflect(buf, &as[i]); err != nil {
				// the alerts before it are written, as they were one by one
				if _, werr := w.Write(buf); len(buf) > 0 && werr != nil {
					return fmt.Errorf("writing alert %s: %w", as[max(i-1, 0)].ID, werr)
				}
				return fmt.Errorf("writing alert %s: %w", as[i].ID, err)
			}
		}
		if len(buf) >= chunkSize || i == len(as)-1 {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("writing alert %s: %w", as[i].ID, err)
			}
			buf = buf[:0]
		}
	}
	return nil
}

// chunkSize is about how many bytes of lines WriteJSONL writes at once.
const chunkSize = 64 << 10

// encoders holds WriteJSONL's encoders, with their buffers and rule caches.
var encoders = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, chunkSize+8<<10)} }}

// appendReflect appends a's line as encoding/json writes it, or, when a does
// not encode, its sanitized copy's.
func appendReflect(dst []byte, a *Alert) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(a)
	if err != nil { // nothing written: it does not encode
		s := sanitized(*a, err)
		err = enc.Encode(&s)
	}
	return buf.Bytes(), err
}

// sanitized returns a copy of a that encodes: the record as a string if it
// is not valid JSON, and fields and context values that do not encode as
// strings.
func sanitized(a Alert, cause error) Alert {
	a.RecordError = cause.Error()
	if !json.Valid(a.Record) {
		a.Record, _ = json.Marshal(strings.ToValidUTF8(string(a.Record), "\uFFFD"))
		a.RecordError = "the record is not valid JSON; written as a string"
	}
	for _, m := range []*map[string]any{&a.Fields, &a.Context} {
		if *m == nil {
			continue
		}
		c := make(map[string]any, len(*m))
		for k, v := range *m {
			c[k] = encodable(v)
		}
		*m = c
	}
	return a
}

// encodable is v if it encodes, else v as text: JSON taken from a record as
// the string it is (fmt prints a json.RawMessage's bytes as numbers), a
// list element by element.
func encodable(v any) any {
	if _, err := json.Marshal(v); err == nil {
		return v
	}
	switch v := v.(type) {
	case json.RawMessage:
		return strings.ToValidUTF8(string(v), "\uFFFD")
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = encodable(x)
		}
		return out
	}
	return fmt.Sprint(v)
}

// tableHeader and tableWidths are the table's columns and their widths
// (the longest a cell may be; the table is written as alerts come).
var (
	tableHeader = []string{"TIME", "SEVERITY", "RISK", "RULE", "ACTION", "ACTOR", "SOURCE", "EVENT"}
	tableWidths = []int{20, 8, 4, 48, 30, 45, 24, 0}
)

// tableRow is an alert's table row.
func tableRow(a Alert) []string {
	who, source := ActorAndSource(a)
	when := a.Time.Format("2006-01-02 15:04:05")
	if a.TimeSubstitute != nil {
		when = "~" + when // the file's time, not the event's
	}
	return []string{
		when,
		termtext.String(a.Rule.Severity),
		strconv.Itoa(a.Rule.RiskScore),
		clip(a.Rule.Name, tableWidths[3]),
		clip(a.Event.Action, tableWidths[4]),
		clip(who, tableWidths[5]),
		clip(source, tableWidths[6]),
		termtext.String(fmt.Sprintf("%s:%d", shortPath(a.Event.File), a.Event.Line)),
	}
}

// writeRows writes rows padded to widths.
func writeRows(w io.Writer, rows [][]string, widths []int) error {
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", max(0, widths[i]-utf8.RuneCountInString(c))+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// TableWriter writes alerts as table rows as they come: the header before
// the first, columns of fixed widths.
type TableWriter struct {
	w       io.Writer
	started bool
}

// NewTableWriter returns a TableWriter writing to w.
func NewTableWriter(w io.Writer) *TableWriter { return &TableWriter{w: w} }

// Write writes the rows of as.
func (t *TableWriter) Write(as []Alert) error {
	var rows [][]string
	if !t.started {
		rows = append(rows, tableHeader)
		t.started = true
	}
	for _, a := range as {
		rows = append(rows, tableRow(a))
	}
	return writeRows(t.w, rows, tableWidths)
}

// ActorAndSource are who acted and from where (the table's ACTOR and SOURCE
// columns): from the alert's output fields when the rule names them, else
// from the raw record (Panther, Sigma and ES|QL alerts name other fields).
func ActorAndSource(a Alert) (who, source string) {
	for _, f := range []string{"aws.cloudtrail.user_identity.arn", "user.name"} {
		if who = str(a.Fields[f]); who != "" {
			break
		}
	}
	source = str(a.Fields["source.address"])
	if who != "" && source != "" {
		return who, source
	}
	// a few members of the record, without decoding all of it (a table
	// row per alert)
	p := recordParsers.Get()
	defer recordParsers.Put(p)
	if v, err := p.ParseBytes(a.Record); err == nil {
		if who == "" {
			who = cmp.Or(string(v.GetStringBytes("userIdentity", "arn")), string(v.GetStringBytes("userIdentity", "type")))
		}
		source = cmp.Or(source, string(v.GetStringBytes("sourceIPAddress")))
	}
	return who, source
}

// recordParsers parse alert records for ActorAndSource.
var recordParsers fastjson.ParserPool

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// clip is s, escaped for a terminal (termtext), cut to n characters.
func clip(s string, n int) string {
	s = termtext.String(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func shortPath(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Sequence links the alerts of an EQL sequence: the sequence alert lists
// its events; each building-block alert names the sequence alert and its
// step (from 1).
type Sequence struct {
	ID     string  `json:"id,omitempty"`
	Step   int     `json:"step,omitempty"`
	Events []Event `json:"events,omitempty"`
}
