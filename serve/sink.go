package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/trailhound/trailhound/alert"
)

// Filter picks the alerts a sink gets.
type Filter struct {
	// MinSeverity: low, medium, high or critical ("" lets all through;
	// an alert of unknown severity counts as low).
	MinSeverity string
	// Tags: when not empty, only alerts of rules carrying one of them.
	Tags []string
}

var severityRank = map[string]int{"informational": 0, "info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

// ParseSeverity checks a min_severity value.
func ParseSeverity(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if _, ok := severityRank[s]; !ok && s != "" {
		return "", fmt.Errorf("severity %q: want low, medium, high or critical", s)
	}
	return s, nil
}

// Match reports whether the filter lets a through.
func (f Filter) Match(a alert.Alert) bool {
	if f.MinSeverity != "" {
		r, ok := severityRank[strings.ToLower(a.Rule.Severity)]
		if !ok {
			r = 1
		}
		if r < severityRank[f.MinSeverity] {
			return false
		}
	}
	if len(f.Tags) > 0 {
		for _, t := range f.Tags {
			if slices.Contains(a.Rule.Tags, t) {
				return true
			}
		}
		return false
	}
	return true
}

// Item is one alert as a sink sends it: its id and its encoded document.
type Item struct {
	ID  string          `json:"id"`
	Doc json.RawMessage `json:"doc"`
}

// Sender sends alerts to a destination; an Outbox retries for it.
type Sender interface {
	// Encode makes the document the destination gets for an alert.
	Encode(a alert.Alert) (Item, error)
	// Send delivers items. nil means all arrived; a *PartialError names
	// those to retry and those refused for good; any other error means
	// all are retried.
	Send(ctx context.Context, items []Item) error
}

// PartialError is a delivery where some items did not arrive.
type PartialError struct {
	Retry   []Item    // to send again (throttled, server errors)
	Refused []Refusal // refused for good (mapping errors): logged and counted, not retried
	Cause   error     // why Retry are to be sent again (for the log)
}

// Refusal is an item a destination will not take, and why.
type Refusal struct {
	ID     string
	Reason string
}

func (e *PartialError) Error() string {
	s := fmt.Sprintf("%d item(s) to retry, %d refused", len(e.Retry), len(e.Refused))
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *PartialError) Unwrap() error { return e.Cause }

// hideURL makes a transport error name the destination by scheme and host
// only: the path and query of a webhook URL often are its secret (Slack's
// hooks.slack.com/services/T/B/SECRET), and errors are logged.
func hideURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = u.Scheme + "://" + u.Host + "/..."
		} else {
			ue.URL = "(the sink's URL)"
		}
	}
	return err
}

// encodeAlert is trailhound's alert JSON (as hunt writes it), without the
// trailing newline.
func encodeAlert(a alert.Alert) ([]byte, error) {
	var b strings.Builder
	if err := alert.WriteJSONL(&b, []alert.Alert{a}); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// FileSink writes alerts as JSON Lines to a file (appended to, synced
// before Deliver returns) or to standard output. With MaxSize the file is
// rotated (see Rotate).
type FileSink struct {
	// Format, when set, writes each alert in it (default: alert.WriteJSONL).
	Format Format
	// Rotate, when its MaxSize is set, rotates the file by size.
	Rotate Rotation
	mu     sync.Mutex
	path   string
	f      *os.File
	w      *bufio.Writer
	size   int64 // bytes in the file
	sync   bool
	m      *Metrics
	name   string
	line   bytes.Buffer
}

// Rotation is how a JSON Lines file is rotated: once the next alert would
// take it past MaxSize, it is synced and renamed PATH.1 (PATH.1 becomes
// PATH.2, and so on; the one past MaxFiles is deleted) and a new PATH is
// started. A line is never split: an alert larger than MaxSize has a file
// to itself.
type Rotation struct {
	MaxSize  int64 // bytes; 0: no rotation
	MaxFiles int   // old files kept (default 5)
}

// DefaultMaxFiles is how many rotated files are kept by default.
const DefaultMaxFiles = 5

// OpenFileSink opens path for appending ("-": standard output, w).
func OpenFileSink(name, path string, stdout io.Writer, m *Metrics) (*FileSink, error) {
	s := &FileSink{m: m, name: name, path: path}
	if path == "-" {
		s.w = bufio.NewWriter(stdout)
		return s, nil
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FileSink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("alerts file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("alerts file: %w", err)
	}
	s.f, s.w, s.sync, s.size = f, bufio.NewWriterSize(f, 256<<10), true, fi.Size()
	return nil
}

// Deliver writes the alerts and syncs the file.
func (s *FileSink) Deliver(_ context.Context, as []alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range as {
		s.line.Reset()
		if s.Format == nil {
			if err := alert.WriteJSONL(&s.line, []alert.Alert{a}); err != nil {
				return fmt.Errorf("encoding alert %s: %w", a.ID, err)
			}
		} else {
			b, err := s.Format(a)
			if err != nil {
				return fmt.Errorf("encoding alert %s: %w", a.ID, err)
			}
			s.line.Write(b)
			s.line.WriteByte('\n')
		}
		if s.f != nil && s.Rotate.MaxSize > 0 && s.size > 0 && s.size+int64(s.line.Len()) > s.Rotate.MaxSize {
			if err := s.rotate(); err != nil {
				return err
			}
		}
		if _, err := s.w.Write(s.line.Bytes()); err != nil {
			return fmt.Errorf("writing alerts: %w", err)
		}
		s.size += int64(s.line.Len())
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	if s.sync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("syncing alerts file: %w", err)
		}
	}
	s.m.SinkAlerts.WithLabelValues(s.name).Add(float64(len(as)))
	return nil
}

// rotate syncs and closes the file, shifts the old ones (PATH.N-1 to
// PATH.N, ..., PATH to PATH.1, the oldest past MaxFiles deleted), syncs the
// folder and opens a new PATH. A crash in between leaves every line in one
// of the files.
func (s *FileSink) rotate() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("syncing alerts file: %w", err)
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("closing alerts file: %w", err)
	}
	s.f = nil
	n := s.Rotate.MaxFiles
	if n <= 0 {
		n = DefaultMaxFiles
	}
	old := func(i int) string { return s.path + "." + strconv.Itoa(i) }
	if err := os.Remove(old(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotating alerts file: %w", err)
	}
	for i := n - 1; i >= 1; i-- {
		if err := os.Rename(old(i), old(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotating alerts file: %w", err)
		}
	}
	if err := os.Rename(s.path, old(1)); err != nil {
		return fmt.Errorf("rotating alerts file: %w", err)
	}
	if err := s.open(); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("syncing the alerts folder: %w", err)
		}
	}
	return nil
}

// checkRotation checks a jsonl sink's max_size and max_files.
func checkRotation(s *SinkConfig) error {
	if s.Type != "jsonl" && (s.MaxSize != "" || s.MaxFiles != 0) {
		return fmt.Errorf("max_size and max_files are for jsonl sinks, not %s", s.Type)
	}
	if s.MaxSize == "" {
		if s.MaxFiles != 0 {
			return errors.New("max_files goes with max_size")
		}
		return nil
	}
	if s.Path == "-" {
		return errors.New("standard output is not rotated: max_size needs a file")
	}
	if _, err := ParseBytes(s.MaxSize); err != nil {
		return fmt.Errorf("max_size: %w", err)
	}
	if s.MaxFiles < 0 {
		return fmt.Errorf("max_files %d: want 1 or more (default %d)", s.MaxFiles, DefaultMaxFiles)
	}
	return nil
}

// Close closes the file.
func (s *FileSink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.w.Flush()
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
