package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/s3trail"
	"github.com/trailhound/trailhound/termtext"
)

// splitURLs separates the s3:// URLs among a hunt's arguments from the local
// paths; any other URL scheme is a usage error.
func splitURLs(args []string) (paths, urls []string, err error) {
	for _, a := range args {
		scheme, _, ok := strings.Cut(a, "://")
		switch {
		case !ok || strings.ContainsAny(scheme, "/."):
			paths = append(paths, a)
		case scheme == "s3":
			urls = append(urls, a)
		default:
			return nil, nil, usageError(fmt.Errorf("%s: %s input is not supported by hunt; copy the objects locally and hunt the folder", a, strings.ToUpper(scheme)))
		}
	}
	return paths, urls, nil
}

// s3Inputs lists the CloudTrail objects under the s3:// URLs that can hold
// events in [from, to): only the day folders of the range, in every account
// and region found under each URL.
func s3Inputs(ctx context.Context, urls []string, endpoint string, from, to time.Time, errw io.Writer, quiet bool) ([]record.Input, error) {
	if from.IsZero() {
		return nil, usageError(errors.New("hunting s3:// needs --from (and --to, default now): only the day folders of that range are listed"))
	}
	if to.IsZero() {
		to = time.Now().UTC()
	}
	client, err := s3trail.NewClient(ctx, endpoint)
	if err != nil {
		return nil, &exitError{exitErrors, err}
	}
	var ins []record.Input
	for _, u := range urls {
		bucket, prefix, err := s3trail.ParseURL(u)
		if err != nil {
			return nil, usageError(err)
		}
		r := &s3trail.Reader{S3: client}
		if endpoint == "" {
			r.S3 = s3trail.ForBucket(ctx, client, bucket) // the bucket's region, whatever the configuration says
		}
		ps, err := r.Discover(ctx, bucket, prefix)
		if err != nil {
			return nil, &exitError{exitErrors, err}
		}
		if !quiet && isTerminal(errw) {
			fmt.Fprintf(raw(errw), "%s: listing %d account/region folders...\r", termtext.String(u), len(ps))
		}
		objs, err := r.ListRange(ctx, ps, from, to)
		if err != nil {
			return nil, &exitError{exitErrors, err}
		}
		if !quiet {
			fmt.Fprintf(errw, "%s: %d objects in %d account/region folders, delivered %s to %s\n", u, len(objs), len(ps),
				from.Format(time.RFC3339), to.Add(s3trail.DeliverySlack).Format(time.RFC3339))
		}
		for _, o := range objs {
			ins = append(ins, r.Input(o))
		}
	}
	return ins, nil
}
