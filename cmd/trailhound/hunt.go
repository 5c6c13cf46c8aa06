package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/builtin"
	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/hunt"
	"github.com/trailhound/trailhound/memtune"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/serve"
	"github.com/trailhound/trailhound/sigma"
	"github.com/trailhound/trailhound/state"
)

// loadRules loads rules (Elastic, Sigma, Panther) from paths, or the
// built-in rules when none are given. placeholders are NAME=V1,V2 values for
// Sigma's %NAME% placeholders.
func loadRules(paths, placeholders []string) ([]*rule.Rule, []error, error) {
	return loadRulesWith(paths, placeholders, catalog.Options{})
}

// loadRunRules is loadRules for commands that run rules over logs (hunt,
// serve): without the rules' unit tests, which they do not run (a Tests
// block is neither parsed nor checked).
func loadRunRules(paths, placeholders []string) ([]*rule.Rule, []error, error) {
	return loadRulesWith(paths, placeholders, catalog.Options{NoTests: true})
}

func loadRulesWith(paths, placeholders []string, opts catalog.Options) ([]*rule.Rule, []error, error) {
	if len(paths) == 0 {
		rs, err := builtin.Rules()
		return rs, nil, err
	}
	opts.Sigma = sigma.Options{Placeholders: map[string][]string{}}
	for _, p := range placeholders {
		name, vals, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, nil, &exitError{exitBadUsage, fmt.Errorf("--placeholder %q: want NAME=VALUE[,VALUE...]", p)}
		}
		opts.Sigma.Placeholders[name] = append(opts.Sigma.Placeholders[name], strings.Split(vals, ",")...)
	}
	rs, errs := catalog.Load(paths, opts)
	for _, err := range errs {
		if errors.Is(err, catalog.ErrNoRules) {
			return nil, nil, &exitError{exitErrors, err}
		}
	}
	return rs, errs, nil
}

// placeholderFlag adds --placeholder to a command that loads rules.
func placeholderFlag(cmd *cobra.Command) *[]string {
	var p []string
	cmd.Flags().StringArrayVar(&p, "placeholder", nil, "values for a Sigma %NAME% placeholder: NAME=VALUE[,VALUE...] (repeatable)")
	return &p
}

// isTerminal reports whether w is a terminal (isTTY): output sent to
// /dev/null or another character device is JSON Lines, as to a file (a
// hunt timed with > /dev/null measured the table's writing).
func isTerminal(w io.Writer) bool {
	f, ok := raw(w).(*os.File)
	return ok && isTTY(f)
}

func newHunt() *cobra.Command {
	var (
		rulePaths    []string
		format       string
		workers      int
		maxRecord    string
		failOnAlert  bool
		quiet        bool
		verbose      bool
		statePath    string
		stateReset   bool
		lateness     time.Duration
		checkpoint   time.Duration
		profile      bool
		from, to     string
		exceptions   []string
		placeholders *[]string
		geo          *geoFlags
		pyf          *pyFlags
		s3Endpoint   string
	)
	cmd := &cobra.Command{
		Use:   "hunt [flags] PATH|s3://BUCKET[/PREFIX]...",
		Short: "Run rules over CloudTrail files, folders, .gz archives, stdin (-) or S3",
		Long: `Run rules over CloudTrail logs: S3 delivery files ({"Records":[...]}), JSON arrays,
JSON Lines and Elasticsearch (ECS) exports, plain or gzip-compressed, in files,
folders (recursively, following symbolic links; hidden files and folders are
skipped and counted), on standard input ("-"), or in S3 where CloudTrail
delivers them (s3://bucket[/trail-prefix], with --from: only the day folders
of --from..--to are listed, in every account and region). Without --rules the built-in
rules run. Alerts go to stdout (a table on a terminal, JSON Lines otherwise) as
the hunt reads: inputs are read in event-time order where CloudTrail file names
tell it, and each alert is written once a watermark (the inputs' lowest time to
come, less --lateness) decides it. The summary, and progress on a terminal, go
to stderr.

Exit status: 0 clean (warnings may have been printed); 1 alerts found with
--fail-on-alert (whatever else happened); 2 input, rule or state errors (the
rest was still processed); 3 usage errors; 130 interrupted (SIGINT/SIGTERM:
the alerts found so far are written, the state is not committed).`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			ctx := cmd.Context()
			maxBytes, err := parseSize(maxRecord)
			if err != nil {
				return usageError(fmt.Errorf("--max-record-size: %w", err))
			}
			switch format {
			case "":
				format = "jsonl"
				if isTerminal(out) {
					format = "table"
				}
			case "json", "ndjson":
				format = "jsonl"
			case "table", "jsonl":
			default:
				return usageError(fmt.Errorf("--format must be table or jsonl (json and ndjson mean jsonl), not %q", format))
			}
			if workers < 0 {
				return usageError(fmt.Errorf("--workers must be 0 (one per CPU) or more, not %d", workers))
			}
			paths, urls, err := splitURLs(args)
			if err != nil {
				return err
			}
			if lateness <= 0 {
				return usageError(fmt.Errorf("--lateness must be positive, not %s", lateness))
			}
			if checkpoint < 0 {
				return usageError(fmt.Errorf("--checkpoint must be 0 (only at the end) or positive, not %s", checkpoint))
			}
			opts := hunt.Options{Paths: paths, Workers: workers, MaxRecord: maxBytes, Lateness: lateness, ProfileRules: profile, Checkpoint: checkpoint}
			if opts.From, err = parseTime(from); err != nil {
				return usageError(fmt.Errorf("--from: %w", err))
			}
			if opts.To, err = parseTime(to); err != nil {
				return usageError(fmt.Errorf("--to: %w", err))
			}
			if !opts.From.IsZero() && !opts.To.IsZero() && !opts.From.Before(opts.To) {
				return usageError(fmt.Errorf("--from %s is not before --to %s", from, to))
			}
			if len(urls) > 0 {
				if opts.Inputs, err = s3Inputs(ctx, urls, s3Endpoint, opts.From, opts.To, errw, quiet); err != nil {
					return err
				}
				if workers == 0 { // objects are read over the network: more at once than cores
					opts.Workers = max(8, 4*runtime.GOMAXPROCS(0))
				}
			}
			defer memtune.StartHunt()()
			rules, ruleErrs, err := loadRunRules(rulePaths, *placeholders)
			if err != nil {
				return err
			}
			ruleWarnings := rule.MarkDuplicateIDs(rules)
			if opts.GeoIP, err = geo.open(); err != nil {
				return err
			}
			if opts.GeoIP != nil {
				defer opts.GeoIP.Close()
			}
			requireEnrichment(rules, opts.GeoIP)
			opts.NoEntityMapping = geo.noEntityMapping
			py, err := pyf.attach(ctx, rules, workers, false, errw)
			if err != nil {
				return err
			}
			defer py.Close()
			eng, err := engine.Compile(rules)
			if err != nil {
				return &exitError{exitErrors, err}
			}
			for _, path := range exceptions {
				conds, err := elastic.LoadExceptions(path)
				if err != nil {
					return &exitError{exitErrors, fmt.Errorf("--exceptions: %w", err)}
				}
				if err := eng.AddExceptions(conds); err != nil {
					return &exitError{exitErrors, fmt.Errorf("--exceptions %s: %w", path, err)}
				}
			}
			if statePath == "auto" {
				statePath = state.DefaultPath()
			}
			if stateReset && statePath == "" {
				return usageError(errors.New("--state-reset needs --state"))
			}
			if stateReset && state.IsRedisURL(statePath) {
				return usageError(errors.New("--state-reset moves a state file aside; a Redis state is emptied by deleting its keys (redis-cli --scan --pattern 'trailhound:*' | xargs redis-cli del)"))
			}
			if statePath != "" {
				if stateReset {
					aside, err := state.Reset(statePath, time.Now())
					if err != nil {
						return &exitError{exitErrors, err}
					}
					if aside != "" {
						fmt.Fprintf(errw, "state: moved %s aside to %s; starting empty\n", statePath, aside)
					}
				}
				st, err := openState(cmd.Context(), statePath)
				if err != nil {
					return stateOpenError(err)
				}
				defer st.Close()
				opts.Store = st
			}
			// Alerts are written as the hunt decides them, a batch at a
			// time (the progress line is cleared for them).
			stopProgress, around := func() {}, func(fn func()) { fn() }
			if !quiet && isTerminal(errw) {
				opts.Progress = &hunt.Progress{}
				stopProgress, around = showProgress(raw(errw), opts.Progress)
				defer stopProgress()
			}
			var table *alert.TableWriter
			if format == "table" {
				table = alert.NewTableWriter(out)
			}
			written := 0
			opts.Emit = func(as []alert.Alert) (err error) {
				around(func() {
					if table != nil {
						err = table.Write(as)
					} else {
						err = alert.WriteJSONL(raw(out), as)
					}
				})
				written += len(as)
				return err
			}
			opts.Flush = func() error {
				if f, ok := raw(out).(*os.File); ok {
					f.Sync() // not all outputs can sync (pipes, terminals): written is delivered there
				}
				return nil
			}
			if py != nil { // a batch's events go to Python in one call
				opts.Prepare = py.Prepare
			}
			if opts.Store != nil {
				if err := py.LoadCache(opts.Store); err != nil {
					return &exitError{exitErrors, stateError(err)}
				}
				if py != nil { // the KV cache is saved with the rules' state
					opts.Commit = func() error { return py.SaveCache(opts.Store) }
				}
			}
			res, err := hunt.Run(ctx, eng, opts)
			stopProgress() // the line is cleared before anything else is written
			if err != nil && !errors.Is(err, ctx.Err()) {
				return &exitError{exitErrors, err}
			}
			if res == nil {
				return &exitError{exitInterrupted, errors.New("interrupted")}
			}
			sum := res.Summary
			if f, ok := raw(out).(*os.File); ok {
				f.Sync() // delivered before the state says so (not all outputs can sync)
			}
			if ctx.Err() == nil {
				if err := res.Commit(); err != nil {
					return &exitError{exitErrors, err}
				}
			}
			if !quiet {
				writeSummary(errw, rules, ruleErrs, ruleWarnings, eng, sum, verbose)
			}
			if profile {
				writeProfile(errw, sum.Profile, verbose)
			}
			pyOut := errw
			if quiet {
				pyOut = io.Discard
			}
			pyErrs := writePythonErrors(pyOut, py, verbose)
			switch {
			case ctx.Err() != nil:
				return &exitError{exitInterrupted, errors.New("interrupted: the alerts found so far were written; the state was not saved")}
			case failOnAlert && written > 0:
				return &exitError{exitAlerts, nil}
			case sum.ErrorCount > 0 || len(ruleErrs) > 0:
				return &exitError{exitErrors, fmt.Errorf("%d input error(s), %d rule file error(s)", sum.ErrorCount, len(ruleErrs))}
			case pyErrs > 0:
				return &exitError{exitErrors, fmt.Errorf("%d Python rule error(s)", pyErrs)}
			}
			return nil
		},
	}
	placeholders = placeholderFlag(cmd)
	f := cmd.Flags()
	f.StringSliceVarP(&rulePaths, "rules", "r", nil, "rule files or folders (repeatable; default: the built-in rules)")
	f.StringVarP(&format, "format", "f", "", "output: table or jsonl (default: table on a terminal, jsonl otherwise)")
	f.IntVarP(&workers, "workers", "w", 0, "records parsed and matched in parallel, in batches of any file (default 0: one per CPU)")
	f.StringVar(&maxRecord, "max-record-size", "16MB", "largest record accepted; larger ones are reported and skipped")
	f.BoolVar(&failOnAlert, "fail-on-alert", false, "exit 1 when any alert was raised")
	f.BoolVarP(&quiet, "quiet", "q", false, "no summary or progress on stderr")
	f.DurationVar(&lateness, "lateness", hunt.DefaultLateness, "how much older than the watermark a record may be and still be on time (records of files named like CloudTrail's are read in time order)")
	f.BoolVar(&profile, "profile-rules", false, "time every rule's evaluation and print the most costly (all with -v) after the summary")
	f.BoolVarP(&verbose, "verbose", "v", false, "list every rule that does not run, not only the count per reason")
	f.StringVar(&statePath, "state", "", "keep rule state (new terms, thresholds, suppression, raised alerts) in this file across hunts ('auto' means "+state.DefaultPath()+"), or in Redis: redis://[user:password@]host:port/db")
	f.DurationVar(&checkpoint, "checkpoint", 10*time.Second, "with --state, commit the state this often while the hunt runs, after the alerts so far are written (0: only at the end); a killed hunt rerun loses and doubles nothing")
	f.BoolVar(&stateReset, "state-reset", false, "start the --state file over: the old file is moved aside to FILE.reset-<UTC time> (not deleted)")
	f.StringSliceVar(&exceptions, "exceptions", nil, "Kibana exception-list export (NDJSON); items apply to the rules whose exceptions_list names their list (repeatable)")
	f.StringVar(&from, "from", "", "only events at or after this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&to, "to", "", "only events before this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&s3Endpoint, "s3-endpoint", "", "URL of an S3-compatible store for s3:// inputs (path-style; default: AWS, or $AWS_ENDPOINT_URL_S3)")
	geo = addGeoFlags(f)
	pyf = addPyFlags(f)
	return cmd
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q (want RFC 3339 or YYYY-MM-DD)", s)
}

// parseSize parses sizes like 16MB, 512KB, 1GB or a byte count.
func parseSize(s string) (int, error) {
	n, err := serve.ParseBytes(s)
	if err != nil || n > math.MaxInt {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int(n), nil
}

func writeSummary(w io.Writer, rules []*rule.Rule, ruleErrs []error, ruleWarnings []string, eng *engine.Engine, sum hunt.Summary, verbose bool) {
	fmt.Fprintln(w, "── summary ──")
	secs := sum.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(sum.BytesRead) / secs
	}
	fmt.Fprintf(w, "files: %d (%s on disk, %s read)   records: %d   elapsed: %s   %s/s   %.0f records/s\n",
		sum.Files, humanBytes(sum.BytesOnDisk), humanBytes(sum.BytesRead), sum.Records, sum.Elapsed.Round(1e6), humanBytes(int64(rate)), float64(sum.Records)/max(secs, 1e-9))
	if sum.Digests+int(sum.DigestRecords) > 0 {
		fmt.Fprintf(w, "CloudTrail digest files skipped: %d (+%d digest documents inside other files)\n", sum.Digests, sum.DigestRecords)
	}
	if sum.NonCloudTrail > 0 {
		fmt.Fprintf(w, "JSON documents that are not CloudTrail events (skipped): %d\n", sum.NonCloudTrail)
	}
	writeSkipped(w, sum.Skipped, verbose)
	var run, notRun []*rule.Rule
	for _, r := range rules {
		if r.Runnable() {
			run = append(run, r)
		} else {
			notRun = append(notRun, r)
		}
	}
	fmt.Fprintf(w, "rules: %d loaded, %d run, %d not run\n", len(rules), len(run), len(notRun))
	total := 0
	type row struct {
		name string
		n    int
	}
	var rows []row
	for _, r := range run {
		if n := sum.Alerts[r.Key()]; n > 0 {
			rows = append(rows, row{r.Name, n})
			total += n
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].n > rows[j].n || (rows[i].n == rows[j].n && rows[i].name < rows[j].name)
	})
	fmt.Fprintf(w, "alerts: %d", total)
	for _, x := range []struct {
		n    int
		what string
	}{{sum.Withheld, "withheld by max_signals"}, {sum.Suppressed, "suppressed"}, {sum.Known, "raised by an earlier hunt (state)"},
		{sum.Duplicates, "matches of an event already seen (same eventID delivered twice)"}, {sum.Signals, "signals (rules with CreateAlert: false)"},
		{sum.NoTime, "matches skipped for want of event time (stateful rules)"},
		{sum.Late, "late matches (older than the watermark by more than --lateness; used where their window was still open)"}} {
		if x.n > 0 {
			fmt.Fprintf(w, ", %d %s", x.n, x.what)
		}
	}
	fmt.Fprintln(w)
	if sum.Unordered > 0 {
		fmt.Fprintf(w, "  %d input(s) out of time order by more than --lateness: decided when each ended (memory follows such a file's size)\n", sum.Unordered)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %5d  %s\n", r.n, r.name)
	}
	for _, r := range run {
		if rs := sum.Rules[r.Key()]; rs.Withheld > 0 {
			fmt.Fprintf(w, "  max_signals (%d per run) withheld %d alerts of %s\n", r.Schedule.MaxSignals, rs.Withheld, r.Name)
		}
	}
	writeNotRun(w, notRun, verbose)
	for _, err := range ruleErrs {
		fmt.Fprintln(w, "rule error:", err)
	}
	for _, warn := range ruleWarnings {
		fmt.Fprintln(w, "rule warning:", warn)
	}
	if sum.ErrorCount > 0 {
		fmt.Fprintf(w, "input errors: %d\n", sum.ErrorCount)
		for _, e := range sum.Errors {
			fmt.Fprintln(w, "  "+e.Error())
		}
		if sum.ErrorCount > len(sum.Errors) {
			fmt.Fprintf(w, "  ... and %d more\n", sum.ErrorCount-len(sum.Errors))
		}
	}
	if sum.WarningCount > 0 {
		fmt.Fprintf(w, "input warnings (the records were still read): %d\n", sum.WarningCount)
		for _, e := range sum.Warnings {
			fmt.Fprintln(w, "  warning: "+e.Error())
		}
		if sum.WarningCount > len(sum.Warnings) {
			fmt.Fprintf(w, "  ... and %d more\n", sum.WarningCount-len(sum.Warnings))
		}
	}
}

// writeNotRun lists the rules that do not run: every rule with verbose,
// else a count per reason.
func writeNotRun(w io.Writer, notRun []*rule.Rule, verbose bool) {
	if len(notRun) == 0 {
		return
	}
	if verbose {
		fmt.Fprintln(w, "rules not run:")
		for _, r := range notRun {
			fmt.Fprintf(w, "  %s  %s: %s\n", r.ID, r.Name, r.Unsupported)
		}
		return
	}
	fmt.Fprintln(w, "rules not run, by reason (-v or 'trailhound rules list' names them):")
	for _, g := range countBy(notRun, func(r *rule.Rule) string { return r.Unsupported }) {
		fmt.Fprintf(w, "  %5d  %s\n", g.n, g.key)
	}
}

// writeSkipped reports the paths a walk passed over, per reason (with
// verbose, every path).
func writeSkipped(w io.Writer, skipped []record.Skip, verbose bool) {
	for _, g := range countBy(skipped, func(s record.Skip) string { return s.Reason }) {
		fmt.Fprintf(w, "not read, %s: %d, e.g. %s\n", g.key, g.n, g.first.Path)
	}
	if verbose {
		for _, s := range skipped {
			fmt.Fprintf(w, "  not read: %s (%s)\n", s.Path, s.Reason)
		}
	}
}

// group is a count of items sharing a key, with the first of them.
type group[T any] struct {
	key   string
	n     int
	first T
}

// countBy counts items per key, most frequent first, then by key.
func countBy[T any](items []T, key func(T) string) []group[T] {
	idx := map[string]int{}
	var gs []group[T]
	for _, it := range items {
		k := key(it)
		if i, ok := idx[k]; ok {
			gs[i].n++
			continue
		}
		idx[k] = len(gs)
		gs = append(gs, group[T]{key: k, n: 1, first: it})
	}
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].n > gs[j].n || (gs[i].n == gs[j].n && gs[i].key < gs[j].key) })
	return gs
}

// writeProfile prints what each rule cost, most costly first: the 25 first,
// or all with verbose.
func writeProfile(w io.Writer, prof []engine.RuleProfile, verbose bool) {
	var total time.Duration
	for _, p := range prof {
		total += p.Time
	}
	fmt.Fprintf(w, "── rule profile (evaluation and match handling: %s in all) ──\n", total.Round(time.Millisecond))
	fmt.Fprintf(w, "%8s  %6s  %12s  %9s  %-10s  %s\n", "TIME", "SHARE", "EVALUATED", "MATCHED", "TYPE", "RULE")
	for i, p := range prof {
		if i == 25 && !verbose {
			fmt.Fprintf(w, "  ... %d more rules (-v lists them)\n", len(prof)-i)
			break
		}
		share := 0.0
		if total > 0 {
			share = 100 * float64(p.Time) / float64(total)
		}
		fmt.Fprintf(w, "%8s  %5.1f%%  %12d  %9d  %-10s  %s (%s)\n", p.Time.Round(time.Millisecond), share, p.Evals, p.Matches, p.Rule.Type, p.Rule.Name, p.Rule.Format)
	}
}
