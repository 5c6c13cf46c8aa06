package sqsinput_test

import (
	"context"
	"log/slog"

	"github.com/trailhound/trailhound/ledger"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/s3trail"
	"github.com/trailhound/trailhound/sqsinput"
)

// How serve reads an SQS queue of CloudTrail notifications: a batch per
// message, acked once its alerts are delivered and the state committed.
func Example() {
	ctx := context.Background()
	s3c, _ := s3trail.NewClient(ctx, "")
	sqsc, _ := sqsinput.NewClient(ctx, "")
	l, _ := ledger.Open("/var/lib/trailhound/ledger.db", ledger.DefaultRetention)
	defer l.Close()
	c, err := sqsinput.New(sqsc, &s3trail.Reader{S3: s3c}, l, sqsinput.Config{
		QueueURL:   "https://sqs.us-east-1.amazonaws.com/111122223333/cloudtrail",
		DLQURL:     "https://sqs.us-east-1.amazonaws.com/111122223333/cloudtrail-poison",
		MaxReceive: 5,
	}, slog.Default())
	if err != nil {
		return
	}
	defer c.Close(context.Background()) // releases what is still out
	if _, err := c.Check(ctx); err != nil {
		return
	}
	for {
		b, err := c.Next(ctx)
		if err != nil {
			return
		}
		for _, in := range b.Inputs() {
			rc, err := record.OpenInput(ctx, in, nil) // gzip or plain
			if err != nil {
				break // an input error, counted; or b.Release(ctx) to try again
			}
			// ... split records, evaluate rules ...
			rc.Close()
		}
		// ... deliver the alerts, commit the state, then:
		if err := b.Ack(ctx); err != nil {
			slog.Warn("ack", "err", err) // the message comes back; the ledger makes it a no-op
		}
	}
}
