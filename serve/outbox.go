package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trailhound/trailhound/alert"
)

// Outbox is a sink's on-disk queue: Deliver writes the alerts' documents
// to a file in its folder (synced) and returns; a goroutine sends the
// files in order through the Sender, retrying with backoff until they
// arrive, and deletes them. What is left at a stop is sent at the next
// start. The folder's size is bounded: Deliver waits while it is full.
type Outbox struct {
	name     string
	dir      string
	sender   Sender
	maxBytes int64
	m        *Metrics
	log      *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between attempts
	// (exponential, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// SendTimeout bounds one attempt (default DefaultSendTimeout), plus a
	// second per MiB of the file sent: a destination that takes the
	// connection and never answers is retried like one that fails.
	SendTimeout time.Duration

	mu      sync.Mutex
	files   []boxFile
	bytes   int64
	seq     uint64
	wake    chan struct{} // a file was added, or the outbox is closing
	space   chan struct{} // a file was removed
	closing bool

	ctx    context.Context // the sender's: cancelled when Close gives up
	cancel context.CancelFunc
	done   chan struct{}
}

type boxFile struct {
	path  string
	size  int64
	items int
}

// DefaultSendTimeout is how long one delivery attempt of an outbox may
// take before it is given up and retried.
const DefaultSendTimeout = time.Minute

// OpenOutbox opens (creating) an outbox folder for sender and starts
// sending what it holds. maxBytes bounds the folder (default 1 GiB).
func OpenOutbox(name, dir string, sender Sender, maxBytes int64, m *Metrics, log *slog.Logger) (*Outbox, error) {
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o := &Outbox{name: name, dir: dir, sender: sender, maxBytes: maxBytes, m: m, log: log,
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 30 * time.Second, SendTimeout: DefaultSendTimeout,
		wake: make(chan struct{}, 1), space: make(chan struct{}, 1), done: make(chan struct{})}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, ".tmp"):
			os.Remove(filepath.Join(dir, n)) // never delivered: Deliver had not returned
		case strings.HasSuffix(n, ".jsonl"):
			p := filepath.Join(dir, n)
			items, err := readItems(p)
			if err != nil {
				return nil, fmt.Errorf("outbox %s: %w", p, err)
			}
			fi, err := e.Info()
			if err != nil {
				return nil, fmt.Errorf("outbox: %w", err)
			}
			o.files = append(o.files, boxFile{p, fi.Size(), len(items)})
			o.bytes += fi.Size()
			var seq uint64
			fmt.Sscanf(n, "%d.jsonl", &seq)
			o.seq = max(o.seq, seq)
		}
	}
	slices.SortFunc(o.files, func(a, b boxFile) int { return strings.Compare(a.path, b.path) })
	if len(o.files) > 0 {
		log.Info("outbox: resending alerts left at the last stop", "sink", name, "files", len(o.files))
	}
	o.gauge()
	go o.run()
	return o, nil
}

func (o *Outbox) gauge() {
	n := 0
	for _, f := range o.files {
		n += f.items
	}
	o.m.OutboxDepth.WithLabelValues(o.name).Set(float64(n))
	o.m.OutboxBytes.WithLabelValues(o.name).Set(float64(o.bytes))
}

// Deliver encodes the alerts and writes them to the outbox.
func (o *Outbox) Deliver(ctx context.Context, as []alert.Alert) error {
	var buf bytes.Buffer
	for _, a := range as {
		it, err := o.sender.Encode(a)
		if err != nil {
			return fmt.Errorf("encoding alert %s: %w", a.ID, err)
		}
		b, err := json.Marshal(it)
		if err != nil {
			return fmt.Errorf("encoding alert %s: %w", a.ID, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	size := int64(buf.Len())
	for {
		o.mu.Lock()
		if len(o.files) == 0 || o.bytes+size <= o.maxBytes {
			break
		}
		o.mu.Unlock()
		select { // full: wait for the sender
		case <-o.space:
		case <-ctx.Done():
			return fmt.Errorf("outbox full (%d bytes): %w", o.maxBytes, ctx.Err())
		}
	}
	defer o.mu.Unlock()
	o.seq++
	path := filepath.Join(o.dir, fmt.Sprintf("%020d.jsonl", o.seq))
	if err := writeSynced(path, buf.Bytes()); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	o.files = append(o.files, boxFile{path, size, len(as)})
	o.bytes += size
	o.gauge()
	signal(o.wake)
	return nil
}

// writeSynced writes a file whole and durably: a temporary file, synced,
// renamed, and the folder synced.
func writeSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func readItems(path string) ([]Item, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var items []Item
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<30)
	for line := 1; sc.Scan(); line++ {
		var it Item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		items = append(items, it)
	}
	return items, sc.Err()
}

// run sends the files in order until Close.
func (o *Outbox) run() {
	defer close(o.done)
	backoff := time.Duration(0)
	for {
		o.mu.Lock()
		if len(o.files) == 0 {
			closing := o.closing
			o.mu.Unlock()
			if closing {
				return
			}
			select {
			case <-o.wake:
				continue
			case <-o.ctx.Done():
				return
			}
		}
		f := o.files[0]
		o.mu.Unlock()
		items, err := readItems(f.path)
		if err != nil {
			o.log.Error("outbox: unreadable file set aside", "sink", o.name, "file", f.path, "error", err)
			os.Rename(f.path, f.path+".bad")
			o.remove(f)
			continue
		}
		limit := o.SendTimeout + time.Duration(f.size>>20)*time.Second // a large backlog's file gets the time to go
		sctx, cancel := context.WithTimeout(o.ctx, limit)
		err = o.sender.Send(sctx, items)
		if err != nil && sctx.Err() == context.DeadlineExceeded && o.ctx.Err() == nil {
			err = fmt.Errorf("no answer in %v: %w", limit, err)
		}
		cancel()
		var pe *PartialError
		switch {
		case err == nil:
			o.m.SinkAlerts.WithLabelValues(o.name).Add(float64(len(items)))
			os.Remove(f.path)
			o.remove(f)
			backoff = 0
			continue
		case errors.As(err, &pe):
			for _, r := range pe.Refused {
				o.log.Error("sink refused an alert; not retried", "sink", o.name, "alert", r.ID, "reason", r.Reason)
			}
			o.m.SinkDropped.WithLabelValues(o.name).Add(float64(len(pe.Refused)))
			o.m.SinkAlerts.WithLabelValues(o.name).Add(float64(len(items) - len(pe.Retry) - len(pe.Refused)))
			if len(pe.Retry) == 0 {
				os.Remove(f.path)
				o.remove(f)
				backoff = 0
				continue
			}
			if err := o.rewrite(f, pe.Retry); err != nil {
				o.log.Error("outbox: rewriting the items to retry", "sink", o.name, "error", err)
			}
		}
		if o.ctx.Err() != nil {
			return
		}
		o.m.SinkRetries.WithLabelValues(o.name).Inc()
		backoff = min(max(2*backoff, o.MinBackoff), o.MaxBackoff)
		wait := backoff/2 + rand.N(backoff/2+1)
		o.log.Warn("sink delivery failed; retrying", "sink", o.name, "error", err, "in", wait.Round(time.Millisecond).String())
		select {
		case <-time.After(wait):
		case <-o.ctx.Done():
			return
		}
	}
}

// rewrite keeps only items in f.
func (o *Outbox) rewrite(f boxFile, items []Item) error {
	var buf bytes.Buffer
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := writeSynced(f.path, buf.Bytes()); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bytes += int64(buf.Len()) - o.files[0].size
	o.files[0].size, o.files[0].items = int64(buf.Len()), len(items)
	o.gauge()
	return nil
}

func (o *Outbox) remove(f boxFile) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.files = o.files[1:]
	o.bytes -= f.size
	o.gauge()
	signal(o.space)
}

// Close waits until ctx ends for the outbox to empty, then stops; what is
// left stays on disk for the next start.
func (o *Outbox) Close(ctx context.Context) error {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	signal(o.wake)
	select {
	case <-o.done:
	case <-ctx.Done():
		o.cancel()
		<-o.done
	}
	o.cancel()
	if c, ok := o.sender.(interface{ Close() }); ok {
		c.Close()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.files); n > 0 {
		o.log.Warn("outbox not empty at stop; it is sent at the next start", "sink", o.name, "files", n, "bytes", o.bytes)
	}
	return nil
}
