package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/trailhound/trailhound/pyrule"
	"github.com/trailhound/trailhound/rule"
)

// pyFlags are the flags of the Python rule runtime.
type pyFlags struct {
	python      string
	helpers     []string
	timeout     time.Duration
	noPrefilter bool
}

func addPyFlags(f *pflag.FlagSet) *pyFlags {
	p := &pyFlags{}
	f.StringVar(&p.python, "python", "", "python3 interpreter for Panther Python rules (default: python3 on PATH, or /usr/bin/python3 when only it has python3-dateutil)")
	f.StringSliceVar(&p.helpers, "panther-helpers", nil, "folder of Panther global helpers and data models for Python rules (repeatable; a checkout's global_helpers/ and data_models/ are found without it)")
	f.DurationVar(&p.timeout, "python-timeout", 5*time.Second, "time a Panther Python rule may take on one event before it is stopped and reported")
	f.BoolVar(&p.noPrefilter, "no-python-prefilter", false, "send every event to every Panther Python rule (to measure the prefilter)")
	return p
}

// attach starts the Python runtime for the Python rules among rules (nil
// when there are none). Without a usable python3 the rules stay listed as
// needing it, a warning says so, and everything else runs.
func (p *pyFlags) attach(ctx context.Context, rules []*rule.Rule, workers int, tests bool, errw io.Writer) (*pyrule.Runtime, error) {
	if p.timeout <= 0 {
		return nil, usageError(fmt.Errorf("--python-timeout must be positive, not %s", p.timeout))
	}
	rt, err := pyrule.New(ctx, rules, pyrule.Options{Python: p.python, Helpers: p.helpers, Workers: workers, Timeout: p.timeout,
		NoPrefilter: p.noPrefilter, Tests: tests})
	switch {
	case errors.Is(err, pyrule.ErrNoPython):
		n := 0
		for _, r := range rules {
			if pyrule.IsPython(r) && !r.Runnable() {
				n++
			}
		}
		fmt.Fprintf(errw, "warning: %v; %d Panther Python rule(s) not run\n", err, n)
		return nil, nil
	case err != nil:
		return nil, &exitError{exitErrors, fmt.Errorf("python rules: %w", err)}
	}
	for _, w := range rt.Warnings() {
		fmt.Fprintln(errw, "warning:", w)
	}
	return rt, nil
}

// writePythonErrors reports how many events reached the Python rules and
// their errors (nothing when w is io.Discard); it returns how many rule()
// errors there were.
func writePythonErrors(w io.Writer, rt *pyrule.Runtime, verbose bool) int {
	if rt == nil {
		return 0
	}
	if w == io.Discard {
		n := 0
		for _, e := range rt.Errors() {
			n += e.Errors
		}
		return n
	}
	st := rt.Stats()
	py, v := rt.Python()
	fmt.Fprintf(w, "Python rules: %d run by %s (%s); %d events reached Python (%d rule() calls, %d calls to the workers), %d rule() results decided in Go, the rest were prefiltered out\n",
		len(rt.Loaded()), py, v, st.Events, st.RuleCalls, st.Trips, st.InGo)
	if verbose {
		for _, c := range rt.RuleCalls() {
			inGo := ""
			if c.InGo > 0 {
				inGo = fmt.Sprintf(", %d more decided in Go", c.InGo)
			}
			fmt.Fprintf(w, "  %8d events reached %s%s (%s)\n", c.N, c.Rule.ID, inGo, rt.Prefilter(c.Rule))
		}
	}
	errs := rt.Errors()
	if len(errs) == 0 {
		return 0
	}
	n := 0
	fmt.Fprintln(w, "Python rule errors (events the rule could not decide; alert function errors left defaults in the alert):")
	for _, e := range errs {
		n += e.Errors
		fmt.Fprintf(w, "  %s (%s): %d rule() error(s), %d alert function error(s)\n", e.Rule.ID, e.Rule.Script, e.Errors, e.AuxErrors)
		for _, m := range e.First {
			fmt.Fprintln(w, "    "+m)
		}
	}
	return n
}
