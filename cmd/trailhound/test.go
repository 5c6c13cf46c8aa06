package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trailhound/trailhound/ruletest"
)

func newTest() *cobra.Command {
	var verbose bool
	var placeholders *[]string
	var geo *geoFlags
	var pyf *pyFlags
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run rule unit tests (Panther Tests, and <rule file>.tests.yaml beside Elastic and Sigma rules)",
		Long: `Run the unit tests of rules without any SIEM. Panther files carry theirs in Tests:;
an Elastic or Sigma rule file takes them from a sidecar <rule file>.tests.yaml with
the same syntax (Name, ExpectedResult, Log or Logs, optional ExpectedTitle,
ExpectedSeverity, ExpectedAlertContext). A test passes when the rule raises an alert
on its logs (run in order, as one hunt) exactly when ExpectedResult says so.
Without PATH the built-in rules are tested.

Exit status: 0 when every test passed, 1 when any failed, 2 when rule files could
not be loaded or no test ran (none found, or none of their rules can run).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, errs, err := loadRules(args, *placeholders)
			if err != nil {
				return err
			}
			db, err := geo.openFor(rules)
			if err != nil {
				return err
			}
			if db != nil {
				defer db.Close()
			}
			py, err := pyf.attach(cmd.Context(), rules, 0, true, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer py.Close()
			opts := ruletest.Options{GeoIP: db, NoEntityMapping: geo.noEntityMapping}
			if py != nil {
				opts.Script = py
			}
			w := cmd.OutOrStdout()
			if verbose {
				for _, m := range py.DataModels() {
					fmt.Fprintln(w, m)
				}
			}
			pass, fail, notRun := 0, 0, 0
			for _, res := range ruletest.Run(rules, opts) {
				name := fmt.Sprintf("%s (%s) / %s", res.Rule.Name, res.Rule.ID, res.Test.Name)
				switch {
				case res.NotRun != "":
					notRun++
					if verbose {
						fmt.Fprintf(w, "--- SKIP %s: %s\n", name, res.NotRun)
					}
				case res.Pass:
					pass++
					if verbose {
						fmt.Fprintf(w, "--- PASS %s\n", name)
					}
				default:
					fail++
					fmt.Fprintf(w, "--- FAIL %s: %s (%s)\n", name, res.Msg, res.Test.Path)
				}
			}
			for _, e := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			summary := fmt.Sprintf("%d passed, %d failed", pass, fail)
			if notRun > 0 {
				summary += fmt.Sprintf(", %d not run (their rules cannot run; -v lists them)", notRun)
			}
			fmt.Fprintln(w, summary)
			switch {
			case len(errs) > 0:
				return &exitError{exitErrors, fmt.Errorf("%d rule file(s) could not be loaded", len(errs))}
			case fail > 0:
				return &exitError{exitAlerts, nil}
			case pass == 0 && notRun > 0:
				return &exitError{exitErrors, fmt.Errorf("no test ran: the rules of all %d tests cannot run (-v lists why)", notRun)}
			case pass == 0:
				return &exitError{exitErrors, fmt.Errorf("no tests found (Panther Tests:, or a <rule file>.tests.yaml beside the rule)")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing and skipped tests too, and the data model serving each log type (Panther Python rules)")
	placeholders = placeholderFlag(cmd)
	geo = addGeoFlags(cmd.Flags())
	pyf = addPyFlags(cmd.Flags())
	return cmd
}
