package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/eql"
	"github.com/trailhound/trailhound/esql"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/kql"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/termtext"
)

// defaultColumns are shown for KQL and EQL matches.
var defaultColumns = []string{"@timestamp", "event.provider", "event.action", "event.outcome", "user.name", "source.address", "aws.cloudtrail.user_identity.arn"}

func newQuery() *cobra.Command {
	var (
		lang, format string
		columns      []string
		maxRecord    string
		workers      int
		geo          *geoFlags
	)
	cmd := &cobra.Command{
		Use:   "query QUERY PATH...",
		Short: "Run an ad hoc ES|QL, EQL or KQL query over CloudTrail logs and print the result table",
		Long: `Run one query over files, folders or stdin ("-") and print the result.

ES|QL (a query starting with FROM) prints its result table: WHERE, EVAL, STATS ... BY,
DISSECT, GROK, KEEP, SORT, LIMIT and the rest run over every record; NOW() is the
current time. EQL ("<category> where ...") and KQL print the matching records
with --columns (default: time, source, action, outcome, user, address, ARN).
EQL sequences run as rules (trailhound hunt --rules).`,
		Example: `  trailhound query 'FROM logs-aws.cloudtrail-* | STATS n = COUNT(*) BY event.provider | SORT n DESC | LIMIT 10' logs/
  trailhound query 'any where event.action : "Delete*"' logs/
  trailhound query --lang kql 'event.action: GetSecretValue and not user.name: svc-*' logs/`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, paths := args[0], args[1:]
			if lang == "" {
				lang = detectLanguage(q)
			}
			maxBytes, err := parseSize(maxRecord)
			if err != nil {
				return &exitError{exitBadUsage, fmt.Errorf("--max-record-size: %w", err)}
			}
			db, err := geo.open()
			if err != nil {
				return err
			}
			if db != nil {
				defer db.Close()
			}
			en := enrichment{db, geo.noEntityMapping}
			var t esql.Table
			switch lang {
			case "esql":
				t, err = runESQL(cmd.Context(), q, paths, maxBytes, workers, en, cmd.ErrOrStderr())
			case "eql", "kql":
				t, err = runFilter(cmd.Context(), lang, q, paths, columns, maxBytes, workers, en, cmd.ErrOrStderr())
			default:
				return &exitError{exitBadUsage, fmt.Errorf("--lang must be esql, eql or kql, not %q", lang)}
			}
			var xe *exitError
			if err != nil && !(errors.As(err, &xe) && len(t.Columns) > 0) {
				return err
			}
			// input errors were reported; the table of what was read still prints
			if perr := printTable(cmd.OutOrStdout(), t, format); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&lang, "lang", "l", "", "query language: esql, eql or kql (default: guessed from the query)")
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output: table, jsonl or csv")
	cmd.Flags().StringSliceVarP(&columns, "columns", "c", defaultColumns, "fields to show for EQL and KQL matches")
	cmd.Flags().StringVar(&maxRecord, "max-record-size", "16MB", "largest record accepted")
	cmd.Flags().IntVarP(&workers, "workers", "w", runtime.GOMAXPROCS(0), "files, or 1 MB ranges of a large file, read in parallel (and a large gzip file decompressed ahead on a goroutine of its own)")
	geo = addGeoFlags(cmd.Flags())
	return cmd
}

// detectLanguage guesses a query's language: FROM starts ES|QL, a category
// followed by where (or sequence) is EQL, anything else KQL.
func detectLanguage(q string) string {
	fields := strings.Fields(strings.ToLower(q))
	switch {
	case len(fields) > 0 && fields[0] == "from":
		return "esql"
	case len(fields) > 0 && fields[0] == "sequence", len(fields) > 1 && fields[1] == "where":
		return "eql"
	}
	return "kql"
}

// eachEvent reads the CloudTrail (or ECS) events of paths on workers
// goroutines. Its work comes in parts numbered in input order: an input,
// or one byte range of a large plain file of records one per line
// (record.Ranges), so that one file is read on every core; a file is cut
// into the same parts whatever the workers. open(part) returns the
// function that gets the part's events and the one called when the part is
// finished; both run on the goroutine reading it (parts are read
// concurrently). A range may be opened again
// when its records start elsewhere than guessed: only the last open is
// finished, and what the others gathered is dropped. Input errors are
// reported on stderr, in input order; a cancelled ctx is an interruption
// (exit 130), the result holding what was read before.
func eachEvent(ctx context.Context, paths []string, maxBytes, workers int, en enrichment, stderr io.Writer,
	open func(part int) (visit func(*event.Event), done func())) error {
	w := record.Walk(paths)
	bad := len(w.Errors)
	for _, err := range w.Errors {
		fmt.Fprintf(stderr, "trailhound: %v\n", err)
	}
	var (
		mu   sync.Mutex
		msgs = map[int][]inputMsg{} // input errors and warnings, per part
	)
	parts := make(chan queryPart)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := event.Parser{GeoIP: en.geo, NoEntityMapping: en.noEntityMapping}
			for pt := range parts {
				var m []inputMsg
				if pt.rr != nil {
					m = readRange(ctx, pt, maxBytes, &p, open)
				} else {
					visit, done := open(pt.seq)
					m = readEvents(ctx, pt.path, pt.ahead, maxBytes, &p, visit)
					done()
				}
				mu.Lock()
				msgs[pt.seq] = m
				mu.Unlock()
			}
		}()
	}
	seq := 0
	for _, in := range w.Inputs {
		if ctx.Err() != nil {
			break
		}
		var rr *record.Ranges
		if in.Open == nil && in.Path != record.Stdin && in.Size >= record.MinRanges*queryRangeChunk {
			rr = record.OpenRanges(in.Path, queryRangeChunk, record.MinRanges)
		}
		if rr == nil {
			parts <- queryPart{seq: seq, path: in.Path, ahead: workers > 1 && in.Size >= record.AheadMin}
			seq++
			continue
		}
		left := &atomic.Int64{}
		left.Store(int64(rr.Len()))
		for k := range rr.Len() {
			if ctx.Err() != nil { // the ranges not taken are not read
				if left.Add(-int64(rr.Len()-k)) == 0 {
					rr.Close()
				}
				break
			}
			parts <- queryPart{seq: seq, path: in.Path, rr: rr, k: k, left: left}
			seq++
		}
	}
	close(parts)
	wg.Wait()
	for i := range seq {
		for _, msg := range msgs[i] {
			if msg.warning() {
				fmt.Fprintln(stderr, "trailhound: warning: "+msg.String())
				continue
			}
			bad++
			fmt.Fprintln(stderr, "trailhound: "+msg.String())
		}
	}
	if ctx.Err() != nil {
		return &exitError{exitInterrupted, errors.New("interrupted: the result holds only what was read before")}
	}
	if bad > 0 {
		return &exitError{exitErrors, fmt.Errorf("%d input error(s); the rest was read", bad)}
	}
	return nil
}

// queryRangeChunk is the size of the byte ranges query reads a large file
// in (a variable: tests split small files).
var queryRangeChunk int64 = record.DefaultRangeChunk

// rangesRead counts the ranges queries read (tests check that a file was
// read by ranges).
var rangesRead atomic.Int64

// decompressedAhead counts the inputs queries decompressed ahead (tests
// check that a gzip file was).
var decompressedAhead atomic.Int64

// queryPart is a part of a query's input: a file read as a stream, or
// range k of one read by ranges.
type queryPart struct {
	seq   int
	path  string
	ahead bool // a large gzip file: decompressed on a goroutine of its own (record.DecompressAhead)
	rr    *record.Ranges
	k     int
	left  *atomic.Int64 // rr's ranges not finished: the last closes it
}

// inputMsg is an input error, or a warning (the record was still read).
type inputMsg struct {
	path string
	pe   *record.PosError // the splitter's, else err
	line int              // the line of the record err is about, if any
	err  error
}

// shift adds lines to the message's line (a range's scan counted lines
// from elsewhere).
func (m *inputMsg) shift(lines int) {
	if m.pe != nil {
		m.pe.Shift(lines)
	} else if m.line > 0 {
		m.line += lines
	}
}

func (m inputMsg) warning() bool { return m.pe != nil && m.pe.Warning }

func (m inputMsg) String() string {
	switch {
	case m.pe != nil:
		return fmt.Sprintf("%s: %v", m.path, m.pe)
	case m.line > 0:
		return fmt.Sprintf("%s:%d: %v", m.path, m.line, m.err)
	case m.path != "":
		return fmt.Sprintf("%s: %v", m.path, m.err)
	}
	return m.err.Error()
}

// readEvents calls fn with every CloudTrail (or ECS) event of one input and
// returns its input errors and warnings. With ahead, gzip is decompressed
// on a goroutine of its own.
func readEvents(ctx context.Context, path string, ahead bool, maxBytes int, p *event.Parser, fn func(*event.Event)) (msgs []inputMsg) {
	rc, err := record.OpenContext(ctx, path, nil)
	if err != nil {
		return []inputMsg{{err: err}}
	}
	if ahead {
		var ok bool
		if rc, ok = record.DecompressAhead(rc); ok {
			decompressedAhead.Add(1)
		}
	}
	defer rc.Close()
	err = record.ForEach(rc, maxBytes, func(rec record.Record) error {
		if m := readEvent(path, p, rec, fn); m != nil {
			msgs = append(msgs, *m)
		}
		return nil
	}, func(e *record.PosError) {
		msgs = append(msgs, inputMsg{path: path, pe: e})
	})
	if err != nil && !errors.Is(err, ctx.Err()) {
		msgs = append(msgs, inputMsg{path: path, err: err})
	}
	return msgs
}

// readEvent parses one record (its members when first read: most are
// never parsed) and calls fn with it when it is a CloudTrail
// (or ECS) event; it returns the error of a record that is no event.
func readEvent(path string, p *event.Parser, rec record.Record, fn func(*event.Event)) *inputMsg {
	ev, err := p.ParseRecord(rec)
	if err != nil {
		return &inputMsg{path: path, line: rec.Line, err: err}
	}
	if ev.Kind == event.KindCloudTrail || ev.Kind == event.KindECS {
		ev.File, ev.Line, ev.Offset = path, rec.Line, rec.Offset
		fn(ev)
	}
	return nil
}

// readRange reads part pt, a range of a file read by ranges, as
// readEvents reads an input: speculatively from its first line while the
// range before it is read (unless its start is known already), then, once
// that says where its records start, keeping what it read or reading it
// again from there (record.Ranges).
// Its events carry the lines of the speculative scan: what a query keeps
// of an event does not hold its line.
func readRange(ctx context.Context, pt queryPart, maxBytes int, p *event.Parser, open func(int) (func(*event.Event), func())) []inputMsg {
	rr, k := pt.rr, pt.k
	next := record.RangeStart{Stop: true} // unless told otherwise below
	defer func() {
		rr.Tell(k+1, next)
		if pt.left.Add(-1) == 0 {
			rr.Close()
		}
	}()
	from, to, err := rr.Bounds(k)
	var (
		msgs []inputMsg
		done func()
	)
	scan := func(at record.Place, speculative bool) record.RangeScan {
		visit, d := open(pt.seq)
		msgs, done = nil, d
		return rr.Scan(ctx, at, to, speculative, maxBytes, func(rec record.Record) bool {
			if m := readEvent(pt.path, p, rec, visit); m != nil {
				msgs = append(msgs, *m)
			}
			return true
		}, func(pe *record.PosError) { msgs = append(msgs, inputMsg{path: pt.path, pe: pe}) })
	}
	var s record.RangeScan
	guessed := err == nil && ctx.Err() == nil && k > 0 && from < to && !rr.Known(k)
	if guessed {
		s = scan(rr.Guess(from), true)
	}
	st := rr.Wait(k)
	if st.Stop || err != nil || ctx.Err() != nil {
		_, done := open(pt.seq) // nothing of it counts
		done()
		if err != nil && !st.Stop {
			return []inputMsg{{path: pt.path, err: err}}
		}
		return nil
	}
	delta := 0
	if guessed && s.Confirmed(st.At) {
		delta = st.At.Line - s.First.Line
	} else {
		s = scan(st.At, false)
	}
	if s.ReadErr == nil || !errors.Is(s.ReadErr, ctx.Err()) {
		next = record.RangeStart{At: s.End, Stop: s.ReadErr != nil}
		next.At.Line += delta
	}
	rr.Tell(k+1, next)
	rangesRead.Add(1)
	for i := range msgs {
		msgs[i].shift(delta)
	}
	if s.ReadErr != nil && !errors.Is(s.ReadErr, ctx.Err()) {
		msgs = append(msgs, inputMsg{path: pt.path, err: fmt.Errorf("after %d bytes: %w", s.End.Offset, s.ReadErr)})
	}
	done()
	return msgs
}

// inOrder hands per-input results to take in input order, as inputs finish
// in any order, keeping only those that wait for an earlier one.
type inOrder[T any] struct {
	mu    sync.Mutex
	ready map[int]T
	next  int
	take  func(T)
}

func (o *inOrder[T]) done(i int, v T) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ready[i] = v
	for {
		v, ok := o.ready[o.next]
		if !ok {
			return
		}
		delete(o.ready, o.next)
		o.next++
		o.take(v)
	}
}

func runESQL(ctx context.Context, q string, paths []string, maxBytes, workers int, en enrichment, stderr io.Writer) (esql.Table, error) {
	pq, err := esql.Parse(q)
	if err != nil {
		return esql.Table{}, &exitError{exitErrors, fmt.Errorf("ES|QL %w", err)}
	}
	prog, err := esql.Compile(pq)
	if err != nil {
		return esql.Table{}, &exitError{exitErrors, err}
	}
	if err := checkEnrichment(prog.DecisionFields(), en.geo); err != nil {
		return esql.Table{}, err
	}
	// Each input aggregates on its own (or collects its rows); the results
	// join in input order, so the output does not depend on the workers.
	type result struct {
		part *esql.Partial
		rows []esql.Row
	}
	partial := prog.Partials()
	all := result{part: prog.NewPartial()}
	order := &inOrder[*result]{ready: map[int]*result{}, take: func(r *result) {
		if partial {
			prog.Merge(all.part, r.part)
		} else {
			all.rows = append(all.rows, r.rows...)
		}
	}}
	inErr := eachEvent(ctx, paths, maxBytes, workers, en, stderr, func(i int) (func(*event.Event), func()) {
		r := &result{}
		if partial {
			r.part = prog.NewPartial()
		}
		return func(ev *event.Event) {
			t := ev.Time()
			prog.Head(ev, t, func(row esql.Row) {
				if partial {
					prog.Accumulate(r.part, row, t.UnixNano())
				} else {
					r.rows = append(r.rows, row)
				}
			})
		}, func() { order.done(i, r) }
	})
	if partial {
		return prog.TailPartials([]*esql.Partial{all.part}, time.Now().UTC()), inErr
	}
	return prog.Tail(all.rows, time.Now().UTC()), inErr
}

func runFilter(ctx context.Context, lang, q string, paths, columns []string, maxBytes, workers int, en enrichment, stderr io.Writer) (esql.Table, error) {
	var cond rule.Cond
	switch lang {
	case "kql":
		n, err := kql.Parse(q)
		if err != nil {
			return esql.Table{}, &exitError{exitErrors, fmt.Errorf("KQL %w", err)}
		}
		if cond, err = elastic.Lower(n); err != nil {
			return esql.Table{}, &exitError{exitErrors, err}
		}
	default:
		pq, err := eql.Parse(q)
		if err != nil {
			return esql.Table{}, &exitError{exitErrors, fmt.Errorf("EQL %w", err)}
		}
		if pq.Sequence != nil {
			return esql.Table{}, &exitError{exitErrors, fmt.Errorf("EQL sequences run as rules: put the query in a rule file and use trailhound hunt --rules")}
		}
		if cond, err = eql.Lower(pq.Category, pq.Where, "event.category"); err != nil {
			return esql.Table{}, &exitError{exitErrors, err}
		}
	}
	m, err := engine.CompileCond(rule.Simplify(cond))
	if err != nil {
		return esql.Table{}, &exitError{exitErrors, err}
	}
	if err := checkEnrichment(rule.Fields(cond), en.geo); err != nil {
		return esql.Table{}, err
	}
	t := esql.Table{Columns: columns}
	order := &inOrder[[][]esql.Value]{ready: map[int][][]esql.Value{}, take: func(rows [][]esql.Value) { t.Rows = append(t.Rows, rows...) }}
	inErr := eachEvent(ctx, paths, maxBytes, workers, en, stderr, func(i int) (func(*event.Event), func()) {
		s := engine.NewScratch()
		var rows [][]esql.Value
		return func(ev *event.Event) {
			if !m(ev, s) {
				return
			}
			row := make([]esql.Value, len(columns))
			for k, c := range columns {
				if v := event.Lookup(ev, c); v != nil {
					row[k] = v
				}
			}
			rows = append(rows, row)
		}, func() { order.done(i, rows) }
	})
	return t, inErr
}

func cell(v esql.Value) string {
	switch x := esql.JSON(v).(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ", ")
	default:
		b, _ := json.Marshal(x)
		return strings.Trim(string(b), `"`)
	}
}

func printTable(w io.Writer, t esql.Table, format string) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(raw(w))
		for _, r := range t.Rows {
			obj := map[string]any{}
			for i, c := range t.Columns {
				obj[c] = esql.JSON(r[i])
			}
			if err := enc.Encode(obj); err != nil {
				return err
			}
		}
	case "csv":
		cw := csv.NewWriter(raw(w))
		cw.Write(t.Columns)
		for _, r := range t.Rows {
			rec := make([]string, len(r))
			for i, v := range r {
				rec[i] = cell(v)
			}
			cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	case "table":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Columns, "\t"))
		for _, r := range t.Rows {
			cells := make([]string, len(r))
			for i, v := range r {
				cells[i] = strings.ReplaceAll(termtext.String(cell(v)), "\t", " ")
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "(%d rows)\n", len(t.Rows))
	default:
		return &exitError{exitBadUsage, fmt.Errorf("--format must be table, jsonl or csv, not %q", format)}
	}
	return nil
}
