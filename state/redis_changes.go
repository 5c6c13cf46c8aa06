package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The change stream (PREFIXchanges): each save adds what it changed of one
// rule, so that the other processes learn it (Changes) without reading the
// rule whole.

// appendChange adds one entry to a change record: kind (0 terms, 1 groups,
// 2 alerted, 3 suppress), field, time (suppress: end), and for suppress the
// start and alert id.
func appendChange(b []byte, kind byte, field string, t, start int64, id string) []byte {
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(field)))
	b = append(b, field...)
	b = binary.AppendVarint(b, t)
	if kind == 3 {
		b = binary.AppendVarint(b, start)
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	return b
}

// decodeChange merges a change record into rule.
func decodeChange(b []byte, rule *Rule) error {
	bad := errors.New("truncated change record")
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return "", false
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s, true
	}
	num := func() (int64, bool) {
		v, k := binary.Varint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		f, ok1 := str()
		t, ok2 := num()
		if !ok1 || !ok2 || kind > 3 {
			return bad
		}
		switch kind {
		case 0, 1, 2:
			m := []map[string]int64{rule.Terms, rule.Groups, rule.Alerted}[kind]
			mergeTimes(m, map[string]int64{f: t})
		case 3:
			start, ok1 := num()
			id, ok2 := str()
			if !ok1 || !ok2 {
				return bad
			}
			mergeWindows(rule.Suppress, map[string]Window{f: {AlertID: id, Start: start, End: t}})
		}
	}
	return nil
}

// Changes implements Shared: the terms, groups, alert ids and suppression
// windows other processes saved since the last call, for the rules this
// store has loaded. When the change stream was trimmed past what this
// process had read, those rules are read again whole.
func (r *Redis) Changes() (map[string]*Rule, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	out, err := r.changes(ctx)
	if err != nil {
		return nil, fmt.Errorf("state %s: reading other processes' changes: %w", r.addr, err)
	}
	return out, nil
}

func (r *Redis) changes(ctx context.Context) (map[string]*Rule, error) {
	out := map[string]*Rule{}
	r.mu.Lock()
	last, read, epoch := r.lastID, r.read, r.streamEpoch
	r.mu.Unlock()
	for {
		// the stream's counters, the entries after last and the epoch, as
		// of one moment
		var info *redis.XInfoStreamCmd
		var page *redis.XMessageSliceCmd
		var ep *redis.StringCmd
		cmds, err := r.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			ep = pipe.Get(ctx, r.prefix+"epoch")
			info = pipe.XInfoStream(ctx, r.stream())
			page = pipe.XRangeN(ctx, r.stream(), "("+last, "+", changesPage)
			return nil
		})
		err = firstErr(cmds, err)
		noStream := err != nil && strings.Contains(err.Error(), "no such key")
		if err != nil && !noStream {
			return nil, err
		}
		in := info.Val()
		if ep.Val() != epoch || !noStream && (in.EntriesAdded < read || laterID(last, in.LastGeneratedID)) {
			// the server lost its data (or the stream was deleted): the
			// stream, if any, is a new one, all of it news here
			last, read, epoch = "0-0", 0, ep.Val()
			continue
		}
		if noStream {
			break // nothing saved yet
		}
		if in.EntriesAdded-in.Length > read {
			// trimmed past what was read (the oldest entries go first): read
			// every loaded rule again
			r.mu.Lock()
			ids := slices.Collect(maps.Keys(r.known))
			r.mu.Unlock()
			clear(out)
			for _, id := range ids {
				rule, err := r.load(ctx, id)
				if err != nil {
					return nil, fmt.Errorf("rule %s: %w", id, err)
				}
				out[id] = rule
			}
			last, read = in.LastGeneratedID, in.EntriesAdded
			break
		}
		res := page.Val()
		for _, m := range res {
			last = m.ID
			read++
			id, _ := m.Values["r"].(string)
			by, _ := m.Values["i"].(string)
			d, _ := m.Values["d"].(string)
			if by == r.instance {
				continue
			}
			rule := out[id]
			if rule == nil {
				rule = NewRule()
				out[id] = rule
			}
			if err := decodeChange([]byte(d), rule); err != nil {
				return nil, fmt.Errorf("change %s of rule %s: %w", m.ID, id, err)
			}
		}
		if len(res) < changesPage {
			break
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastID, r.read, r.streamEpoch = last, read, epoch
	for id, rule := range out {
		k := r.known[id]
		if k == nil {
			delete(out, id) // not loaded here: Load will read it
			continue
		}
		k.Merge(rule)
	}
	return out, nil
}

func (r *Redis) stream() string { return r.prefix + "changes" }

// changesPage is how many change stream entries one read takes: an entry
// holds up to saveChunk changes (a megabyte or so), so a page stays about
// 100 MB at most.
const changesPage = 100

// laterID says whether stream entry id a comes after b (MS-SEQ, both
// decimal; false when either is malformed).
func laterID(a, b string) bool {
	am, as, aok := parseID(a)
	bm, bs, bok := parseID(b)
	return aok && bok && (am > bm || am == bm && as > bs)
}

func parseID(id string) (ms, seq uint64, ok bool) {
	m, s, found := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(m, 10, 64)
	seq, err2 := strconv.ParseUint(s, 10, 64)
	return ms, seq, found && err1 == nil && err2 == nil
}
