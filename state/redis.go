package state

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts every key a Redis store writes, unless the URL
// says otherwise (?prefix=).
const DefaultRedisPrefix = "trailhound:"

// Redis is a Store in a Redis server, shared by several processes. Each
// rule's entries live in hashes, one per kind, under the key prefix:
//
//	PREFIX{RULE}:terms     term -> last sighting (Unix ns, decimal)
//	PREFIX{RULE}:groups    threshold group -> last event counted into an alert
//	PREFIX{RULE}:alerted   alert id -> event time
//	PREFIX{RULE}:suppress  group key -> "END START ALERTID"
//	PREFIX{RULE}:pending   partial sequence key -> "START DATA"
//	PREFIX{RULE}:wm        watermark
//
// each hash with a sorted set beside it (the same name with ":t") of its
// fields by time, so that expiry finds old entries without reading the
// rest. PREFIXrules is the set of rule keys, PREFIXchanges a stream of what
// each save changed (read by Changes), PREFIXepoch a key whose absence, or
// another value than the process read at its start, at a save says the
// server lost its data (then the state goes back whole).
//
// Save merges rather than overwrites, by a Lua script per rule (per
// saveChunk entries of a rule), in MULTI/EXEC transactions of about
// saveChunk entries: the latest time wins for terms, groups and alert ids, the window
// that ends last for suppression (ties: the greater value), the highest
// watermark; a partial sequence (pending) is the saver's own: the last save
// of a key wins. Entries the saver's Expire dropped go from Redis by time,
// whoever wrote them; a pending entry the saver removed goes unless another
// process wrote it since. Only what changed since the store last read or
// wrote a rule is sent, so the store keeps a copy of what it knows Redis
// holds for each rule it loaded.
//
// MULTI/EXEC keeps other clients from seeing half a transaction (a large
// save is several), but Redis does not roll back: a save that fails part
// way (a key of the wrong type, the server's memory limit) can leave some
// rules saved. Merging is
// idempotent, so the next save (or the replay after a restart) completes
// it.
type Redis struct {
	client   *redis.Client
	addr     string // the URL without its password, for errors
	prefix   string
	instance string // tells this process's entries in the change stream from the others'

	mu     sync.Mutex
	known  map[string]*Rule // per rule: what Redis holds at least, as last read or written
	lastID string           // the last change stream entry read
	read   int64            // how many entries the stream had had up to lastID (its entries-added then)
	epoch  string           // the epoch key's value as this process last wrote or read it
	// the epoch key's value when lastID was read: another says the stream
	// is a new one
	streamEpoch string
	saveSHA     string

	readOnly bool
}

// OpenRedis connects to the Redis server a URL names:
// redis://[user:password@]host:port/db or rediss://... for TLS, with an
// optional ?prefix=KEYPREFIX (default "trailhound:") and go-redis's own
// options (dial_timeout=5s, ...). The server is asked for INFO first; a
// server that may evict keys (maxmemory with an allkeys-* policy) is
// warned about, since eviction would drop state without a word.
func OpenRedis(ctx context.Context, rawURL string) (*Redis, error) {
	return openRedis(ctx, rawURL, false)
}

// OpenRedisReadOnly is OpenRedis for reading only (state stats): it writes
// nothing to the server, and Save fails.
func OpenRedisReadOnly(ctx context.Context, rawURL string) (*Redis, error) {
	return openRedis(ctx, rawURL, true)
}

func openRedis(ctx context.Context, rawURL string, readOnly bool) (*Redis, error) {
	pu, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, &badURLError{err}
	}
	addr := pu.redacted
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("state %s: %w", addr, err)
	}
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{}) })
	r := &Redis{client: redis.NewClient(pu.opts), addr: addr, prefix: pu.prefix, instance: hex.EncodeToString(id[:]), known: map[string]*Rule{}, readOnly: readOnly}
	fail := func(what string, err error) (*Redis, error) {
		r.client.Close()
		if pu.opts.TLSConfig != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)) {
			what += "(no TLS handshake: rediss:// is for a server that serves TLS, redis:// for one that does not) "
		}
		return nil, fmt.Errorf("state %s: %s%w", addr, what, err)
	}
	info, err := r.client.Info(ctx, "server").Result() // one section: older servers take no more
	if err != nil {
		return fail("", err)
	}
	if v := serverVersion(info); v < 7 {
		r.client.Close()
		return nil, fmt.Errorf("state %s: Redis 7.0 or later is needed (XINFO STREAM's entries-added), the server says %q", addr, infoField(info, "redis_version"))
	}
	if info, err = r.client.Info(ctx, "memory").Result(); err != nil {
		return fail("", err)
	}
	if p := infoField(info, "maxmemory_policy"); strings.HasPrefix(p, "allkeys-") && infoField(info, "maxmemory") != "0" {
		slog.Warn("the Redis server may evict the rule state when it is full (maxmemory with maxmemory-policy "+p+"): evicted entries are forgotten without a word (new terms, alerts raised again); use noeviction or a volatile-* policy (trailhound's keys have no TTL), or a server of its own", "state", addr)
	}
	// changes saved from now on are news to this process; what came before,
	// Load reads
	r.lastID = "0-0"
	stream, err := r.client.XInfoStream(ctx, r.stream()).Result()
	switch {
	case err == nil:
		r.lastID, r.read = stream.LastGeneratedID, stream.EntriesAdded
	case !strings.Contains(err.Error(), "no such key"):
		return fail("reading the change stream: ", err)
	}
	if readOnly {
		return r, nil
	}
	// the epoch key tells a server that kept its data from one that lost it:
	// a save that finds another value than the one read here (or none) knows
	// the server lost what it held since
	if err := r.client.SetNX(ctx, r.prefix+"epoch", r.instance, 0).Err(); err != nil {
		return fail("", err)
	}
	if r.epoch, err = r.client.Get(ctx, r.prefix+"epoch").Result(); err != nil {
		return fail("reading the epoch: ", err)
	}
	r.streamEpoch = r.epoch
	if r.saveSHA, err = r.client.ScriptLoad(ctx, saveScript).Result(); err != nil {
		return fail("loading the save script: ", err)
	}
	return r, nil
}

// infoField is a field of INFO's answer ("" when absent).
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// serverVersion is the major version INFO reports (0 when it says none).
func serverVersion(info string) int {
	major, _, _ := strings.Cut(infoField(info, "redis_version"), ".")
	v, _ := strconv.Atoi(major)
	return v
}

var redisLogOnce sync.Once

// redisLog sends go-redis's messages (dial failures it retries) to slog.
type redisLog struct{}

func (redisLog) Printf(_ context.Context, format string, v ...any) {
	slog.Warn(fmt.Sprintf(format, v...))
}

// String is the server's URL without its password.
func (r *Redis) String() string { return r.addr }

// Close implements Store.
func (r *Redis) Close() error { return r.client.Close() }

func (r *Redis) key(ruleID, kind string) string {
	return r.prefix + "{" + ruleID + "}:" + kind
}

// the kinds of entry, in the order of the Lua script's keys
var redisKinds = []string{"terms", "groups", "alerted", "suppress", "pending"}

// timeout bounds one command round (the Store interface has no context).
const redisTimeout = 30 * time.Second

// Load implements Store.
func (r *Redis) Load(ruleID string) (*Rule, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	rule, err := r.load(ctx, ruleID)
	if err != nil {
		return nil, fmt.Errorf("state %s: loading rule %s: %w", r.addr, ruleID, err)
	}
	r.mu.Lock()
	r.known[ruleID] = clone(rule)
	r.mu.Unlock()
	return rule, nil
}

func (r *Redis) load(ctx context.Context, ruleID string) (*Rule, error) {
	pipe := r.client.Pipeline()
	hashes := make([]*redis.MapStringStringCmd, len(redisKinds))
	for i, k := range redisKinds {
		hashes[i] = pipe.HGetAll(ctx, r.key(ruleID, k))
	}
	wm := pipe.Get(ctx, r.key(ruleID, "wm"))
	if err := firstErr(pipe.Exec(ctx)); err != nil {
		return nil, err
	}
	rule := NewRule()
	if s, err := wm.Result(); err == nil {
		if rule.Watermark, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, r.corrupt(ruleID, "wm", "", s)
		}
	}
	for i, m := range []map[string]int64{rule.Terms, rule.Groups, rule.Alerted} {
		for f, v := range hashes[i].Val() {
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, r.corrupt(ruleID, redisKinds[i], f, v)
			}
			m[f] = t
		}
	}
	for f, v := range hashes[3].Val() {
		w, err := parseWindow(v)
		if err != nil {
			return nil, r.corrupt(ruleID, "suppress", f, v)
		}
		rule.Suppress[f] = w
	}
	for f, v := range hashes[4].Val() {
		start, data, ok := strings.Cut(v, " ")
		t, err := strconv.ParseInt(start, 10, 64)
		if !ok || err != nil {
			return nil, r.corrupt(ruleID, "pending", f, v)
		}
		rule.Pending[f] = Pending{Start: t, Data: []byte(data)}
	}
	return rule, nil
}

func (r *Redis) corrupt(ruleID, kind, field, value string) error {
	if len(value) > 40 {
		value = value[:40] + "..."
	}
	where := r.key(ruleID, kind)
	if kind != "wm" {
		where += fmt.Sprintf(" field %q", field)
	}
	return &CorruptError{Path: r.addr, Reason: fmt.Sprintf("rule %s: %s holds %q", ruleID, where, value)}
}

func windowValue(w Window) string {
	return strconv.FormatInt(w.End, 10) + " " + strconv.FormatInt(w.Start, 10) + " " + w.AlertID
}

func parseWindow(v string) (Window, error) {
	end, rest, ok1 := strings.Cut(v, " ")
	start, id, ok2 := strings.Cut(rest, " ")
	e, err1 := strconv.ParseInt(end, 10, 64)
	s, err2 := strconv.ParseInt(start, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return Window{}, errors.New("not END START ALERTID")
	}
	return Window{AlertID: id, Start: s, End: e}, nil
}

func pendingValue(p Pending) string {
	return strconv.FormatInt(p.Start, 10) + " " + string(p.Data)
}

// clone is a deep copy of a rule's state.
func clone(r *Rule) *Rule {
	c := &Rule{Terms: maps.Clone(r.Terms), Groups: maps.Clone(r.Groups), Alerted: maps.Clone(r.Alerted),
		Suppress: maps.Clone(r.Suppress), Pending: make(map[string]Pending, len(r.Pending)), Watermark: r.Watermark, Expired: r.Expired}
	for k, p := range r.Pending {
		c.Pending[k] = Pending{Start: p.Start, Data: slices.Clone(p.Data)}
	}
	for _, m := range []*map[string]int64{&c.Terms, &c.Groups, &c.Alerted} {
		if *m == nil {
			*m = map[string]int64{}
		}
	}
	if c.Suppress == nil {
		c.Suppress = map[string]Window{}
	}
	return c
}

// Save implements Store: every rule's changes in one MULTI/EXEC, merged
// into what Redis holds (see Redis).
func (r *Redis) Save(rules map[string]*Rule) error {
	if len(rules) == 0 {
		return nil
	}
	if r.readOnly {
		return fmt.Errorf("state %s: opened read only", r.addr)
	}
	ids := slices.Sorted(maps.Keys(rules))
	r.mu.Lock()
	var calls []saveCall
	for _, id := range ids {
		calls = append(calls, r.saveArgs(id, rules[id], r.known[id])...)
	}
	r.mu.Unlock()
	ctx := context.Background() // each transaction has its timeout (save), the other commands go-redis's
	lost, err := r.save(ctx, calls)
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") { // the server lost its script cache (restarted)
		var sha string
		if sha, err = r.client.ScriptLoad(ctx, saveScript).Result(); err == nil {
			r.mu.Lock()
			r.saveSHA = sha
			r.mu.Unlock()
			lost, err = r.save(ctx, calls)
		}
	}
	if err == nil && lost {
		// the server lost its data (restarted without persistence): what
		// this process knows goes back whole, these rules as they are now,
		// the others as they were last read or written
		r.mu.Lock()
		calls = calls[:0]
		for _, id := range ids {
			calls = append(calls, r.saveArgs(id, rules[id], nil)...)
		}
		for id, k := range r.known {
			if rules[id] == nil {
				calls = append(calls, r.saveArgs(id, k, nil)...)
			}
		}
		r.mu.Unlock()
		if err = r.client.SetNX(ctx, r.prefix+"epoch", r.instance, 0).Err(); err == nil {
			var epoch string
			if epoch, err = r.client.Get(ctx, r.prefix+"epoch").Result(); err == nil {
				r.mu.Lock()
				r.epoch = epoch
				r.mu.Unlock()
				_, err = r.save(ctx, calls)
			}
		}
	}
	if err != nil {
		if len(ids) > 5 {
			ids = append(ids[:5:5], fmt.Sprintf("and %d more", len(ids)-5))
		}
		return fmt.Errorf("state %s: saving rules %s: %w", r.addr, strings.Join(ids, ", "), err)
	}
	r.mu.Lock()
	for _, id := range ids {
		k := r.known[id]
		if k == nil {
			r.known[id] = clone(rules[id])
			continue
		}
		// what Redis holds now: at least the merge of both
		n := rules[id]
		k.Merge(n)
		clear(k.Pending)
		for f, p := range n.Pending {
			k.Pending[f] = Pending{Start: p.Start, Data: slices.Clone(p.Data)}
		}
		k.Watermark = max(k.Watermark, n.Watermark)
		k.Expired = n.Expired
		k.drop(n.Expired) // what the cutoffs dropped in Redis
	}
	r.mu.Unlock()
	return nil
}

// saveChunk bounds the entries one call of the save script merges (and
// the expired entries it drops of each kind: the script's loop; save calls
// it again while some are left), and about how many go in one MULTI/EXEC: a save of a million new terms in one
// script kept the server busy for seconds, past go-redis's read timeout (3
// s: the save failed) and Redis's busy-script threshold (5 s: the other
// clients' commands fail with BUSY).
const saveChunk = 20000

// saveCall is one call of the save script: a rule's id and its arguments
// (see saveArgs), with how many entries they carry.
type saveCall struct {
	id      string
	args    []any
	entries int
}

// save runs the save script calls in transactions of about saveChunk
// entries (a rule's calls are its entries in saveChunk parts), and says
// whether the epoch key was missing or another than this process knew: the
// server has lost what it held (and another process may have set the key
// again since). Merging is idempotent, so that a save split in parts is
// the same as one, but for what others read in between.
func (r *Redis) save(ctx context.Context, calls []saveCall) (lost bool, err error) {
	r.mu.Lock()
	sha, known := r.saveSHA, r.epoch
	r.mu.Unlock()
	for len(calls) > 0 {
		n, entries := 0, 0
		for n < len(calls) && (n == 0 || entries+calls[n].entries <= saveChunk) {
			entries += calls[n].entries
			n++
		}
		var epoch *redis.StringCmd
		evals := make([]*redis.Cmd, n)
		ctx, cancel := context.WithTimeout(ctx, redisTimeout) // a transaction's, not the whole save's (that may take many)
		cmds, err := r.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			epoch = pipe.Get(ctx, r.prefix+"epoch")
			for i, c := range calls[:n] {
				keys := []string{r.prefix + "rules", r.key(c.id, "wm"), r.prefix + "changes"}
				for _, k := range redisKinds {
					keys = append(keys, r.key(c.id, k), r.key(c.id, k+":t"))
				}
				evals[i] = pipe.EvalSha(ctx, sha, keys, c.args...)
			}
			return nil
		})
		cancel()
		if err := firstErr(cmds, err); err != nil {
			return false, err
		}
		lost = lost || epoch.Val() != known
		for i, c := range calls[:n] {
			if more, _ := evals[i].Int(); more == 1 && (i == n-1 || calls[i+1].id != c.id) {
				// expired entries left: the rule's cutoffs again, nothing else
				args := append(slices.Clone(c.args[:8]), 0, 0, 0, 0, 0, 0, "")
				calls = append(calls, saveCall{id: c.id, args: args, entries: saveChunk})
			}
		}
		calls = calls[n:]
	}
	return lost, nil
}

// firstErr is the first error of a pipeline's commands, or the pipeline's
// own (err), a missing key (redis.Nil) not counted: a GET of a missing key
// must not hide another command's error. In a transaction the commands
// queued before one the server refused get EXECABORT: the refusal (OOM,
// ...) is what to say.
func firstErr(cmds []redis.Cmder, err error) error {
	var abort error
	for _, c := range cmds {
		switch err := c.Err(); {
		case err == nil || errors.Is(err, redis.Nil):
		case strings.HasPrefix(err.Error(), "EXECABORT"):
			abort = cmp.Or(abort, err)
		default:
			return err
		}
	}
	if abort != nil {
		return abort
	}
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}

// Merge merges into r what another process saved of the rule (as
// Changes returns it), as Redis merges saves: the latest time wins for
// terms, groups and alert ids, the window that ends last for suppression
// (ties: the greater END START ALERTID). Partial sequences and the
// watermark are r's own.
func (r *Rule) Merge(from *Rule) {
	mergeTimes(r.Terms, from.Terms)
	mergeTimes(r.Groups, from.Groups)
	mergeTimes(r.Alerted, from.Alerted)
	mergeWindows(r.Suppress, from.Suppress)
}

func mergeTimes(into, from map[string]int64) {
	for f, t := range from {
		if old, ok := into[f]; !ok || t > old {
			into[f] = t
		}
	}
}

func laterWindow(a, b Window) bool {
	if a.End != b.End {
		return a.End > b.End
	}
	return windowValue(a) > windowValue(b)
}

func mergeWindows(into, from map[string]Window) {
	for f, w := range from {
		if old, ok := into[f]; !ok || laterWindow(w, old) {
			into[f] = w
		}
	}
}

// saveArgs are the Lua script's calls for one rule: what changed since
// known (nil: everything), in parts of at most saveChunk entries, each with
// the watermark, the cutoffs, and its change record for the stream.
func (r *Redis) saveArgs(id string, n, known *Rule) []saveCall {
	if known == nil {
		known = NewRule()
	}
	type item struct {
		f, t, v string
		change  []byte // the entry's change record (not for pending)
	}
	var lists [6][]item // terms, groups, alerted, suppress, pending, pending removals
	for i, m := range []struct{ now, was map[string]int64 }{{n.Terms, known.Terms}, {n.Groups, known.Groups}, {n.Alerted, known.Alerted}} {
		for f, t := range m.now {
			if old, ok := m.was[f]; ok && old >= t {
				continue
			}
			s := strconv.FormatInt(t, 10)
			lists[i] = append(lists[i], item{f, s, s, appendChange(nil, byte(i), f, t, 0, "")})
		}
	}
	for f, w := range n.Suppress {
		if old, ok := known.Suppress[f]; ok && !laterWindow(w, old) {
			continue
		}
		lists[3] = append(lists[3], item{f, strconv.FormatInt(w.End, 10), windowValue(w), appendChange(nil, 3, f, w.End, w.Start, w.AlertID)})
	}
	for f, p := range n.Pending {
		if old, ok := known.Pending[f]; ok && old.Start == p.Start && string(old.Data) == string(p.Data) {
			continue
		}
		lists[4] = append(lists[4], item{f, strconv.FormatInt(p.Start, 10), pendingValue(p), nil})
	}
	for f, p := range known.Pending { // removed (a sequence went on or ended): gone unless another process wrote it since
		if _, ok := n.Pending[f]; !ok {
			lists[5] = append(lists[5], item{f, strconv.FormatInt(p.Start, 10), pendingValue(p), nil})
		}
	}
	c := n.Expired
	header := []any{id, r.instance, strconv.FormatInt(n.Watermark, 10),
		strconv.FormatInt(c.Terms, 10), strconv.FormatInt(c.Groups, 10), strconv.FormatInt(c.Alerted, 10),
		strconv.FormatInt(c.Suppress, 10), strconv.FormatInt(c.Pending, 10)}
	var calls []saveCall
	kind, next := 0, 0 // the next entry to send: lists[kind][next]
	for {
		args := append(slices.Clone(header), 0, 0, 0, 0, 0, 0) // the counts of each list, filled in below
		var change []byte
		k := 0
		for ; kind < len(lists) && k < saveChunk; kind, next = kind+1, 0 {
			m := min(len(lists[kind])-next, saveChunk-k)
			for _, it := range lists[kind][next : next+m] {
				args = append(args, it.f, it.t, it.v)
				change = append(change, it.change...)
			}
			args[len(header)+kind] = m
			k += m
			if next += m; next < len(lists[kind]) {
				break // this kind goes on in the next call
			}
		}
		calls = append(calls, saveCall{id: id, args: append(args, string(change)), entries: k})
		for kind < len(lists) && next == len(lists[kind]) {
			kind, next = kind+1, 0
		}
		if kind == len(lists) {
			return calls
		}
	}
}

// Stats implements Store.
func (r *Redis) Stats() ([]RuleStats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	ids, err := r.client.SMembers(ctx, r.prefix+"rules").Result()
	if err != nil {
		return nil, fmt.Errorf("state %s: listing rules: %w", r.addr, err)
	}
	slices.Sort(ids)
	pipe := r.client.Pipeline()
	lens := make([][]*redis.IntCmd, len(ids))
	wms := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		for _, k := range redisKinds {
			lens[i] = append(lens[i], pipe.HLen(ctx, r.key(id, k)))
		}
		wms[i] = pipe.Get(ctx, r.key(id, "wm"))
	}
	if err := firstErr(pipe.Exec(ctx)); err != nil {
		return nil, fmt.Errorf("state %s: counting entries: %w", r.addr, err)
	}
	out := make([]RuleStats, len(ids))
	for i, id := range ids {
		wm, _ := strconv.ParseInt(wms[i].Val(), 10, 64)
		l := lens[i]
		out[i] = RuleStats{RuleID: id, Terms: int(l[0].Val()), Groups: int(l[1].Val()), Alerted: int(l[2].Val()),
			Suppress: int(l[3].Val()), Pending: int(l[4].Val()), Watermark: time.Unix(0, wm).UTC()}
		// the threshold runs' marks among the alert ids
		it := r.client.HScan(ctx, r.key(id, "alerted"), 0, RunMarkPrefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			if it.Next(ctx) { // field, then value
				out[i].RunMarks++
			}
		}
		if err := it.Err(); err != nil {
			return nil, fmt.Errorf("state %s: counting threshold run marks of rule %s: %w", r.addr, id, err)
		}
		out[i].Alerted -= out[i].RunMarks
	}
	return out, nil
}
