package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"

	"github.com/trailhound/trailhound/state"
)

func newState() *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "Inspect the rule state kept across hunts"}
	var path string
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Show, per rule, how many terms, groups, suppression windows, raised alert ids and threshold runs' marks (RUNS: the groups a run raised, for replays) the state holds",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "auto" {
				path = state.DefaultPath()
			}
			var st state.Store
			var err error
			if state.IsRedisURL(path) {
				st, err = state.OpenRedisReadOnly(cmd.Context(), path)
			} else {
				st, err = state.OpenBoltReadOnly(path)
			}
			if err != nil {
				return stateOpenError(err)
			}
			defer st.Close()
			rows, err := st.Stats()
			if err != nil {
				return &exitError{exitErrors, stateError(err)}
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].RuleID < rows[j].RuleID })
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "state: %s\n%-36s  %8s  %8s  %8s  %8s  %8s  %8s  %s\n", state.Redact(path), "RULE", "TERMS", "GROUPS", "SUPPRESS", "ALERTED", "RUNS", "PENDING", "WATERMARK")
			var t state.RuleStats
			for _, r := range rows {
				fmt.Fprintf(w, "%-36s  %8d  %8d  %8d  %8d  %8d  %8d  %s\n", r.RuleID, r.Terms, r.Groups, r.Suppress, r.Alerted, r.RunMarks, r.Pending, r.Watermark.Format("2006-01-02T15:04:05Z"))
				t.Terms += r.Terms
				t.Groups += r.Groups
				t.Suppress += r.Suppress
				t.Alerted += r.Alerted
				t.RunMarks += r.RunMarks
				t.Pending += r.Pending
			}
			fmt.Fprintf(w, "%-36s  %8d  %8d  %8d  %8d  %8d  %8d\n", fmt.Sprintf("total (%d rules)", len(rows)), t.Terms, t.Groups, t.Suppress, t.Alerted, t.RunMarks, t.Pending)
			return nil
		},
	}
	stats.Flags().StringVar(&path, "state", state.DefaultPath(), "state file (read only; 'auto' means the default) or redis:// URL")
	cmd.AddCommand(stats)
	return cmd
}

// openState opens the rule state a --state flag or state: key names: a
// Redis server (redis://, rediss://) or a bbolt file.
func openState(ctx context.Context, spec string) (state.Store, error) {
	if state.IsRedisURL(spec) {
		st, err := state.OpenRedis(ctx, spec)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := state.OpenBolt(spec)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// stateOpenError is the exit of a state that would not open: a malformed
// Redis URL is a usage error (exit 3), the rest state errors (exit 2).
func stateOpenError(err error) error {
	if errors.Is(err, state.ErrBadRedisURL) {
		return usageError(err)
	}
	return &exitError{exitErrors, stateError(err)}
}

// stateError adds to a state file error what the user can do about it.
func stateError(err error) error {
	switch {
	case errors.Is(err, state.ErrCorrupt):
		return fmt.Errorf("%w: move it aside, or start over with hunt --state-reset", err)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w (no hunt has written it: hunt --state FILE creates it)", err)
	}
	return err
}
