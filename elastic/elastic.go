// Package elastic loads Elastic detection rules (the TOML format of
// elastic/detection-rules) into trailhound's rule IR, compiling KQL queries.
package elastic

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/trailhound/trailhound/eql"
	"github.com/trailhound/trailhound/esql"

	"github.com/pelletier/go-toml/v2"

	"github.com/trailhound/trailhound/kql"
	"github.com/trailhound/trailhound/rule"
)

// file mirrors the keys of an Elastic rule TOML file.
type file struct {
	Metadata struct {
		CreationDate     string `toml:"creation_date"`
		UpdatedDate      string `toml:"updated_date"`
		DeprecationDate  string `toml:"deprecation_date"`
		Maturity         string `toml:"maturity"`
		Integration      any    `toml:"integration"` // a string or a list
		MinStackVersion  string `toml:"min_stack_version"`
		MinStackComments string `toml:"min_stack_comments"`
		BypassBBRTiming  bool   `toml:"bypass_bbr_timing"`
	} `toml:"metadata"`
	Rule struct {
		Author                []string `toml:"author"`
		Description           string   `toml:"description"`
		FalsePositives        []string `toml:"false_positives"`
		From                  string   `toml:"from"`
		Interval              string   `toml:"interval"`
		Index                 []string `toml:"index"`
		Language              string   `toml:"language"`
		License               string   `toml:"license"`
		Name                  string   `toml:"name"`
		Note                  string   `toml:"note"`
		Setup                 string   `toml:"setup"`
		Query                 string   `toml:"query"`
		References            []string `toml:"references"`
		RiskScore             int      `toml:"risk_score"`
		RuleID                string   `toml:"rule_id"`
		Severity              string   `toml:"severity"`
		Tags                  []string `toml:"tags"`
		TimestampOverride     string   `toml:"timestamp_override"`
		Type                  string   `toml:"type"`
		Version               int      `toml:"version"`
		MaxSignals            *int     `toml:"max_signals"` // nil: not set
		BuildingBlockType     string   `toml:"building_block_type"`
		EventCategoryOverride string   `toml:"event_category_override"`
		MachineLearningJobID  any      `toml:"machine_learning_job_id"`
		AnomalyThreshold      int      `toml:"anomaly_threshold"`
		Threat                []struct {
			Framework string `toml:"framework"`
			Tactic    ref    `toml:"tactic"`
			Technique []struct {
				ref
				Subtechnique []ref `toml:"subtechnique"`
			} `toml:"technique"`
		} `toml:"threat"`
		ExceptionsList []struct {
			ID            string `toml:"id"`
			ListID        string `toml:"list_id"`
			NamespaceType string `toml:"namespace_type"`
			Type          string `toml:"type"`
		} `toml:"exceptions_list"`
		InvestigationFields struct {
			FieldNames []string `toml:"field_names"`
		} `toml:"investigation_fields"`
		NewTerms *struct {
			Field              string `toml:"field"`
			Value              []string
			HistoryWindowStart []struct {
				Field string `toml:"field"`
				Value string `toml:"value"`
			} `toml:"history_window_start"`
		} `toml:"new_terms"`
		Threshold *struct {
			Field       []string `toml:"field"`
			Value       int      `toml:"value"`
			Cardinality []struct {
				Field string `toml:"field"`
				Value int    `toml:"value"`
			} `toml:"cardinality"`
		} `toml:"threshold"`
		AlertSuppression *struct {
			GroupBy  []string `toml:"group_by"`
			Duration *struct {
				Value int    `toml:"value"`
				Unit  string `toml:"unit"`
			} `toml:"duration"`
			MissingFieldsStrategy string `toml:"missing_fields_strategy"`
		} `toml:"alert_suppression"`
	} `toml:"rule"`
}

type ref struct {
	ID        string `toml:"id"`
	Name      string `toml:"name"`
	Reference string `toml:"reference"`
}

// decodeMessage is a decoding error's message, a value of the wrong type
// named by its key ("rule.risk_score: a TOML string where a value of type int belongs")
// rather than by go-toml's spelling of the Go struct it was decoded into.
func decodeMessage(de *toml.DecodeError) string {
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	kind, rest, ok := strings.Cut(strings.TrimPrefix(msg, "cannot decode TOML "), " into ")
	if i := strings.LastIndex(rest, " of type "); ok && strings.HasPrefix(msg, "cannot decode TOML ") && i >= 0 {
		msg = fmt.Sprintf("a TOML %s where a value of type %s belongs", kind, rest[i+len(" of type "):])
	}
	if k := de.Key(); len(k) > 0 {
		msg = keyString(k) + ": " + msg
	}
	return msg
}

// keyString writes a dotted key as TOML does, quoting the parts that are
// not bare keys.
func keyString(parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		bare := p != ""
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				bare = false
				break
			}
		}
		if bare {
			b.WriteString(p)
		} else {
			b.WriteString(strconv.Quote(p))
		}
	}
	return b.String()
}

// Error is a rule file that could not be loaded.
type Error struct {
	Path      string
	Line, Col int // 0 when unknown
	Err       error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %v", e.Path, e.Line, e.Col, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Parse loads one rule from TOML text; path names it in messages.
func Parse(path string, data []byte) (*rule.Rule, error) {
	if d, line := nesting(data); d > maxNesting {
		return nil, &Error{Path: path, Line: line, Col: 1, Err: fmt.Errorf("TOML: values nest %d levels deep here or below, more than the %d a rule file may", d, maxNesting)}
	}
	// go-toml decodes the corpus's rule files into the same values as
	// BurntSushi/toml did, 16 times faster (decoding was most of loading
	// the rules, which every hunt starts with)
	var f file
	var unknown []string
	err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(&f)
	var missing *toml.StrictMissingError
	if errors.As(err, &missing) { // decoded: the keys matched no field
		for _, e := range missing.Errors {
			unknown = append(unknown, keyString(e.Key()))
		}
		err = nil
	}
	if err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return nil, &Error{Path: path, Line: line, Col: col, Err: fmt.Errorf("TOML: %s", decodeMessage(de))}
		}
		return nil, &Error{Path: path, Err: fmt.Errorf("TOML: %w", err)}
	}
	r := &rule.Rule{
		ID:                  f.Rule.RuleID,
		Name:                f.Rule.Name,
		Description:         strings.TrimSpace(f.Rule.Description),
		Format:              "elastic",
		Path:                path,
		Type:                f.Rule.Type,
		Language:            f.Rule.Language,
		Query:               strings.TrimSpace(f.Rule.Query),
		Severity:            f.Rule.Severity,
		RiskScore:           f.Rule.RiskScore,
		Tags:                f.Rule.Tags,
		References:          f.Rule.References,
		Note:                f.Rule.Note,
		Setup:               f.Rule.Setup,
		Author:              f.Rule.Author,
		License:             f.Rule.License,
		Version:             f.Rule.Version,
		Maturity:            f.Metadata.Maturity,
		FalsePositives:      f.Rule.FalsePositives,
		InvestigationFields: f.Rule.InvestigationFields.FieldNames,
		Index:               f.Rule.Index,
		BuildingBlock:       f.Rule.BuildingBlockType != "",

		EventCategoryOverride: f.Rule.EventCategoryOverride,
	}
	for _, l := range f.Rule.ExceptionsList {
		r.ExceptionLists = append(r.ExceptionLists, l.ListID)
	}
	for _, k := range unknown {
		r.Warnings = append(r.Warnings, fmt.Sprintf("unknown key %s ignored", k))
	}
	for _, t := range f.Rule.Threat {
		th := rule.Threat{Framework: t.Framework, Tactic: rule.Ref(t.Tactic)}
		for _, tech := range t.Technique {
			tt := rule.Technique{Ref: rule.Ref(tech.ref)}
			for _, s := range tech.Subtechnique {
				tt.Subtechniques = append(tt.Subtechniques, rule.Ref(s))
			}
			th.Techniques = append(th.Techniques, tt)
		}
		r.Threat = append(r.Threat, th)
	}
	rule.FillAttackNames(r.Threat)
	if r.ID == "" {
		return nil, &Error{Path: path, Err: errors.New("rule has no rule_id")}
	}
	if err := schedule(r, &f); err != nil {
		return nil, &Error{Path: path, Err: fmt.Errorf("rule %s: %w", r.ID, err)}
	}
	if nt := f.Rule.NewTerms; nt != nil {
		r.NewTerms = &rule.NewTerms{Fields: nt.Value}
		for _, h := range nt.HistoryWindowStart {
			r.NewTerms.HistoryWindowStart = h.Value
		}
		if h := r.NewTerms.HistoryWindowStart; h != "" {
			d, err := rule.ParseDateMath(h)
			if err == nil && d <= 0 {
				err = fmt.Errorf("%q must look back more than 0", h)
			}
			if err != nil {
				return nil, &Error{Path: path, Err: fmt.Errorf("rule %s: new_terms history_window_start: %w", r.ID, err)}
			}
		}
	}
	if th := f.Rule.Threshold; th != nil {
		r.Threshold = &rule.Threshold{Fields: th.Field, Value: th.Value}
		for _, c := range th.Cardinality {
			r.Threshold.Cardinality = append(r.Threshold.Cardinality, rule.Cardinality{Field: c.Field, Value: c.Value})
		}
	}
	if s := f.Rule.AlertSuppression; s != nil {
		r.Suppression = &rule.Suppression{GroupBy: s.GroupBy, MissingFieldsStrategy: s.MissingFieldsStrategy}
		if s.Duration != nil {
			d, err := rule.ParseDuration(fmt.Sprintf("%d%s", s.Duration.Value, s.Duration.Unit))
			if err == nil && d <= 0 {
				err = fmt.Errorf("value %d: must be at least 1", s.Duration.Value)
			}
			if err != nil {
				return nil, &Error{Path: path, Err: fmt.Errorf("rule %s: alert_suppression.duration: %w", r.ID, err)}
			}
			r.Suppression.Duration = d
		}
	}

	// Compile the query of every KQL rule, so syntax errors surface even for
	// types that cannot run yet.
	if r.Language == "kuery" {
		n, err := kql.Parse(r.Query)
		if err != nil {
			e := &Error{Path: path, Err: fmt.Errorf("rule %s (%s): query %w", r.ID, r.Name, err)}
			var ke *kql.Error
			if errors.As(err, &ke) {
				e.Line, e.Col = fileLineCol(data, r.Query, ke.Offset)
			}
			return nil, e
		}
		cond, err := Lower(n)
		if err != nil {
			r.Unsupported = err.Error()
		} else {
			r.Cond = rule.Simplify(cond)
		}
	}
	if r.Language == "eql" {
		if err := lowerEQL(r, f.Rule.EventCategoryOverride); err != nil {
			e := &Error{Path: path, Err: fmt.Errorf("rule %s (%s): query %w", r.ID, r.Name, err)}
			var qe *eql.Error
			if errors.As(err, &qe) {
				e.Line, e.Col = fileLineCol(data, r.Query, qe.Pos)
			}
			return nil, e
		}
	}
	if r.Language == "esql" {
		q, err := esql.Parse(r.Query)
		var qe *esql.Error
		if errors.As(err, &qe) && qe.Unsupported {
			r.Unsupported = "ES|QL " + qe.Error()
			err = nil
		}
		if q != nil && r.Unsupported == "" {
			if bad := esqlSources(q.Indexes); bad != "" {
				r.Unsupported = bad
			}
		}
		if err != nil {
			e := &Error{Path: path, Err: fmt.Errorf("rule %s (%s): query %w", r.ID, r.Name, err)}
			var qe *esql.Error
			if errors.As(err, &qe) {
				e.Line, e.Col = fileLineCol(data, r.Query, qe.Pos)
			}
			return nil, e
		}
		if q == nil {
			// unsupported, reported
		} else if r.ESQL, err = esql.Compile(q); err != nil {
			r.Unsupported = err.Error()
		} else {
			r.Cond = esqlPrefilter(q)
		}
	}
	if r.Unsupported == "" {
		r.Unsupported = unsupported(r)
	}
	return r, nil
}

// lowerEQL parses an EQL rule's query into its condition (and sequence).
func lowerEQL(r *rule.Rule, categoryOverride string) error {
	q, err := eql.Parse(r.Query)
	if err != nil {
		return err
	}
	catField := "event.category"
	if categoryOverride != "" {
		catField = categoryOverride
	}
	if q.Sequence == nil {
		c, err := eql.Lower(q.Category, q.Where, catField)
		if err != nil {
			return err
		}
		r.Cond = c
		return nil
	}
	fields := func(es []eql.Expr) ([]string, bool) {
		var out []string
		for _, e := range es {
			f, ok := e.(eql.Field)
			if !ok {
				return nil, false
			}
			out = append(out, f.Name)
		}
		return out, true
	}
	by, ok := fields(q.Sequence.By)
	if !ok {
		r.Unsupported = "EQL sequence joined on an expression (only fields are supported)"
		return nil
	}
	seq := &rule.Sequence{By: by, MaxSpan: q.Sequence.MaxSpan}
	var anyStep []rule.Cond
	step := func(s eql.Step) (rule.SeqStep, error) {
		c, err := eql.Lower(s.Category, s.Where, catField)
		if err != nil {
			return rule.SeqStep{}, err
		}
		stepBy, ok := fields(s.By)
		if !ok {
			return rule.SeqStep{}, fmt.Errorf("sequence step joined on an expression (only fields are supported)")
		}
		anyStep = append(anyStep, c)
		return rule.SeqStep{Cond: c, By: stepBy}, nil
	}
	for _, s := range q.Sequence.Steps {
		st, err := step(s)
		if err != nil {
			return err
		}
		for range max(s.Runs, 1) { // [step] with runs=N is N steps
			seq.Steps = append(seq.Steps, st)
		}
	}
	if u := q.Sequence.Until; u != nil {
		st, err := step(*u)
		if err != nil {
			return err
		}
		seq.Until = &st
	}
	r.Sequence = seq
	r.Cond = rule.Or{Conds: anyStep}
	return nil
}

// esqlSources says why a query's FROM is not CloudTrail ("" when it is):
// trailhound runs queries over CloudTrail events, not over Elastic's alert
// indices (higher-order rules) or other data.
func esqlSources(indexes []string) string {
	for _, ix := range indexes {
		if strings.HasPrefix(ix, "logs-aws.cloudtrail") || ix == "logs-*" || ix == "logs-aws*" || ix == "logs-aws.*" || strings.HasPrefix(ix, "filebeat-") {
			return ""
		}
	}
	return fmt.Sprintf("ES|QL FROM %s: not CloudTrail data (a higher-order rule over alert indices, or another source)", strings.Join(indexes, ", "))
}

// esqlPrefilter is a condition every event the query's first WHERE keeps
// satisfies (an over-approximation: what it cannot translate counts as
// true). The engine evaluates it, and routes events by its event source and
// name, before the query itself runs on an event.
func esqlPrefilter(q *esql.Query) rule.Cond {
	computed := map[string]bool{} // columns the query sets before a WHERE
	var conds []rule.Cond
scan:
	for _, c := range q.Commands {
		switch c := c.(type) {
		case esql.Where:
			if x := esqlApprox(c.Cond, computed); x != nil {
				conds = append(conds, x)
			}
		case esql.Eval:
			for _, a := range c.Fields {
				computed[a.Name] = true
			}
		case esql.Dissect, esql.Grok:
			for _, n := range esql.Outputs(c) {
				computed[n] = true
			}
		default:
			break scan
		}
	}
	return rule.Simplify(rule.And{Conds: conds})
}

// esqlApprox translates e into a condition implied by it, or nil (true).
func esqlApprox(e esql.Expr, computed map[string]bool) rule.Cond {
	// anyField is a field read from the event; field one whose values the
	// query compares as the strings the condition compares (a date's are
	// instants: "10:00:00Z" equals "10:00:00.000Z")
	anyField := func(x esql.Expr) (string, bool) {
		f, ok := x.(esql.Field)
		return f.Name, ok && !strings.HasPrefix(f.Name, "_") && !computed[f.Name]
	}
	field := func(x esql.Expr) (string, bool) {
		f, ok := anyField(x)
		return f, ok && !esql.IsDate(f)
	}
	switch e := e.(type) {
	case esql.Binary:
		switch e.Op {
		case "AND":
			l, r := esqlApprox(e.L, computed), esqlApprox(e.R, computed)
			switch {
			case l == nil:
				return r
			case r == nil:
				return l
			}
			return rule.And{Conds: []rule.Cond{l, r}}
		case "OR":
			l, r := esqlApprox(e.L, computed), esqlApprox(e.R, computed)
			if l == nil || r == nil {
				return nil
			}
			return rule.Or{Conds: []rule.Cond{l, r}}
		case "==":
			f, ok1 := field(e.L)
			l, ok2 := e.R.(esql.Lit)
			if s, isStr := l.V.(string); ok1 && ok2 && isStr {
				return rule.Cmp{Field: f, Op: rule.OpEq, Values: []string{s}}
			}
		case "!=":
			// true only for a field of one value, not null, that is not s
			// (a string, or a date other than s's: its text is not s)
			f, ok1 := anyField(e.L)
			l, ok2 := e.R.(esql.Lit)
			if s, isStr := l.V.(string); ok1 && ok2 && isStr {
				return rule.And{Conds: []rule.Cond{
					rule.Cmp{Field: f, Op: rule.OpExists},
					rule.Not{Cond: rule.Cmp{Field: f, Op: rule.OpEq, Values: []string{s}}},
				}}
			}
		}
	case esql.Call:
		// true only for a field of one string value that starts (ends) so
		if len(e.Args) != 2 {
			return nil
		}
		f, ok1 := field(e.Args[0])
		l, ok2 := e.Args[1].(esql.Lit)
		s, isStr := l.V.(string)
		if !ok1 || !ok2 || !isStr {
			return nil
		}
		switch e.Name {
		case "STARTS_WITH":
			return rule.Cmp{Field: f, Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{s, ""}}}}
		case "ENDS_WITH":
			return rule.Cmp{Field: f, Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{"", s}}}}
		}
	case esql.In:
		if l, ok := e.X.(esql.Lit); ok && l.V == true && !e.Not {
			// true IN (a, b ...): one of them is true
			var or []rule.Cond
			for _, x := range e.List {
				c := esqlApprox(x, computed)
				if c == nil {
					return nil
				}
				or = append(or, c)
			}
			return rule.Or{Conds: or}
		}
		f, ok := field(e.X)
		if !ok || e.Not {
			return nil
		}
		var vals []string
		for _, x := range e.List {
			l, ok := x.(esql.Lit)
			s, isStr := l.V.(string)
			if !ok || !isStr {
				return nil
			}
			vals = append(vals, s)
		}
		return rule.Cmp{Field: f, Op: rule.OpEq, Values: vals}
	case *esql.Like:
		f, ok := field(e.X)
		if !ok || e.Not {
			return nil
		}
		if e.Regex {
			return rule.Cmp{Field: f, Op: rule.OpRegex, Values: []string{esql.LuceneToRE2(e.Pattern)}}
		}
		return eql.Wildcard(f, e.Pattern, false)
	case esql.IsNull:
		if f, ok := anyField(e.X); ok && e.Not {
			return rule.Cmp{Field: f, Op: rule.OpExists}
		}
	}
	return nil
}

// fileLineCol maps a position in the query to the rule file, when the query
// text appears verbatim in it (literal strings); 0, 0 otherwise.
func fileLineCol(data []byte, query string, offset int) (int, int) {
	at := strings.Index(string(data), query)
	if at < 0 {
		return 0, 0
	}
	off := at + offset
	line := 1 + strings.Count(string(data[:off]), "\n")
	start := strings.LastIndexByte(string(data[:off]), '\n') + 1
	return line, 1 + len([]rune(string(data[start:off])))
}

// schedule reads interval, from and max_signals. Values with which the
// rule could never alert (a zero interval or look-back, max_signals below
// 1) are errors, not a rule that runs silently.
func schedule(r *rule.Rule, f *file) error {
	s := rule.Schedule{From: f.Rule.From, TimestampOverride: f.Rule.TimestampOverride}
	maxSignalsSet := f.Rule.MaxSignals != nil
	if maxSignalsSet {
		s.MaxSignals = *f.Rule.MaxSignals
	}
	iv := f.Rule.Interval
	if iv == "" {
		iv = "5m"
	}
	d, err := rule.ParseDuration(iv)
	if err != nil {
		return fmt.Errorf("interval: %w", err)
	}
	if d <= 0 {
		return fmt.Errorf("interval %q: must be longer than 0", iv)
	}
	s.Interval = d
	if s.From == "" {
		s.From = "now-6m"
	}
	if s.Lookback, err = rule.ParseDateMath(s.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if s.Lookback <= 0 {
		return fmt.Errorf("from %q: must look back more than 0", s.From)
	}
	switch {
	case maxSignalsSet && s.MaxSignals < 1:
		return fmt.Errorf("max_signals = %d: must be at least 1", s.MaxSignals)
	case s.MaxSignals == 0:
		s.MaxSignals = 100
	}
	r.Schedule = s
	return nil
}

// unsupported says why a loaded rule cannot run yet ("" if it can).
func unsupported(r *rule.Rule) string {
	switch {
	case r.Maturity == "deprecated":
		return "deprecated (maturity = deprecated)"
	case r.Type == "machine_learning":
		return "type machine_learning needs Elastic's anomaly-detection jobs: not supported"
	case r.Type == "esql" && r.Language == "esql", r.Type == "eql" && r.Language == "eql":
		return ""
	case r.Type != "query" && r.Type != "new_terms" && r.Type != "threshold":
		return fmt.Sprintf("type %s not supported yet", r.Type)
	case r.Language != "kuery":
		return fmt.Sprintf("query language %q not supported", r.Language)
	case r.Type == "new_terms" && (r.NewTerms == nil || len(r.NewTerms.Fields) < 1 || len(r.NewTerms.Fields) > 3):
		return "new_terms needs 1 to 3 new_terms_fields"
	case r.Type == "new_terms":
		if _, err := rule.ParseDateMath(r.NewTerms.HistoryWindowStart); err != nil {
			return "new_terms history_window_start: " + err.Error()
		}
	case r.Type == "threshold" && (r.Threshold == nil || len(r.Threshold.Fields) > 3 || r.Threshold.Value < 1):
		return "threshold needs 0 to 3 fields and a value of at least 1"
	case r.Type == "threshold" && len(r.Threshold.Cardinality) > 1:
		return "threshold with more than one cardinality field not supported"
	}
	return ""
}

// Lower translates a KQL expression into a rule condition.
func Lower(n kql.Node) (rule.Cond, error) {
	switch n := n.(type) {
	case kql.And:
		return lowerAll(n.Nodes, func(cs []rule.Cond) rule.Cond { return rule.And{Conds: cs} })
	case kql.Or:
		return lowerAll(n.Nodes, func(cs []rule.Cond) rule.Cond { return rule.Or{Conds: cs} })
	case kql.Not:
		c, err := Lower(n.Node)
		if err != nil {
			return nil, err
		}
		return rule.Not{Cond: c}, nil
	case kql.Exists:
		return rule.Cmp{Field: n.Field, Op: rule.OpExists}, nil
	case kql.Match:
		if n.Value.Wildcard {
			return rule.Cmp{Field: n.Field, Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: n.Value.Parts}}}, nil
		}
		return rule.Cmp{Field: n.Field, Op: rule.OpEq, Values: []string{n.Value.Parts[0]}}, nil
	case kql.Range:
		op := map[string]rule.Op{"<": rule.OpLT, "<=": rule.OpLTE, ">": rule.OpGT, ">=": rule.OpGTE}[n.Op]
		return rule.Cmp{Field: n.Field, Op: op, Values: []string{n.Value.Parts[0]}}, nil
	case kql.Nested:
		return nil, fmt.Errorf("KQL nested field query %s:{...} not supported (CloudTrail ECS has no nested fields)", n.Field)
	}
	return nil, fmt.Errorf("unknown KQL node %T", n)
}

func lowerAll(nodes []kql.Node, mk func([]rule.Cond) rule.Cond) (rule.Cond, error) {
	cs := make([]rule.Cond, len(nodes))
	for i, x := range nodes {
		c, err := Lower(x)
		if err != nil {
			return nil, err
		}
		cs[i] = c
	}
	return mk(cs), nil
}

// LoadFile loads one rule file.
func LoadFile(path string) (*rule.Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	return Parse(path, data)
}

// Load loads rule files and folders (recursively, *.toml). It returns every
// rule it could load and one error per file it could not.
func Load(paths []string) ([]*rule.Rule, []error) {
	var rules []*rule.Rule
	var errs []error
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, &Error{Path: p, Err: err})
			continue
		}
		var files []string
		if st.IsDir() {
			err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && strings.HasSuffix(d.Name(), ".toml") {
					files = append(files, path)
				}
				return nil
			})
			if err != nil {
				errs = append(errs, &Error{Path: p, Err: err})
			}
		} else {
			files = []string{p}
		}
		sort.Strings(files)
		for _, f := range files {
			r, err := LoadFile(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rules = append(rules, r)
		}
	}
	return rules, errs
}
