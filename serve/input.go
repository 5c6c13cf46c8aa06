// Package serve runs rules continuously over live CloudTrail: inputs deliver
// batches of records (HTTP ingest, Kafka; S3/SQS plug in the same way), the
// streaming detection core decides alerts as event time passes, sinks
// receive them, and only then is the state committed and the input
// acknowledged. Delivery is at least once, idempotent by alert id.
package serve

import (
	"context"
	"errors"
	"time"
)

// Batch is one unit an input delivers: the raw bytes of a CloudTrail
// delivery file, a JSON array or JSON Lines, plain or gzip (told by its
// magic bytes).
type Batch struct {
	// Name says where the batch came from, in errors and in alerts
	// (event.file). It must be the same when the batch is delivered again
	// (a spool file, a topic/partition/offset): the ids of alerts on
	// records without an eventID are made from it.
	Name string
	Data []byte // released once read (the service keeps only the batch's place until it acknowledges it)
	// Ack, when not nil, is called once every alert the batch's records
	// can raise is delivered to the sinks and the state that holds the
	// rest is committed: the input may forget the batch (delete a spool
	// file, commit an offset). A batch never acknowledged is delivered
	// again after a restart. Ack is called from one goroutine, not
	// necessarily in delivery order.
	Ack func()

	input  *inputState
	bound  int64 // the input's watermark when the batch arrived
	latest int64 // the latest event time in it, once scanned
	early  int64 // the earliest
}

// Input delivers batches until ctx ends.
type Input interface {
	// Name names the input in logs and metrics ("http", "kafka").
	Name() string
	// Run delivers batches with deliver until ctx is done (then it stops
	// receiving and returns nil) or it fails. deliver blocks while the
	// service is busy and returns ErrStopping once it stops taking batches.
	Run(ctx context.Context, deliver func(*Batch) error) error
}

// Watermarker is an input that knows the lowest event time it may still
// deliver (an S3 poller can tell from object names). Without it an input's
// watermark is the latest event time it delivered, less the lateness, and
// an input that has delivered nothing yet holds nothing back.
type Watermarker interface {
	// LowWatermark is the lowest event time the input may still
	// deliver; ok is false when it does not know.
	LowWatermark() (t time.Time, ok bool)
}

// Holder is an input that may, for a while, deliver records of any age
// (an SQS input started after a crash, until the messages the crashed
// process had out come back): while it is Holding, the service's watermark
// does not move, so nothing is decided before those records are in.
type Holder interface {
	Holding() bool
}

// Readier is an input that can say whether it is ready (for /readyz).
type Readier interface {
	Ready() error
}

// ErrStopping is what deliver returns once the service stops taking input.
var ErrStopping = errors.New("serve: stopping")
