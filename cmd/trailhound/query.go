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
	cmd.Flags().IntVarP(&workers, "workers", "w", runtime.GOMAXPROCS(0), "files read in parallel")
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

// eachEvent reads the CloudTrail (or ECS) events of paths, workers inputs
// at a time. For input i, open(i) returns the function that gets its events
// and the one called when it is finished; both run on the goroutine reading
// it (inputs are read concurrently). Input errors are reported on stderr, in
// input order.
func eachEvent(ctx context.Context, paths []string, maxBytes, workers int, en enrichment, stderr io.Writer,
	open func(i int) (visit func(*event.Event), done func())) error {
	w := record.Walk(paths)
	bad := len(w.Errors)
	for _, err := range w.Errors {
		fmt.Fprintf(stderr, "trailhound: %v\n", err)
	}
	msgs := make([][]inputMsg, len(w.Inputs)) // input errors and warnings, per input
	inputs := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(workers, len(w.Inputs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := event.Parser{GeoIP: en.geo, NoEntityMapping: en.noEntityMapping}
			for i := range inputs {
				visit, done := open(i)
				msgs[i] = readEvents(ctx, w.Inputs[i].Path, maxBytes, &p, visit)
				done()
			}
		}()
	}
	for i := range w.Inputs {
		if ctx.Err() != nil {
			break
		}
		inputs <- i
	}
	close(inputs)
	wg.Wait()
	for _, m := range msgs {
		for _, msg := range m {
			if msg.warning {
				fmt.Fprintln(stderr, "trailhound: warning: "+msg.text)
				continue
			}
			bad++
			fmt.Fprintln(stderr, "trailhound: "+msg.text)
		}
	}
	if bad > 0 {
		return &exitError{exitErrors, fmt.Errorf("%d input error(s); the rest was read", bad)}
	}
	return nil
}

// inputMsg is an input error, or a warning (the record was still read).
type inputMsg struct {
	text    string
	warning bool
}

// readEvents calls fn with every CloudTrail (or ECS) event of one input and
// returns its input errors and warnings.
func readEvents(ctx context.Context, path string, maxBytes int, p *event.Parser, fn func(*event.Event)) (msgs []inputMsg) {
	add := func(warning bool, format string, args ...any) {
		msgs = append(msgs, inputMsg{fmt.Sprintf(format, args...), warning})
	}
	rc, err := record.OpenContext(ctx, path, nil)
	if err != nil {
		add(false, "%v", err)
		return msgs
	}
	defer rc.Close()
	err = record.ForEach(rc, maxBytes, func(rec record.Record) error {
		ev, err := p.Parse(rec.Data)
		if err != nil {
			add(false, "%s:%d: %v", path, rec.Line, err)
			return nil
		}
		if ev.Kind == event.KindCloudTrail || ev.Kind == event.KindECS {
			ev.File, ev.Line, ev.Offset = path, rec.Line, rec.Offset
			fn(ev)
		}
		return nil
	}, func(e *record.PosError) {
		add(e.Warning, "%s: %v", path, e)
	})
	if err != nil && !errors.Is(err, ctx.Err()) {
		add(false, "%s: %v", path, err)
	}
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
