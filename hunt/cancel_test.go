package hunt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/trailhound/trailhound/record"
)

// A hunt cancelled while it reads (here by the third input's Open) stops
// taking inputs: the readers open none after it but those already taken,
// each input is finished (the hunt returns), and Run says it was cancelled.
func TestCancelStopsTakingInputs(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var opened atomic.Int64
			var ins []record.Input
			for i := range 50 {
				rec := fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2024-05-01T10:%02d:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"e%d"}`, i%60, i)
				ins = append(ins, record.Input{Path: fmt.Sprintf("mem://%02d.json", i), Size: int64(100 - i), Open: func(context.Context) (io.ReadCloser, error) {
					if opened.Add(1) == 3 {
						cancel()
					}
					return io.NopCloser(bytes.NewReader([]byte(rec))), nil
				}})
			}
			res, err := Run(ctx, builtinEngine(t), Options{Inputs: ins, Workers: workers})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
			if n := opened.Load(); n < 3 || n > int64(2+workers) {
				t.Errorf("%d inputs opened, want 3 to %d (those taken before the cancel)", n, 2+workers)
			}
			if res == nil {
				t.Fatal("no result")
			}
		})
	}
}
