package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/trailhound/trailhound/synth"
)

func newGen() *cobra.Command {
	var (
		size, fileSize, out string
		gz, ordered         bool
		period              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "gen --size 1GB --out DIR SOURCE...",
		Short: "Multiply real CloudTrail logs into N bytes of realistic records (for benchmarks)",
		Long: `Reads the CloudTrail records in SOURCE files and folders and writes copies of them
as delivery files until --size bytes are written. Copy k of a record is shifted
k periods later in time and gets new, deterministic eventID and requestID values:
the same inputs and flags always produce the same bytes. Files an earlier gen wrote
into DIR (synthetic_*.json[.gz]) are removed first, so DIR holds exactly this output.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			total, err := parseSize64(size)
			if err != nil {
				return &exitError{exitBadUsage, fmt.Errorf("--size: %w", err)}
			}
			per, err := parseSize64(fileSize)
			if err != nil {
				return &exitError{exitBadUsage, fmt.Errorf("--file-size: %w", err)}
			}
			if out == "" {
				return &exitError{exitBadUsage, fmt.Errorf("--out is required")}
			}
			recs, err := synth.Load(args)
			if err != nil {
				return &exitError{exitErrors, err}
			}
			res, err := synth.Generate(cmd.Context(), recs, synth.Options{Size: total, OutDir: out, Gzip: gz, FileSize: per, Period: period, Ordered: ordered})
			if err != nil {
				return &exitError{exitErrors, err}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d records, %.1f MB (uncompressed) in %d files under %s from %d source records\n",
				res.Records, float64(res.Bytes)/1e6, len(res.Files), out, len(recs))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&size, "size", "1GB", "uncompressed bytes to write")
	f.StringVar(&fileSize, "file-size", "64MB", "uncompressed bytes per output file")
	f.StringVarP(&out, "out", "o", "", "output folder")
	f.BoolVar(&gz, "gzip", false, "gzip the output files (.json.gz)")
	f.DurationVar(&period, "period", 30*24*time.Hour, "time shift between copies")
	f.BoolVar(&ordered, "ordered", false, "write one stream in event-time order, copy after copy on a compacted timeline (gaps over a minute shrink to a minute), in files named like CloudTrail delivery files after their last record's time")
	return cmd
}

func parseSize64(s string) (int64, error) {
	n, err := parseSize(s)
	return int64(n), err
}
