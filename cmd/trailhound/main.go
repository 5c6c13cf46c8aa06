// Command trailhound runs Elastic, Sigma and Panther detection rules over AWS
// CloudTrail logs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trailhound/trailhound/termtext"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Exit codes, as the README documents them.
const (
	exitAlerts      = 1   // alerts found with --fail-on-alert (tests failed, for test)
	exitErrors      = 2   // input, rule or state errors (the rest was still processed)
	exitBadUsage    = 3   // the command line is wrong
	exitInterrupted = 130 // SIGINT or SIGTERM: what was found is written, state is not committed
)

func main() {
	os.Exit(run(signalContext(), os.Args[1:], os.Stdout, os.Stderr))
}

// signalContext is cancelled by the first SIGINT or SIGTERM; a second one
// ends the process at once.
func signalContext() context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx
}

// usageError marks err as a usage error (exit 3).
func usageError(err error) error { return &exitError{exitBadUsage, err} }

// usageArgs turns cobra's argument-count errors into usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError(fmt.Errorf("%w\nusage: %s", err, cmd.UseLine()))
		}
		return nil
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// what is shown to people is escaped (file names, records and rules
	// carry what others wrote); machine output and the progress line use
	// raw(w)
	stdout, stderr = &termtext.Writer{W: stdout}, &termtext.Writer{W: stderr}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "trailhound:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "trailhound:", err)
	if strings.HasPrefix(err.Error(), "unknown command") {
		return exitBadUsage
	}
	return exitErrors
}

// raw is the writer under w's terminal escaping: for JSON (whose strings
// escape what they must), CSV, and the progress line's own control
// characters.
func raw(w io.Writer) io.Writer {
	if t, ok := w.(*termtext.Writer); ok {
		return t.W
	}
	return w
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "trailhound",
		Short:         "Run Elastic, Sigma and Panther detection rules over AWS CloudTrail logs",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(fmt.Errorf("%w\nusage: %s", err, cmd.UseLine()))
	})
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newHunt(), newQuery(), newTest(), newRules(), newGen(), newState(), newServe(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "trailhound", version) },
	})
	return root
}
