// Package event is trailhound's view of one log record: lazy access to raw
// CloudTrail fields and the ECS view Elastic's aws integration computes from
// them, through field getters resolved once, when a rule is compiled.
package event

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/useragent"
)

// Kind says what a record is.
type Kind uint8

// Record kinds.
const (
	KindCloudTrail Kind = iota + 1 // a raw CloudTrail record
	KindECS                        // an ECS document (e.g. an Elasticsearch export)
	KindDigest                     // a CloudTrail digest document (not an event)
	KindOther                      // JSON that is neither
)

// Event is one parsed record. An Event and everything obtained from it
// (Values included) is only valid until the Parser that produced it parses the
// next record; copy what must outlive it (Clone does).
type Event struct {
	Raw    []byte
	Kind   Kind
	File   string
	Line   int
	Offset int64

	// FileTime stands in for the event time of a record that has no usable
	// one, for the rules that need no event time; FileTimeFrom says where it
	// comes from ("file_name", "file_modified", "read"). The reader sets
	// them (zero: no stand-in, the record is not evaluated).
	FileTime     time.Time
	FileTimeFrom string

	src      *fastjson.Value // the CloudTrail record, or the ECS document (nil until root, when top is set)
	top      *topLevel       // the record's members read one by one (nil: src is parsed)
	ecs      *fastjson.Value // computed ECS view (raw records), lazily
	arena    *fastjson.Arena
	provider string
	action   string
	time     time.Time // EventTime, once computed
	timeErr  error
	timeDone bool
	notAfter time.Time // the Parser's NotAfter

	geoDB   *geoip.DB   // the Parser's databases (nil: none)
	geo     *geoip.Info // the lookup of source.ip, once geoDone
	geoDone bool
	ua      *useragent.Agent // the parsed userAgent, once uaDone
	uaDone  bool
	fields  *fieldMemo // the fields read so far (nil: not kept)
	// enriched: ecs has the enrichment fields
	enriched bool
	// noEntities turns the actor/target entity mapping off
	noEntities bool
	// validRaw: Raw is valid JSON (a record.Scanner's record, ParseRecord)
	validRaw bool
	ents     *entities
	memo     []memo
	// flatFast says, per object of flatObjects, whether it is present and
	// small enough to read its leaves from the raw record (0: not known
	// yet, 1: yes, 2: no)
	flatFast [len(flatObjects)]uint8
}

type memo struct{ key, val any }

// Memo returns what SetMemo stored under key for this event (nil when
// nothing): work a rule runtime does once per event and reads for several
// rules (the results of Python rules).
func (e *Event) Memo(key any) any {
	for _, m := range e.memo {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// SetMemo stores val under key for this event; the next Parse forgets it.
func (e *Event) SetMemo(key, val any) {
	for i := range e.memo {
		if e.memo[i].key == key {
			e.memo[i].val = val
			return
		}
	}
	e.memo = append(e.memo, memo{key, val})
}

// Parser parses records into Events. It is not safe for concurrent use: use
// one per goroutine.
type Parser struct {
	// GeoIP, when set, fills source.geo and source.as as Elastic's geoip
	// processor does; it may be shared by Parsers.
	GeoIP *geoip.DB
	// NoEntityMapping turns off the actor/target entity mapping
	// (related.entity, actor.*, target.*, entity.*), which Elastic's
	// integration applies to documents tagged actor_target_mapping.
	NoEntityMapping bool
	// NotAfter, when set, is the latest usable event time: a later one
	// (a sender's wrong clock, a hostile record) is not usable, and
	// EventTime says so with an error wrapping ErrFuture.
	NotAfter time.Time

	p      fastjson.Parser
	top    topLevel
	arena  fastjson.Arena
	ev     Event
	fields fieldMemo
}

// ErrInvalidUTF8 is wrapped by errors about records that are not UTF-8:
// the scanner's sentinel, so that one errors.Is finds the error whichever
// of the two refused the record.
var ErrInvalidUTF8 = record.ErrInvalidUTF8

// ErrFuture is wrapped by EventTime's error for an event time later than
// the Parser's NotAfter.
var ErrFuture = errors.New("event time in the future")

// Parse parses one record. The returned Event is reused by the next call.
// A record that is not UTF-8 is an error naming its first bad byte.
func (p *Parser) Parse(data []byte) (*Event, error) {
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return nil, fmt.Errorf("%w at byte %d of the record", ErrInvalidUTF8, i)
	}
	return p.ParseUTF8(data)
}

// ParseUTF8 is Parse for a record known to be valid UTF-8, such as one a
// record.Scanner returned (it validates UTF-8 with the JSON): it does not
// read the bytes once more to check. Given bytes that are not UTF-8, the
// event's strings hold them as they are.
func (p *Parser) ParseUTF8(data []byte) (*Event, error) {
	v, err := p.p.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	e := p.start(data, nil)
	e.classify(v)
	return e, nil
}

// start resets the Parser's event for the record data (top: its members,
// when they are read one by one).
func (p *Parser) start(data []byte, top *topLevel) *Event {
	p.arena.Reset()
	p.fields.gen++
	p.ev = Event{Raw: data, arena: &p.arena, geoDB: p.GeoIP, noEntities: p.NoEntityMapping, fields: &p.fields, notAfter: p.NotAfter, top: top}
	return &p.ev
}

// ParseRecord is ParseUTF8 for a record as a record.Scanner returned it:
// with its top-level keys (Record.Keys), the members are parsed when first
// read, and most of a record is never parsed. What the event gives is the
// same as ParseUTF8's.
func (p *Parser) ParseRecord(rec record.Record) (*Event, error) {
	if rec.Depth > fastjson.MaxDepth-1 { // fastjson counts from the record's object
		if e, err := p.ParseUTF8(rec.Data); err == nil {
			e.validRaw = true
			return e, nil
		}
		return nil, fmt.Errorf("malformed JSON: nested %d levels deep; the event parser reads at most %d", rec.Depth, fastjson.MaxDepth)
	}
	if rec.Keys == nil {
		e, err := p.ParseUTF8(rec.Data)
		if err == nil {
			e.validRaw = true
		}
		return e, err
	}
	p.top.reset(rec.Data, rec.Keys, rec.Nested, rec.Kids)
	e := p.start(rec.Data, &p.top)
	e.validRaw = true
	t := &p.top
	has := func(k string) bool { return t.index(k) >= 0 }
	src, name := t.index("eventSource"), t.index("eventName")
	switch {
	case (src >= 0 || name >= 0) &&
		(has("eventTime") || has("eventVersion") || has("eventID") || has("userIdentity") ||
			has("sourceIPAddress") || has("awsRegion") || has("requestParameters") || has("responseElements") || has("errorCode")):
		e.Kind = KindCloudTrail
		e.provider = t.str(src)
		e.action = t.str(name)
	case has("insightDetails") && (has("eventTime") || has("eventID")):
		e.Kind = KindCloudTrail
	case has("digestStartTime") || has("digestSignatureAlgorithm"):
		e.Kind = KindDigest
	default: // an ECS document, or other JSON: read as a whole, as ParseUTF8 does
		v := e.root()
		e.top = nil
		e.classify(v)
	}
	return e, nil
}

func (e *Event) classify(v *fastjson.Value) {
	e.src = v
	if v.Type() != fastjson.TypeObject {
		e.Kind = KindOther
		return
	}
	switch {
	case (v.Exists("eventSource") || v.Exists("eventName")) &&
		(v.Exists("eventTime") || v.Exists("eventVersion") || v.Exists("eventID") || v.Exists("userIdentity") ||
			v.Exists("sourceIPAddress") || v.Exists("awsRegion") || v.Exists("requestParameters") || v.Exists("responseElements") || v.Exists("errorCode")):
		// a record, not a document about an API call (TrailDiscover's
		// metadata has eventName and eventSource too)
		e.Kind = KindCloudTrail
		e.provider = b2s(v.GetStringBytes("eventSource"))
		e.action = b2s(v.GetStringBytes("eventName"))
		return
	case v.Exists("insightDetails") && (v.Exists("eventTime") || v.Exists("eventID")):
		// a CloudTrail Insights record: its source and name are inside
		// insightDetails, and the pipeline maps it like any record
		e.Kind = KindCloudTrail
		return
	case v.Exists("digestStartTime") || v.Exists("digestSignatureAlgorithm"):
		e.Kind = KindDigest
		return
	}
	if s := v.Get("_source"); s != nil && s.Type() == fastjson.TypeObject {
		v = s
		e.src = s
	}
	if getString(v, ecsPath("event.provider")) != "" || getString(v, ecsPath("event.action")) != "" {
		e.Kind = KindECS
		e.provider = getString(v, ecsPath("event.provider"))
		e.action = getString(v, ecsPath("event.action"))
		return
	}
	e.Kind = KindOther
}

// ValidJSON reports whether Raw is known to be valid JSON (RFC 8259): the
// record came from a record.Scanner, which validated it (ParseRecord).
func (e *Event) ValidJSON() bool { return e.validRaw }

// Provider is the event source (eventSource / event.provider).
func (e *Event) Provider() string { return e.provider }

// Action is the event name (eventName / event.action).
func (e *Event) Action() string { return e.action }

// ID is the event's id (eventID / event.id), or "" when it has none.
func (e *Event) ID() string {
	if e.Kind == KindCloudTrail {
		return e.getString("eventID")
	}
	return getString(e.root(), ecsPath("event.id"))
}

// Time is the event time (EventTime), or the zero time when the event has
// no usable one.
func (e *Event) Time() time.Time {
	t, _ := e.EventTime()
	return t
}

// EventTime returns the event time: eventTime of a raw CloudTrail record
// (its @timestamp when it has no eventTime, as records shipped by Logstash
// carry), @timestamp of an ECS document. The error says why a record has no
// usable time: the field is missing, not an RFC 3339 string, or outside the
// years 1900-2199 (TimeInRange), or later than the Parser's NotAfter
// (ErrFuture).
func (e *Event) EventTime() (time.Time, error) {
	if !e.timeDone {
		e.time, e.timeErr = e.eventTime()
		if e.timeErr == nil && !e.notAfter.IsZero() && e.time.After(e.notAfter) {
			e.time, e.timeErr = time.Time{}, fmt.Errorf("%w: %s is after %s, the latest event time accepted", ErrFuture, e.time.Format(time.RFC3339Nano), e.notAfter.Format(time.RFC3339))
		}
		e.timeDone = true
	}
	return e.time, e.timeErr
}

func (e *Event) eventTime() (time.Time, error) {
	name, v := "@timestamp", (*fastjson.Value)(nil)
	if e.Kind == KindCloudTrail {
		if raw, ok := e.rawAt([]string{"eventTime"}); ok {
			if s, ok := plainString(raw); ok {
				return parseEventTime("eventTime", s)
			}
		}
		name, v = "eventTime", e.get("eventTime")
		if v == nil {
			if ts := e.get("@timestamp"); ts != nil {
				name, v = "eventTime missing, @timestamp", ts
			}
		}
	} else if vals := e.walkSrc(ecsPath("@timestamp"), nil); len(vals) > 0 {
		if vals[0].T != String {
			return time.Time{}, fmt.Errorf("@timestamp %.40s is not an RFC 3339 time", vals[0].S)
		}
		return parseEventTime(name, vals[0].S)
	}
	switch {
	case v == nil:
		return time.Time{}, fmt.Errorf("%s missing", name)
	case v.Type() != fastjson.TypeString:
		return time.Time{}, fmt.Errorf("%s %.40s is not an RFC 3339 time", name, v.MarshalTo(nil))
	}
	return parseEventTime(name, b2s(v.GetStringBytes()))
}

func parseEventTime(name, s string) (time.Time, error) {
	t, ok := parseZulu(s)
	if !ok {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return time.Time{}, fmt.Errorf("%s %.40q is not an RFC 3339 time", name, s)
		}
		t = t.UTC()
	}
	if !TimeInRange(t) {
		return time.Time{}, fmt.Errorf("%s %.40q is out of range (years %d-%d)", name, s, minTime.Year(), maxTime.Year()-1)
	}
	return t, nil
}

// The event times accepted: years 1900-2199, well inside the years
// 1678-2262 that Unix nanoseconds hold, so that the windows, look-backs
// and intervals the rules add to an event time cannot overflow (an event
// dated 1677-09-21, valid in nanoseconds, made a rule's run end wrap
// around and the hunt panic).
var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// TimeInRange reports whether t may be an event time (years 1900-2199):
// the times a rule's windows are computed from, read from records or file
// names, are checked with it.
func TimeInRange(t time.Time) bool { return !t.Before(minTime) && t.Before(maxTime) }

// parseZulu parses a time of the form CloudTrail writes, 2006-01-02T15:04:05Z,
// to what time.Parse(time.RFC3339Nano, s) gives in UTC; ok is false for
// any other form, for year 0 and for a field out of its range, which
// time.Parse decides.
func parseZulu(s string) (_ time.Time, ok bool) {
	if len(s) != len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	digits := true
	two := func(i int) int { // the two digits at i (digits false if they are not)
		a, b := s[i]-'0', s[i+1]-'0' // a byte below '0' wraps past 9
		digits = digits && a <= 9 && b <= 9
		return int(a)*10 + int(b)
	}
	year, month, day := two(0)*100+two(2), two(5), two(8)
	hour, minute, sec := two(11), two(14), two(17)
	if !digits || year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	// days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's
	// days_from_civil, years from March)
	y := year
	if month <= 2 {
		y--
	}
	era, yoe := y/400, y%400
	doy := (153*((month+9)%12)+2)/5 + day - 1
	days := era*146097 + yoe*365 + yoe/4 - yoe/100 + doy - 719468
	return time.Unix(int64(days)*86400+int64(hour*3600+minute*60+sec), 0).UTC(), true
}

// daysIn is the number of days of month (1-12) in year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Source returns the record (raw CloudTrail, or the ECS document's source).
func (e *Event) Source() *fastjson.Value { return e.root() }

// ECS returns the ECS document of the event: computed as Elastic's ingest
// pipeline does for raw CloudTrail (with the GeoIP/ASN and user-agent
// enrichment), the document itself for ECS input.
func (e *Event) ECS() *fastjson.Value {
	doc := e.doc()
	if e.Kind == KindCloudTrail && !e.enriched {
		e.enriched = true
		(&ecsBuilder{a: e.arena, doc: doc}).setEnrichment(e)
	}
	return doc
}

// doc is ECS without the enrichment, which getters of other fields never
// need: parsing user agents and looking addresses up is left to the rules
// (and outputs) that read those fields.
func (e *Event) doc() *fastjson.Value {
	if e.Kind != KindCloudTrail {
		return e.root()
	}
	if e.ecs == nil {
		e.ecs = buildECS(e)
	}
	return e.ecs
}

// ValueType is the JSON type of a field value.
type ValueType uint8

// Value types.
const (
	String ValueType = iota + 1
	Number
	Bool
	Null
	Object
)

// Value is one value of a field. Arrays yield one Value per element. S is
// the keyword form Elasticsearch indexes: strings as is, numbers as written,
// booleans as "true"/"false", objects as compact JSON.
type Value struct {
	S string
	T ValueType
}

// Getter appends the values of one field of e to dst.
type Getter func(e *Event, dst []Value) []Value

// b2s converts without copying; the string lives as long as the parser's
// buffers, which is the Event's lifetime.
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// path is a dotted field name prepared for lookups that also find keys
// containing dots ("event.action" stored flat).
type path struct {
	name  string
	segs  []string
	joins [][]string // joins[i][n-1] = segs[i..i+n] joined by "."
}

func newPath(name string) *path {
	segs := strings.Split(name, ".")
	p := &path{name: name, segs: segs, joins: make([][]string, len(segs))}
	for i := range segs {
		for n := 1; i+n <= len(segs); n++ {
			p.joins[i] = append(p.joins[i], strings.Join(segs[i:i+n], "."))
		}
	}
	return p
}

var ecsPaths = map[string]*path{}

func ecsPath(name string) *path {
	if p, ok := ecsPaths[name]; ok {
		return p
	}
	return newPath(name)
}

func init() {
	for _, n := range []string{"event.provider", "event.action", "event.id", "@timestamp"} {
		ecsPaths[n] = newPath(n)
	}
}

// walk appends the leaf values at path p (from segment i) under v.
func walk(v *fastjson.Value, p *path, i int, dst []Value) []Value {
	if i == len(p.segs) {
		return leaf(v, dst)
	}
	switch v.Type() {
	case fastjson.TypeArray:
		for _, c := range v.GetArray() {
			dst = walk(c, p, i, dst)
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		for n, key := range p.joins[i] {
			if c := o.Get(key); c != nil {
				dst = walk(c, p, i+n+1, dst)
			}
		}
	}
	return dst
}

func leaf(v *fastjson.Value, dst []Value) []Value {
	switch v.Type() {
	case fastjson.TypeString:
		return append(dst, Value{b2s(v.GetStringBytes()), String})
	case fastjson.TypeNumber:
		return append(dst, Value{v.String(), Number})
	case fastjson.TypeTrue:
		return append(dst, Value{"true", Bool})
	case fastjson.TypeFalse:
		return append(dst, Value{"false", Bool})
	case fastjson.TypeNull:
		return append(dst, Value{"", Null})
	case fastjson.TypeArray:
		for _, c := range v.GetArray() {
			dst = leaf(c, dst)
		}
		return dst
	default:
		return append(dst, Value{string(AppendJSON(nil, v)), Object})
	}
}

func getString(v *fastjson.Value, p *path) string {
	var buf [2]Value
	vals := walk(v, p, 0, buf[:0])
	for _, x := range vals {
		if x.T == String {
			return x.S
		}
	}
	return ""
}

// ecsRoots are the first segments of ECS field names; any other name is a
// raw CloudTrail field (eventName, userIdentity.arn, p_any_ip_addresses ...).
var ecsRoots = map[string]bool{
	"@timestamp": true, "event": true, "aws": true, "cloud": true, "source": true, "user": true,
	"user_agent": true, "tls": true, "related": true, "group": true, "data_stream": true, "ecs": true,
	"host": true, "entity": true, "actor": true, "target": true, "service": true, "file": true,
	"kibana": true, "message": true, "tags": true, "destination": true, "url": true, "organization": true,
	"error": true, "input": true, "agent": true, "log": true, "observer": true, "network": true,
}

// rawRoots are the top-level fields of a CloudTrail record.
var rawRoots = map[string]bool{
	"eventVersion": true, "userIdentity": true, "eventTime": true, "eventSource": true, "eventName": true,
	"awsRegion": true, "sourceIPAddress": true, "userAgent": true, "errorCode": true, "errorMessage": true,
	"requestParameters": true, "responseElements": true, "additionalEventData": true, "requestID": true,
	"eventID": true, "eventType": true, "apiVersion": true, "managementEvent": true, "readOnly": true,
	"resources": true, "recipientAccountId": true, "serviceEventDetails": true, "sharedEventID": true,
	"vpcEndpointId": true, "vpcEndpointAccountId": true, "eventCategory": true, "addendum": true,
	"sessionCredentialFromConsole": true, "edgeDeviceDetails": true, "tlsDetails": true, "insightDetails": true,
}

// IsRawName reports whether a field name is in the raw CloudTrail record's
// vocabulary (eventName, userIdentity.arn, requestParameters.x ...).
func IsRawName(name string) bool {
	root, _, _ := strings.Cut(name, ".")
	return rawRoots[root]
}

// IsECSName reports whether a field name is in the ECS vocabulary.
func IsECSName(name string) bool {
	root, _, _ := strings.Cut(name, ".")
	return ecsRoots[root]
}

// rawToECS maps raw CloudTrail names to their ECS names, to resolve raw
// names against ECS documents.
var rawToECS = map[string]string{
	"eventSource":                         "event.provider",
	"eventName":                           "event.action",
	"eventID":                             "event.id",
	"eventTime":                           "@timestamp",
	"awsRegion":                           "cloud.region",
	"sourceIPAddress":                     "source.address",
	"userAgent":                           "user_agent.original",
	"errorCode":                           "aws.cloudtrail.error_code",
	"errorMessage":                        "aws.cloudtrail.error_message",
	"eventType":                           "aws.cloudtrail.event_type",
	"eventVersion":                        "aws.cloudtrail.event_version",
	"eventCategory":                       "aws.cloudtrail.event_category",
	"readOnly":                            "aws.cloudtrail.read_only",
	"managementEvent":                     "aws.cloudtrail.management_event",
	"requestID":                           "aws.cloudtrail.request_id",
	"recipientAccountId":                  "aws.cloudtrail.recipient_account_id",
	"vpcEndpointId":                       "aws.cloudtrail.vpc_endpoint_id",
	"userIdentity.type":                   "aws.cloudtrail.user_identity.type",
	"userIdentity.arn":                    "aws.cloudtrail.user_identity.arn",
	"userIdentity.accessKeyId":            "aws.cloudtrail.user_identity.access_key_id",
	"userIdentity.invokedBy":              "aws.cloudtrail.user_identity.invoked_by",
	"userIdentity.principalId":            "user.id",
	"userIdentity.userName":               "user.name",
	"userIdentity.accountId":              "cloud.account.id",
	"tlsDetails.clientProvidedHostHeader": "tls.client.server_name",
	"tlsDetails.cipherSuite":              "tls.cipher",
}

var rawPrefixToECS = map[string]string{
	"requestParameters":                         "aws.cloudtrail.flattened.request_parameters",
	"responseElements":                          "aws.cloudtrail.flattened.response_elements",
	"additionalEventData":                       "aws.cloudtrail.flattened.additional_eventdata",
	"serviceEventDetails":                       "aws.cloudtrail.flattened.service_event_details",
	"userIdentity.sessionContext.sessionIssuer": "aws.cloudtrail.user_identity.session_context.session_issuer",
}

// Resolve returns the getter of a field, in either vocabulary. It is called
// once per field when a rule is compiled. The getter reads the field once
// per event and keeps its values for the event's other readers: rules share
// fields (userIdentity.type, sourceIPAddress, userAgent ...), and reading
// one walks the record's objects key by key.
func Resolve(name string) Getter {
	view := ResolveView(name)
	return func(e *Event, dst []Value) []Value { return append(dst, view(e)...) }
}

// fieldSlots numbers the fields Resolve has made getters for: a field's
// values are kept in its slot of the event's memo. fieldViews are their
// views, made once per name: rules share most of the fields they read, and
// resolving a name (its paths, how the pipeline computes it) costs more
// than many reads.
var (
	fieldSlotsMu sync.Mutex
	fieldSlots   = map[string]int{}
	fieldViews   = map[string]View{}
)

func slotOf(name string) int {
	fieldSlotsMu.Lock()
	defer fieldSlotsMu.Unlock()
	i, ok := fieldSlots[name]
	if !ok {
		i = len(fieldSlots)
		fieldSlots[name] = i
	}
	return i
}

// fieldMemo holds the fields read from a Parser's current event: a slot is
// the event's when its gen is the memo's (Parse moves gen on), so no event
// clears it and its buffers are reused.
type fieldMemo struct {
	gen   uint64
	slots []memoSlot
	enc   []byte // scratch for encodings only measured (flatSmall)
}

type memoSlot struct {
	gen  uint64
	vals []Value
}

// View returns a field's values without copying them. They are the
// event's: the caller reads them and neither changes nor keeps the slice
// (appending to it copies).
type View func(e *Event) []Value

// ResolveView is Resolve as a View.
func ResolveView(name string) View {
	fieldSlotsMu.Lock()
	view, ok := fieldViews[name]
	fieldSlotsMu.Unlock()
	if ok {
		return view
	}
	view = newView(name) // which may resolve other names
	fieldSlotsMu.Lock()
	defer fieldSlotsMu.Unlock()
	if v, ok := fieldViews[name]; ok { // resolved meanwhile: one view per name
		return v
	}
	fieldViews[name] = view
	return view
}

// ViewIndexed is ResolveIndexed as a View.
func ViewIndexed(name string) View {
	if name == "" {
		return func(e *Event) []Value { return allLeaves(e, nil) }
	}
	view := ResolveView(name)
	limit, ok := ignoreAbove[name]
	if !ok {
		return view
	}
	return func(e *Event) []Value {
		vals := view(e)
		for i, v := range vals {
			if len(v.S) > limit { // rare: copy the others
				out := slices.Clone(vals[:i])
				for _, v := range vals[i+1:] {
					if len(v.S) <= limit {
						out = append(out, v)
					}
				}
				return out
			}
		}
		return vals
	}
}

// ReadIndexed reads what ResolveIndexed's getter would, for a name known
// only at run time (every field of an event, say): without a memo slot,
// which each distinct name would take for good.
func ReadIndexed(e *Event, name string) []Value {
	if name == "" {
		return allLeaves(e, nil)
	}
	vals := resolve(name)(e, nil)
	if limit, ok := ignoreAbove[name]; ok {
		out := vals[:0]
		for _, v := range vals {
			if len(v.S) <= limit {
				out = append(out, v)
			}
		}
		vals = out
	}
	return vals
}

// newView returns the view of a field: its getter's values kept in its
// memo slot, or for an ECS field the pipeline renames from a raw one, the
// raw field's values themselves when they are what drop-empty keeps (no
// object, null or dropped string: the getter would copy them as they are).
func newView(name string) View {
	view := memoView(slotOf(name), resolve(name))
	raw, ok := renames[name]
	if !ok || IsECSName(raw) {
		return view
	}
	rawView := ResolveView(raw)
	return func(e *Event) []Value {
		if e.Kind == KindCloudTrail {
			if vals := rawView(e); kept(vals) {
				return vals
			}
		}
		return view(e)
	}
}

// kept reports whether vals are scalars drop-empty keeps (scalars leaves
// them as they are).
func kept(vals []Value) bool {
	for _, v := range vals {
		if v.T == Object || v.T == Null || v.T == String && droppedString(v.S) {
			return false
		}
	}
	return true
}

// memoView returns get reading each event's field once, in memo slot slot
// (events of a Parser; others are read every time).
func memoView(slot int, get Getter) View {
	return func(e *Event) []Value {
		m := e.fields
		if m == nil {
			return get(e, nil)
		}
		if slot >= len(m.slots) {
			m.slots = append(m.slots, make([]memoSlot, slot+1-len(m.slots))...)
		}
		if m.slots[slot].gen != m.gen {
			// get may read other fields, growing m.slots: index again after
			vals := get(e, m.slots[slot].vals[:0])
			m.slots[slot] = memoSlot{gen: m.gen, vals: vals}
		}
		vals := m.slots[slot].vals
		return vals[:len(vals):len(vals)]
	}
}

func resolve(name string) Getter {
	p := newPath(name)
	if IsECSName(name) {
		if fast := fastECS(name); fast != nil {
			return fast
		}
		if root, _, _ := strings.Cut(name, "."); root != "source" && root != "user_agent" {
			return func(e *Event, dst []Value) []Value { return walk(e.doc(), p, 0, dst) }
		}
		return func(e *Event, dst []Value) []Value {
			return walk(e.ECS(), p, 0, dst)
		}
	}
	// raw name: direct on raw records, through the ECS mapping on ECS docs
	var alt *path
	if ecsName, ok := rawToECS[name]; ok {
		alt = newPath(ecsName)
	} else {
		for raw, ecs := range rawPrefixToECS {
			if strings.HasPrefix(name, raw+".") {
				alt = newPath(ecs + name[len(raw):])
			}
		}
	}
	return func(e *Event, dst []Value) []Value {
		if e.Kind == KindCloudTrail || alt == nil {
			return e.walkSrc(p, dst)
		}
		return e.walkSrc(alt, dst)
	}
}

// renames are ECS fields the pipeline copies unchanged from one raw field
// (after drop-empty); they are read straight from the raw record.
var renames = map[string]string{
	"event.provider":                                                   "eventSource",
	"event.action":                                                     "eventName",
	"event.id":                                                         "eventID",
	"cloud.region":                                                     "awsRegion",
	"source.address":                                                   "sourceIPAddress",
	"user_agent.original":                                              "userAgent",
	"aws.cloudtrail.event_version":                                     "eventVersion",
	"aws.cloudtrail.event_category":                                    "eventCategory",
	"aws.cloudtrail.event_type":                                        "eventType",
	"aws.cloudtrail.api_version":                                       "apiVersion",
	"aws.cloudtrail.read_only":                                         "readOnly",
	"aws.cloudtrail.request_id":                                        "requestID",
	"aws.cloudtrail.recipient_account_id":                              "recipientAccountId",
	"aws.cloudtrail.vpc_endpoint_id":                                   "vpcEndpointId",
	"aws.cloudtrail.error_code":                                        "errorCode",
	"aws.cloudtrail.error_message":                                     "errorMessage",
	"aws.cloudtrail.session_credential_from_console":                   "sessionCredentialFromConsole",
	"aws.cloudtrail.user_identity.type":                                "userIdentity.type",
	"aws.cloudtrail.user_identity.arn":                                 "userIdentity.arn",
	"aws.cloudtrail.user_identity.access_key_id":                       "userIdentity.accessKeyId",
	"aws.cloudtrail.user_identity.invoked_by":                          "userIdentity.invokedBy",
	"aws.cloudtrail.user_identity.session_context.mfa_authenticated":   "userIdentity.sessionContext.attributes.mfaAuthenticated",
	"aws.cloudtrail.user_identity.session_context.session_issuer.type": "userIdentity.sessionContext.sessionIssuer.type",
	"aws.cloudtrail.user_identity.session_context.session_issuer.principal_id": "userIdentity.sessionContext.sessionIssuer.principalId",
	"aws.cloudtrail.user_identity.session_context.session_issuer.arn":          "userIdentity.sessionContext.sessionIssuer.arn",
	"aws.cloudtrail.user_identity.session_context.session_issuer.account_id":   "userIdentity.sessionContext.sessionIssuer.accountId",
}

// flattenedRaw maps the flattened objects to their raw fields. Their leaves
// are read from the raw record while the object is small enough for the
// pipeline to keep it (its Java string under 32766 characters; we use the
// raw JSON size, with margin, and fall back to the full ECS view above it).
var flattenedRaw = map[string]string{
	"aws.cloudtrail.flattened.request_parameters":    "requestParameters",
	"aws.cloudtrail.flattened.response_elements":     "responseElements",
	"aws.cloudtrail.flattened.additional_eventdata":  "additionalEventData",
	"aws.cloudtrail.flattened.service_event_details": "serviceEventDetails",
}

const flattenedFastLimit = 16000

// flatObjects are the raw objects behind the flattened ECS objects, in the
// order of Event.flatFast.
var flatObjects = [...]string{"requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"}

func flatIndex(raw string) int {
	for i, o := range flatObjects {
		if o == raw {
			return i
		}
	}
	panic("event: " + raw + " is not one of flatObjects")
}

// flatSmall reports whether raw object i of flatObjects is present in the
// record and under flattenedFastLimit encoded: worked out once per event,
// as encoding it is the costly part.
func (e *Event) flatSmall(i int) bool {
	if e.flatFast[i] == 0 {
		e.flatFast[i] = 2
		if e.top != nil {
			// the member's bytes in the record bound its encoding:
			// AppendJSON writes at most 3 bytes for each (a 2-byte rune
			// it does not print is written \uXXXX), but for DEL, written
			// \u007f when its string has an escape (all DEL, 32,000
			// bytes: still under the pipeline's 32,766); a member whose
			// leaves are read need not be parsed whole
			switch n := e.top.span(flatObjects[i]); {
			case n < 0:
				return false // absent
			case 3*n < flattenedFastLimit:
				e.flatFast[i] = 1
				return true
			}
		}
		if v := e.get(flatObjects[i]); v != nil {
			var n int
			if m := e.fields; m != nil { // encode into the Parser's buffer
				m.enc = AppendJSON(m.enc[:0], v)
				n = len(m.enc)
			} else {
				n = len(AppendJSON(nil, v))
			}
			if n < flattenedFastLimit {
				e.flatFast[i] = 1
			}
		}
	}
	return e.flatFast[i] == 1
}

// scalars drops from dst[n:] what the pipeline's drop-empty removes. ok is
// false, with dst cut back to n, when it holds an object leaf.
func scalars(dst []Value, n int) (_ []Value, ok bool) {
	out := dst[:n]
	for _, x := range dst[n:] {
		switch {
		case x.T == Object:
			return dst[:n], false
		case x.T == Null, x.T == String && droppedString(x.S):
		default:
			out = append(out, x)
		}
	}
	return out, true
}

// fastECS returns getters for ECS fields that need no full ECS view of a raw
// record (nil for the others).
func fastECS(name string) Getter {
	p := newPath(name)
	viaDoc := func(e *Event, dst []Value) []Value { return walk(e.doc(), p, 0, dst) }
	// rawLeaf is the leaf of a raw scalar; a list or object (which the
	// pipeline's drop-empty step may have changed) is read from the ECS view
	rawLeaf := func(e *Event, v *fastjson.Value, dst []Value) []Value {
		if t := v.Type(); t == fastjson.TypeArray || t == fastjson.TypeObject {
			return viaDoc(e, dst)
		}
		return leaf(v, dst)
	}
	// presentLeaf is rawLeaf of present(e.get(keys...)), ok false when
	// that is nil, without parsing a scalar (scalarAt)
	presentLeaf := func(e *Event, dst []Value, keys ...string) (_ []Value, ok bool) {
		switch v, st := e.scalarAt(keys...); st {
		case scalarAbsent:
			return dst, false
		case scalarFound:
			return append(dst, v), true
		}
		if v := present(e.get(keys...)); v != nil {
			return rawLeaf(e, v, dst), true
		}
		return dst, false
	}
	// fromRaw reads the raw path rp, falling back to the ECS view when it
	// meets an object
	fromRaw := func(rp *path) Getter {
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			if out, ok := scalars(e.walkSrc(rp, dst), len(dst)); ok {
				return out
			}
			return viaDoc(e, dst)
		}
	}
	if raw, ok := renames[name]; ok {
		if IsECSName(raw) {
			return fromRaw(newPath(raw))
		}
		// the raw field's own getter reads the same path: share its memo
		// (rules read userIdentity.type and aws.cloudtrail.user_identity.type,
		// userAgent and user_agent.original ...)
		view := ResolveView(raw)
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			n := len(dst)
			out, ok := scalars(append(dst, view(e)...), n)
			if !ok {
				return viaDoc(e, out)
			}
			return out
		}
	}
	if get := enrichGetter(name); get != nil {
		return get
	}
	if raw, ok := resourceKeys[name]; ok {
		get := fromRaw(newPath("resources." + raw))
		return func(e *Event, dst []Value) []Value {
			if r := e.get("resources"); e.Kind == KindCloudTrail && r != nil && r.Type() != fastjson.TypeArray {
				return viaDoc(e, dst) // not a list: the pipeline keeps it unrenamed
			}
			return get(e, dst)
		}
	}
	for obj, raw := range flattenedRaw {
		if rest, ok := strings.CutPrefix(name, obj+"."); ok {
			rp := newPath(raw + "." + rest)
			k := flatIndex(raw)
			return func(e *Event, dst []Value) []Value {
				if e.Kind != KindCloudTrail {
					return e.walkSrc(p, dst)
				}
				if raw == "additionalEventData" && e.action == "UserAuthentication" {
					return viaDoc(e, dst) // UserName may have moved to user.name
				}
				if e.flatSmall(k) {
					if out, ok := scalars(e.walkSrc(rp, dst), len(dst)); ok {
						return out
					}
				}
				return viaDoc(e, dst)
			}
		}
	}
	if notComputed(name) {
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			return dst
		}
	}
	if keys, ok := fromFlattened[name]; ok {
		k := flatIndex(keys[0])
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			if !e.flatSmall(k) {
				return viaDoc(e, dst)
			}
			if s := str(e.get(keys...)); s != "" {
				return append(dst, Value{s, String})
			}
			return dst
		}
	}
	if raw, ok := javaStrings[name]; ok {
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			if raw == "additionalEventData" && e.action == "UserAuthentication" {
				return viaDoc(e, dst) // UserName may have moved to user.name
			}
			v := present(e.get(raw))
			if v == nil {
				return dst
			}
			return append(dst, Value{JavaString(v), String})
		}
	}
	switch name {
	case "event.ingested", "data_stream.namespace":
		// set when Elasticsearch indexes the document; a raw record has none
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			return dst
		}
	case "@timestamp":
		// the pipeline's date processor on eventTime: UTC, milliseconds
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			if _, ok := e.stringAt("eventTime"); !ok {
				return dst
			}
			t, err := e.EventTime()
			if err != nil {
				return viaDoc(e, dst) // the view has what isoTime made of it
			}
			return append(dst, Value{t.Format("2006-01-02T15:04:05.000Z"), String})
		}
	case "event.kind":
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			return append(dst, Value{"event", String})
		}
	case "event.type", "event.category":
		// the pipeline's per-action table; event.type defaults to info
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			c, ok := categories[e.action]
			if !ok || e.action == "" {
				if name == "event.type" {
					dst = append(dst, Value{"info", String})
				}
				return dst
			}
			vs := c.cat
			if name == "event.type" {
				vs = c.typ
			}
			for _, v := range vs {
				dst = append(dst, Value{v, String})
			}
			return dst
		}
	case "source.ip":
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			b := e.getString("sourceIPAddress")
			// an address starts with a digit (IPv4) or holds a colon (IPv6):
			// a host name (an AWS service) is none, without the error value
			// ParseAddr would build for it
			if len(b) == 0 || (b[0] < '0' || b[0] > '9') && strings.IndexByte(b, ':') < 0 {
				return dst
			}
			ip, err := netip.ParseAddr(b)
			if err != nil || ip.Zone() != "" {
				return dst
			}
			var buf [64]byte
			if c := ip.AppendTo(buf[:0]); string(c) == b {
				return append(dst, Value{b, String}) // already canonical
			}
			return append(dst, Value{ip.String(), String})
		}
	case "event.dataset", "data_stream.dataset":
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			return append(dst, Value{Dataset, String})
		}
	case "event.outcome":
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail || e.action == "ConsoleLogin" {
				return viaDoc(e, dst)
			}
			if e.isPresent("errorCode") || e.isPresent("errorMessage") {
				return append(dst, Value{"failure", String})
			}
			return append(dst, Value{"success", String})
		}
	case "cloud.account.id":
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			for _, k := range [][]string{{"userIdentity", "accountId"}, {"recipientAccountId"}} {
				if out, ok := presentLeaf(e, dst, k...); ok {
					return out
				}
			}
			return dst
		}
	case "user.name":
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			// the type as strView reads it: the cases are no dropped strings
			if typ := e.strView("userIdentity", "type"); e.serviceActorOf(typ) == "" {
				switch typ {
				case "AssumedRole", "FederatedUser":
					if v := present(e.get("userIdentity", "sessionContext", "sessionIssuer", "userName")); v != nil {
						return rawLeaf(e, v, dst)
					}
				}
				if out, ok := presentLeaf(e, dst, "userIdentity", "userName"); ok {
					return out
				}
			}
			if e.action == "UserAuthentication" {
				if v := present(e.get("additionalEventData", "UserName")); v != nil {
					return rawLeaf(e, v, dst)
				}
			}
			return dst
		}
	case "user.id":
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			typ := e.strView("userIdentity", "type") // "IdentityCenterUser" is no dropped string
			if e.isPresent("userIdentity", "principalId") && e.serviceActorOf(typ) == "" {
				out, _ := presentLeaf(e, dst, "userIdentity", "principalId")
				return out
			}
			if typ == "IdentityCenterUser" {
				if v := present(e.get("userIdentity", "onBehalfOf", "userId")); v != nil {
					return rawLeaf(e, v, dst)
				}
			}
			return dst
		}
	case "tls.cipher", "tls.client.server_name":
		raw := map[string]string{"tls.cipher": "cipherSuite", "tls.client.server_name": "clientProvidedHostHeader"}[name]
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			tls := e.get("tlsDetails")
			if tls == nil || str(tls, "tlsVersion") == "tlsVersion" {
				return dst // absent, or a placeholder the pipeline drops
			}
			if v := present(tls, raw); v != nil {
				return rawLeaf(e, v, dst)
			}
			return dst
		}
	case "aws.cloudtrail.management_event":
		return func(e *Event, dst []Value) []Value {
			if e.Kind != KindCloudTrail {
				return e.walkSrc(p, dst)
			}
			if v := present(e.get("managementEvent")); v != nil {
				return append(dst, Value{javaValueOf(v), String})
			}
			return dst
		}
	}
	return nil
}

// javaStrings are the ECS fields holding a raw object as Java's
// HashMap.toString() renders it.
var javaStrings = map[string]string{
	"aws.cloudtrail.request_parameters":    "requestParameters",
	"aws.cloudtrail.response_elements":     "responseElements",
	"aws.cloudtrail.additional_eventdata":  "additionalEventData",
	"aws.cloudtrail.service_event_details": "serviceEventDetails",
}

// fromFlattened are ECS fields the pipeline copies from a string inside the
// flattened request or response (present while the object is small enough
// to be kept flattened).
var fromFlattened = map[string][]string{
	"user.target.name":  {"requestParameters", "userName"},
	"user.changes.name": {"requestParameters", "newUserName"},
	"group.name":        {"requestParameters", "groupName"},
	"group.id":          {"responseElements", "group", "groupId"},
	"user.target.id":    {"responseElements", "user", "userId"},
}

// resourceKeys are the leaves of aws.cloudtrail.resources, renamed from the
// raw resources list (the pipeline's de-duplication changes only how often a
// value repeats, never which values are present).
var resourceKeys = map[string]string{
	"aws.cloudtrail.resources.arn":        "ARN",
	"aws.cloudtrail.resources.account_id": "accountId",
	"aws.cloudtrail.resources.type":       "type",
}

// enrichment names the ECS fields (and objects) that only enrichment sets
// and that no trailhound enrichment computes. The ECS view of a raw record
// never has them.
var enrichment = []string{}

// notComputed reports whether name is, or is inside, an enrichment field.
func notComputed(name string) bool {
	for _, p := range enrichment {
		if name == p || strings.HasPrefix(name, p+".") {
			return true
		}
	}
	return false
}

// ignoreAbove are keyword fields Elastic's integration maps with
// ignore_above: longer values are stored but not indexed, so no query
// (KQL, EQL) can match them.
var ignoreAbove = map[string]int{
	"aws.cloudtrail.request_parameters": 8191,
	"aws.cloudtrail.response_elements":  8191,
}

// ResolveIndexed is Resolve for matching: it yields what a query over
// Elastic's index sees (values over a field's ignore_above are not indexed),
// and for the empty name every leaf of the event (free-text search).
func ResolveIndexed(name string) Getter {
	if name == "" {
		return allLeaves
	}
	get := Resolve(name)
	limit, ok := ignoreAbove[name]
	if !ok {
		return get
	}
	return func(e *Event, dst []Value) []Value {
		n := len(dst)
		dst = get(e, dst)
		out := dst[:n]
		for _, v := range dst[n:] {
			if len(v.S) <= limit {
				out = append(out, v)
			}
		}
		return out
	}
}

// allLeaves yields every leaf value of the event's ECS document.
func allLeaves(e *Event, dst []Value) []Value {
	var rec func(v *fastjson.Value)
	rec = func(v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeObject:
			o, _ := v.Object()
			o.Visit(func(_ []byte, c *fastjson.Value) { rec(c) })
		case fastjson.TypeArray:
			for _, c := range v.GetArray() {
				rec(c)
			}
		default:
			dst = leaf(v, dst)
		}
	}
	rec(e.ECS())
	return dst
}

// Lookup returns the values of a field for display, as JSON-compatible Go
// values (string, json.Number-like string for numbers, bool, map, slice);
// nil when the field is absent.
func Lookup(e *Event, name string) any {
	var vals []Value
	if view := LookupView(name); view != nil {
		vals = view(e)
	} else {
		vals = resolve(name)(e, nil)
	}
	return Display(vals, strings.Clone)
}

// LookupView returns the view Lookup reads name with, for a caller that
// looks the same names up again and again (the output fields of a rule's
// alerts): nil past the bound on how many names get views for display
// (Lookup then resolves the name at each call).
func LookupView(name string) View {
	if view, ok := lookupGetters.Load(name); ok {
		return view.(View)
	}
	if lookupCached.Add(1) > maxLookupGetters {
		return nil
	}
	// a memo slot, as the rules' getters have: a field they read is not
	// read from the record again for their alerts
	view := ResolveView(name)
	lookupGetters.Store(name, view)
	return view
}

// Display is Lookup's value of a field whose values are vals, its strings
// made by clone from the values' (copies that outlive the event).
func Display(vals []Value, clone func(string) string) any {
	if len(vals) == 1 { // most fields: no slice
		x, _ := displayValue(vals[0], clone)
		return x
	}
	out := make([]any, 0, len(vals))
	for _, v := range vals {
		if x, ok := displayValue(v, clone); ok {
			out = append(out, x)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

// displayValue is Lookup's value for v (its string copied by clone): not
// ok for the types Lookup leaves out.
func displayValue(v Value, clone func(string) string) (any, bool) {
	switch v.T {
	case String:
		return clone(v.S), true
	case Number:
		return NumberString(clone(v.S)), true
	case Bool:
		return v.S == "true", true
	case Object:
		return RawJSON(v.S), true
	}
	return nil, false
}

// lookupGetters caches Lookup's views by field name: resolving a name
// (splitting its path, finding how the pipeline computes it) cost more than
// reading the field, for every alert.
// Names come from rules and queries, so the cache stays small; it is bounded
// all the same (past the bound, names are resolved at every call).
var (
	lookupGetters sync.Map
	lookupCached  atomic.Int64
)

const maxLookupGetters = 4096

// NumberString is a JSON number kept as written.
type NumberString string

// MarshalJSON writes the number as is.
func (n NumberString) MarshalJSON() ([]byte, error) { return []byte(n), nil }

// RawJSON is a JSON value kept as written.
type RawJSON string

// MarshalJSON writes the value as is.
func (r RawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// FieldNames returns the dotted names of every leaf field of the event's ECS
// document (objects inside arrays contribute their leaves' names), sorted.
// The flattened objects are left out: their leaves are reachable by name but
// are not columns of Elastic's index mapping.
func FieldNames(e *Event) []string {
	return leafNames(e.ECS(), nil)
}

// FieldNamesFor is FieldNames(e) less the names want rejects. Of a raw
// CloudTrail record's enrichment (user agent parsing, GeoIP, entities) only
// the fields want accepts are computed: a KEEP of a few names and patterns
// does not parse the user agent.
func FieldNamesFor(e *Event, want func(string) bool) []string {
	if e.Kind != KindCloudTrail || e.enriched {
		return leafNames(e.ECS(), want)
	}
	out := leafNames(e.doc(), want)
	n := len(out)
	for _, name := range enrichmentNames {
		if want(name) && !slices.Contains(out[:n], name) && len(enrichGetter(name)(e, nil)) > 0 {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// enrichmentNames are the leaves setEnrichment may add to a raw CloudTrail
// record's document.
var enrichmentNames = func() []string {
	var out []string
	for n := range geoFields {
		out = append(out, n)
	}
	for n := range agentFields {
		out = append(out, n)
	}
	for n := range entityFields {
		out = append(out, n)
	}
	return out
}()

// leafNames returns the sorted names of doc's leaves that want accepts (nil:
// all), the flattened objects left out.
func leafNames(doc *fastjson.Value, want func(string) bool) []string {
	set := map[string]bool{}
	var rec func(prefix string, v *fastjson.Value)
	rec = func(prefix string, v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeObject:
			o, _ := v.Object()
			o.Visit(func(k []byte, c *fastjson.Value) {
				name := string(k)
				if prefix != "" {
					name = prefix + "." + name
				}
				if name == "aws.cloudtrail.flattened" {
					return
				}
				rec(name, c)
			})
		case fastjson.TypeArray:
			for _, c := range v.GetArray() {
				rec(prefix, c)
			}
		default:
			if prefix != "" && (want == nil || want(prefix)) {
				set[prefix] = true
			}
		}
	}
	rec("", doc)
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
