package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/sigma"
	"github.com/trailhound/trailhound/state"
)

// loadRules loads rules (Elastic, Sigma, Panther) from paths, or the
// built-in rules when none are given. placeholders are NAME=V1,V2 values for
// Sigma's %NAME% placeholders.
func loadRules(paths, placeholders []string) ([]*rule.Rule, []error, error) {
	if len(paths) == 0 {
		rs, err := builtin.Rules()
		return rs, nil, err
	}
	opts := catalog.Options{Sigma: sigma.Options{Placeholders: map[string][]string{}}}
	for _, p := range placeholders {
		name, vals, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, nil, &exitError{exitUsage, fmt.Errorf("--placeholder %q: want NAME=VALUE[,VALUE...]", p)}
		}
		opts.Sigma.Placeholders[name] = append(opts.Sigma.Placeholders[name], strings.Split(vals, ",")...)
	}
	rs, errs := catalog.Load(paths, opts)
	return rs, errs, nil
}

// placeholderFlag adds --placeholder to a command that loads rules.
func placeholderFlag(cmd *cobra.Command) *[]string {
	var p []string
	cmd.Flags().StringArrayVar(&p, "placeholder", nil, "values for a Sigma %NAME% placeholder: NAME=VALUE[,VALUE...] (repeatable)")
	return &p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newHunt() *cobra.Command {
	var (
		rulePaths    []string
		format       string
		workers      int
		maxRecord    string
		failOnAlert  bool
		quiet        bool
		statePath    string
		from, to     string
		exceptions   []string
		placeholders *[]string
	)
	cmd := &cobra.Command{
		Use:   "hunt [flags] PATH...",
		Short: "Run rules over CloudTrail files, folders, .gz archives or stdin (-)",
		Long: `Run rules over CloudTrail logs: S3 delivery files ({"Records":[...]}), JSON arrays,
JSON Lines and Elasticsearch (ECS) exports, plain or gzip-compressed, in files,
folders (recursively) or on standard input ("-"). Without --rules the built-in
rules run. Alerts go to stdout (a table on a terminal, JSON Lines otherwise);
the summary goes to stderr.

Exit status: 0 when the hunt completed cleanly, 2 on usage errors or when any
input or rule file could not be read (the rest is still processed), 1 when
--fail-on-alert is set and alerts were found.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			maxBytes, err := parseSize(maxRecord)
			if err != nil {
				return &exitError{exitUsage, fmt.Errorf("--max-record-size: %w", err)}
			}
			if format == "" {
				format = "jsonl"
				if isTerminal(out) {
					format = "table"
				}
			}
			if format != "table" && format != "jsonl" {
				return &exitError{exitUsage, fmt.Errorf("--format must be table or jsonl, not %q", format)}
			}
			rules, ruleErrs, err := loadRules(rulePaths, *placeholders)
			if err != nil {
				return err
			}
			eng, err := engine.Compile(rules)
			if err != nil {
				return err
			}
			for _, path := range exceptions {
				conds, err := elastic.LoadExceptions(path)
				if err != nil {
					return &exitError{exitUsage, fmt.Errorf("--exceptions: %w", err)}
				}
				if err := eng.AddExceptions(conds); err != nil {
					return &exitError{exitUsage, fmt.Errorf("--exceptions %s: %w", path, err)}
				}
			}
			opts := hunt.Options{Paths: args, Workers: workers, MaxRecord: maxBytes}
			if opts.From, err = parseTime(from); err != nil {
				return &exitError{exitUsage, fmt.Errorf("--from: %w", err)}
			}
			if opts.To, err = parseTime(to); err != nil {
				return &exitError{exitUsage, fmt.Errorf("--to: %w", err)}
			}
			if statePath == "auto" {
				statePath = state.DefaultPath()
			}
			if statePath != "" {
				st, err := state.OpenBolt(statePath)
				if err != nil {
					return &exitError{exitUsage, err}
				}
				defer st.Close()
				opts.Store = st
			}
			res, err := hunt.Run(cmd.Context(), eng, opts)
			if err != nil && !errors.Is(err, cmd.Context().Err()) {
				return &exitError{exitUsage, err}
			}
			if res == nil {
				return &exitError{exitUsage, errors.New("interrupted")}
			}
			alerts, sum := res.Alerts, res.Summary
			switch format {
			case "table":
				if len(alerts) > 0 {
					err = alert.WriteTable(out, alerts)
				}
			default:
				err = alert.WriteJSONL(out, alerts)
			}
			if err != nil {
				return err
			}
			if f, ok := out.(*os.File); ok {
				f.Sync() // delivered before the state says so (not all outputs can sync)
			}
			if cmd.Context().Err() == nil {
				if err := res.Commit(); err != nil {
					return &exitError{exitUsage, err}
				}
			}
			if !quiet {
				writeSummary(errw, rules, ruleErrs, eng, sum)
			}
			switch {
			case cmd.Context().Err() != nil:
				return &exitError{exitUsage, errors.New("interrupted")}
			case sum.ErrorCount > 0 || len(ruleErrs) > 0:
				return &exitError{exitUsage, fmt.Errorf("%d input error(s), %d rule file error(s)", sum.ErrorCount, len(ruleErrs))}
			case failOnAlert && len(alerts) > 0:
				return &exitError{exitAlerts, nil}
			}
			return nil
		},
	}
	placeholders = placeholderFlag(cmd)
	f := cmd.Flags()
	f.StringSliceVarP(&rulePaths, "rules", "r", nil, "rule files or folders (repeatable; default: the built-in rules)")
	f.StringVarP(&format, "format", "f", "", "output: table or jsonl (default: table on a terminal, jsonl otherwise)")
	f.IntVarP(&workers, "workers", "w", 0, "files read in parallel (default: number of CPUs)")
	f.StringVar(&maxRecord, "max-record-size", "16MB", "largest record accepted; larger ones are reported and skipped")
	f.BoolVar(&failOnAlert, "fail-on-alert", false, "exit 1 when any alert was raised")
	f.BoolVarP(&quiet, "quiet", "q", false, "no summary on stderr")
	f.StringVar(&statePath, "state", "", "keep rule state (new terms, thresholds, suppression, raised alerts) in this file across hunts; 'auto' means "+state.DefaultPath())
	f.StringSliceVar(&exceptions, "exceptions", nil, "exception items exported from Kibana (NDJSON), applied to every rule (repeatable)")
	f.StringVar(&from, "from", "", "only events at or after this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&to, "to", "", "only events before this time (RFC 3339 or YYYY-MM-DD)")
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
	mult := 1
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, x := range []struct {
		suf string
		m   int
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(u, x.suf) {
			u, mult = strings.TrimSuffix(u, x.suf), x.m
			break
		}
	}
	var n int
	if _, err := fmt.Sscanf(u, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != u {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

func writeSummary(w io.Writer, rules []*rule.Rule, ruleErrs []error, eng *engine.Engine, sum hunt.Summary) {
	fmt.Fprintln(w, "── summary ──")
	secs := sum.Elapsed.Seconds()
	mbps := 0.0
	if secs > 0 {
		mbps = float64(sum.BytesRead) / 1e6 / secs
	}
	fmt.Fprintf(w, "files: %d (%.1f MB on disk, %.1f MB read)   records: %d   elapsed: %s   %.1f MB/s   %.0f records/s\n",
		sum.Files, float64(sum.BytesOnDisk)/1e6, float64(sum.BytesRead)/1e6, sum.Records, sum.Elapsed.Round(1e6), mbps, float64(sum.Records)/max(secs, 1e-9))
	if sum.Digests+int(sum.DigestRecords) > 0 {
		fmt.Fprintf(w, "CloudTrail digest files skipped: %d (+%d digest documents inside other files)\n", sum.Digests, sum.DigestRecords)
	}
	if sum.NonCloudTrail > 0 {
		fmt.Fprintf(w, "JSON documents that are not CloudTrail events (skipped): %d\n", sum.NonCloudTrail)
	}
	if len(sum.Ignored) > 0 {
		fmt.Fprintf(w, "files in folders not read (not .json/.jsonl/.ndjson/.gz/.log/.cloudtrail): %d, e.g. %s\n", len(sum.Ignored), sum.Ignored[0])
	}
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
		if n := sum.Alerts[r.ID]; n > 0 {
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
	}{{sum.Withheld, "withheld by max_signals"}, {sum.Suppressed, "suppressed"}, {sum.Known, "raised by an earlier hunt (state)"}, {sum.Duplicates, "duplicate records"}, {sum.Signals, "signals (rules with CreateAlert: false)"}} {
		if x.n > 0 {
			fmt.Fprintf(w, ", %d %s", x.n, x.what)
		}
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "  %5d  %s\n", r.n, r.name)
	}
	for _, r := range run {
		if rs := sum.Rules[r.ID]; rs.Withheld > 0 {
			fmt.Fprintf(w, "  max_signals (%d per run) withheld %d alerts of %s\n", r.Schedule.MaxSignals, rs.Withheld, r.Name)
		}
	}
	if len(notRun) > 0 {
		fmt.Fprintln(w, "rules not run:")
		for _, r := range notRun {
			fmt.Fprintf(w, "  %s  %s: %s\n", r.ID, r.Name, r.Unsupported)
		}
	}
	for _, err := range ruleErrs {
		fmt.Fprintln(w, "rule error:", err)
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
