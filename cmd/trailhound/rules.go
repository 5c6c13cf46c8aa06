package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/rule"
)

func newRules() *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "List, check and explain rules"}
	geo := addGeoFlags(cmd.PersistentFlags())
	pyf := addPyFlags(cmd.PersistentFlags())
	var listPaths, checkPaths, explainPaths []string
	var listPH, checkPH, explainPH *[]string
	list := &cobra.Command{
		Use:   "list [PATH...]",
		Short: "List loaded rules with type, severity, risk, tactic and whether they run",
		Long:  "List the rules in PATH files and folders (or --rules; default: the built-in rules).",
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, errs, err := loadRules(append(listPaths, args...), *listPH)
			if err != nil {
				return err
			}
			if err := applyGeo(rules, geo); err != nil {
				return err
			}
			py, err := pyf.attach(cmd.Context(), rules, 1, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer py.Close()
			writeRuleList(cmd.OutOrStdout(), rules)
			return reportRuleErrors(cmd.ErrOrStderr(), errs)
		},
	}
	check := &cobra.Command{
		Use:   "check PATH...",
		Short: "Load rule files and report every error with file, line and column",
		Long:  "Load the rules in PATH files and folders (or --rules) and report every error and warning.",
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := append(checkPaths, args...)
			if len(paths) == 0 {
				return usageError(fmt.Errorf("rules check needs a rule file or folder\nusage: %s", cmd.UseLine()))
			}
			rules, errs, err := loadRules(paths, *checkPH)
			if err != nil {
				return err
			}
			if err := applyGeo(rules, geo); err != nil {
				return err
			}
			py, err := pyf.attach(cmd.Context(), rules, 1, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer py.Close()
			w := cmd.OutOrStdout()
			runnable := 0
			for _, r := range rules {
				for _, warn := range r.Warnings {
					fmt.Fprintf(w, "%s: warning: rule %s: %s\n", r.Path, r.ID, warn)
				}
				if r.Runnable() {
					runnable++
				}
			}
			for _, warn := range rule.MarkDuplicateIDs(rules) {
				fmt.Fprintln(w, "warning:", warn)
			}
			errs = append(errs, py.LoadErrors()...) // Python that does not load
			for _, e := range errs {
				fmt.Fprintln(w, e)
			}
			fmt.Fprintf(w, "%d rules loaded (%d runnable, %d not runnable), %d files with errors\n", len(rules), runnable, len(rules)-runnable, len(errs))
			if len(errs) > 0 {
				return &exitError{exitErrors, nil}
			}
			return nil
		},
	}
	explain := &cobra.Command{
		Use:   "explain ID|NAME|FILE [PATH...]",
		Short: "Print a rule's compiled condition, exclusions, indicators and output fields",
		Long: `Explain the rule named by its id (or a unique prefix of it), its name, or its
rule file, among the rules in PATH (or --rules; default: the built-in rules).`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			want := strings.TrimSpace(args[0])
			if want == "" {
				return usageError(fmt.Errorf("rules explain needs a rule id, name or file, not an empty string\nusage: %s", cmd.UseLine()))
			}
			paths := append(explainPaths, args[1:]...)
			if len(paths) == 0 && isFile(want) {
				paths = []string{want}
			}
			rules, errs, err := loadRules(paths, *explainPH)
			if err != nil {
				return err
			}
			if err := applyGeo(rules, geo); err != nil {
				return err
			}
			found, err := findRule(rules, want)
			if err != nil {
				return &exitError{exitErrors, err}
			}
			py, err := pyf.attach(cmd.Context(), found, 1, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer py.Close()
			for _, r := range found {
				explainRule(cmd.OutOrStdout(), r)
			}
			return reportRuleErrors(cmd.ErrOrStderr(), errs)
		},
	}
	var covPaths []string
	var covFormat, covName string
	var covPH *[]string
	coverage := &cobra.Command{
		Use:   "coverage [PATH...]",
		Short: "Show which ATT&CK tactics and techniques the loaded rules cover",
		Long: `Print, per ATT&CK tactic and technique, the rules that cover it (by format) among the rules in
PATH (or --rules; default: the built-in rules). Only rules that run and raise alerts count: rules
that do not run, and the searches a correlation reads silently, are left out. --format navigator
writes an ATT&CK Navigator layer (JSON; score = number of rules, comment = their names).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if covFormat != "table" && covFormat != "navigator" {
				return usageError(fmt.Errorf("--format %q: want table or navigator", covFormat))
			}
			rules, errs, err := loadRules(append(covPaths, args...), *covPH)
			if err != nil {
				return err
			}
			if err := applyGeo(rules, geo); err != nil {
				return err
			}
			cov := rule.Coverage(rules)
			w := cmd.OutOrStdout()
			if covFormat == "navigator" {
				err = rule.WriteNavigator(raw(w), rule.Navigator(covName, cov))
			} else {
				err = rule.WriteCoverageTable(w, cov)
			}
			if err != nil {
				return err
			}
			return reportRuleErrors(cmd.ErrOrStderr(), errs)
		},
	}
	coverage.Flags().StringSliceVarP(&covPaths, "rules", "r", nil, "rule files or folders (default: the built-in rules)")
	coverage.Flags().StringVarP(&covFormat, "format", "f", "table", "table (Markdown) or navigator (ATT&CK Navigator layer JSON)")
	coverage.Flags().StringVar(&covName, "name", "trailhound coverage", "the Navigator layer's name")
	covPH = placeholderFlag(coverage)
	listPH = placeholderFlag(list)
	checkPH = placeholderFlag(check)
	explainPH = placeholderFlag(explain)
	list.Flags().StringSliceVarP(&listPaths, "rules", "r", nil, "rule files or folders (default: the built-in rules)")
	check.Flags().StringSliceVarP(&checkPaths, "rules", "r", nil, "rule files or folders")
	explain.Flags().StringSliceVarP(&explainPaths, "rules", "r", nil, "rule files or folders (default: the built-in rules)")
	cmd.AddCommand(list, check, explain, coverage)
	return cmd
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// findRule finds the rules that want names: every rule of that id (formats
// may share one) or of that name (case-insensitive), every rule of that rule
// file, else the rules whose id starts with want, when that prefix names one
// id. An ambiguous prefix is an error listing the candidates.
func findRule(rules []*rule.Rule, want string) ([]*rule.Rule, error) {
	var exact, prefix []*rule.Rule
	ids := map[string]bool{}
	abs, _ := filepath.Abs(want)
	for _, r := range rules {
		rp, _ := filepath.Abs(r.Path)
		switch {
		case r.ID == want || strings.EqualFold(r.Name, want) || (r.Path != "" && rp == abs):
			exact = append(exact, r)
		case strings.HasPrefix(r.ID, want):
			prefix = append(prefix, r)
			ids[r.ID] = true
		}
	}
	switch {
	case len(exact) > 0:
		return exact, nil
	case len(ids) == 1:
		return prefix, nil
	case len(ids) > 1:
		var b strings.Builder
		fmt.Fprintf(&b, "%q is the start of %d rule ids; give more of the id:", want, len(ids))
		for _, r := range prefix {
			fmt.Fprintf(&b, "\n  %s  %s", r.ID, r.Name)
		}
		return nil, errors.New(b.String())
	}
	return nil, fmt.Errorf("no rule with id, id prefix, name or file %q", want)
}

func reportRuleErrors(w io.Writer, errs []error) error {
	for _, e := range errs {
		fmt.Fprintln(w, "rule error:", e)
	}
	if len(errs) > 0 {
		return &exitError{exitErrors, fmt.Errorf("%d rule file(s) could not be loaded", len(errs))}
	}
	return nil
}

func tactics(r *rule.Rule) string {
	var t []string
	for _, th := range r.Threat {
		t = append(t, th.Tactic.Name)
	}
	return strings.Join(t, ", ")
}

func writeRuleList(w io.Writer, rules []*rule.Rule) {
	fmt.Fprintf(w, "%-36s  %-16s  %-8s  %4s  %-28s  %s\n", "ID", "TYPE", "SEVERITY", "RISK", "TACTIC", "NAME / STATUS")
	for _, r := range rules {
		status := "runs"
		if r.Script != "" && r.Runnable() {
			status = "runs in Python"
			if strings.Contains(r.Query, "prefilter: none proven") {
				status += ", every event (no prefilter)"
			} else if strings.Contains(r.Query, "prefilter: ") {
				status += ", prefiltered"
			}
		}
		if !r.Runnable() {
			status = "not run: " + r.Unsupported
		}
		typ := r.Type
		if r.BuildingBlock {
			typ += " (bb)"
		}
		fmt.Fprintf(w, "%-36s  %-16s  %-8s  %4d  %-28s  %s [%s]\n", r.ID, typ, r.Severity, r.RiskScore, clip(tactics(r), 28), r.Name, status)
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func explainRule(w io.Writer, r *rule.Rule) {
	fmt.Fprintf(w, "%s\n%s\n", r.Name, strings.Repeat("=", len(r.Name)))
	fmt.Fprintf(w, "id: %s\nfile: %s\ntype: %s (%s)   severity: %s   risk: %d\n", r.ID, r.Path, r.Type, r.Language, r.Severity, r.RiskScore)
	switch {
	case r.Format != "elastic":
		fmt.Fprintln(w, "schedule: every matching record alerts (no per-run cap)")
	default:
		fmt.Fprintf(w, "schedule: every %s over %s, at most %d alerts per run\n", r.Schedule.Interval, r.Schedule.From, r.Schedule.MaxSignals)
	}
	if d := r.Dedup; d != nil {
		by := map[bool]string{true: "GroupBy", false: "title"}[d.Key != nil]
		if r.Script != "" {
			by = "dedup() (without one, the title)"
		}
		fmt.Fprintf(w, "dedup: %s by %s, alert at %d match(es)", d.Period, by, d.Threshold)
		if d.Unique != nil {
			fmt.Fprint(w, " (distinct unique() values)")
		}
		if d.Signal {
			fmt.Fprint(w, ", signal only (CreateAlert: false)")
		}
		fmt.Fprintln(w)
	}
	if c := r.Correlation; c != nil {
		fmt.Fprintf(w, "correlation: %s of [%s] by [%s] within %s", c.Type, strings.Join(c.Rules, ", "), strings.Join(c.GroupBy, ", "), c.Timespan)
		if c.Op != "" {
			fmt.Fprintf(w, ", %s %d", strings.TrimSpace(c.Field+" "+c.Op), c.Value)
		}
		fmt.Fprintf(w, ", generate: %v\n", c.Generate)
		if c.Legacy != "" {
			fmt.Fprintf(w, "  (Sigma 1 aggregation %q, run as this correlation)\n", c.Legacy)
		}
	}
	if nt := r.NewTerms; nt != nil {
		fmt.Fprintf(w, "new terms: %s, history from %s\n", strings.Join(nt.Fields, ", "), nt.HistoryWindowStart)
	}
	if th := r.Threshold; th != nil {
		fmt.Fprintf(w, "threshold: count >= %d by [%s]", th.Value, strings.Join(th.Fields, ", "))
		for _, c := range th.Cardinality {
			fmt.Fprintf(w, ", distinct %s >= %d", c.Field, c.Value)
		}
		fmt.Fprintln(w)
	}
	if s := r.Suppression; s != nil {
		fmt.Fprintf(w, "suppression: by [%s] %s, missing fields: %s\n", strings.Join(s.GroupBy, ", "), suppressionSpan(s.Duration), s.MissingFieldsStrategy)
	}
	for _, th := range r.Threat {
		fmt.Fprintf(w, "ATT&CK: %s %s", th.Tactic.ID, th.Tactic.Name)
		for _, t := range th.Techniques {
			fmt.Fprintf(w, "; %s %s", t.ID, t.Name)
			for _, s := range t.Subtechniques {
				fmt.Fprintf(w, "; %s %s", s.ID, s.Name)
			}
		}
		fmt.Fprintln(w)
	}
	if !r.Runnable() {
		fmt.Fprintf(w, "status: not run: %s\n", r.Unsupported)
	}
	fmt.Fprintf(w, "\nQuery (%s):\n  %s\n", r.Language, strings.ReplaceAll(r.Query, "\n", "\n  "))
	if r.Cond != nil {
		fmt.Fprintf(w, "\nCondition:\n  %s\n", rule.Format(r.Cond))
		exc, ind := rule.Explain(r.Cond)
		fmt.Fprintln(w, "\nExclusions (top-level NOT conjuncts):")
		writeIndicators(w, exc)
		fmt.Fprintln(w, "\nIndicators:")
		writeIndicators(w, ind)
	}
	fmt.Fprintln(w, "\nOutput fields:")
	fields := r.InvestigationFields
	if len(fields) == 0 {
		fields = alert.DefaultFields
	}
	for _, f := range fields {
		fmt.Fprintln(w, "  "+f)
	}
	fmt.Fprintln(w)
}

func writeIndicators(w io.Writer, ins []rule.Indicator) {
	if len(ins) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	fw := 5
	for _, in := range ins {
		fw = max(fw, len(in.Field))
	}
	for _, in := range ins {
		fmt.Fprintf(w, "  %-*s  %-9s  %s\n", fw, in.Field, in.Op, strings.Join(in.Values, " | "))
	}
}

// suppressionSpan describes a suppression window: a duration, or (zero)
// Elastic's per-rule-execution suppression.
func suppressionSpan(d time.Duration) string {
	if d == 0 {
		return "per rule execution"
	}
	return "for " + d.String()
}
