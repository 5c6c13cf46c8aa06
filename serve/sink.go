package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
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
}

// Refusal is an item a destination will not take, and why.
type Refusal struct {
	ID     string
	Reason string
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d item(s) to retry, %d refused", len(e.Retry), len(e.Refused))
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
// before Deliver returns) or to standard output.
type FileSink struct {
	// Format, when set, writes each alert in it (default: alert.WriteJSONL).
	Format Format
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	sync   bool
	m      *Metrics
	name   string
}

// OpenFileSink opens path for appending ("-": standard output, w).
func OpenFileSink(name, path string, stdout io.Writer, m *Metrics) (*FileSink, error) {
	s := &FileSink{m: m, name: name}
	if path == "-" {
		s.w = bufio.NewWriter(stdout)
		return s, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("alerts file: %w", err)
	}
	s.f, s.w, s.sync = f, bufio.NewWriterSize(f, 256<<10), true
	return s, nil
}

// Deliver writes the alerts and syncs the file.
func (s *FileSink) Deliver(_ context.Context, as []alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Format == nil {
		if err := alert.WriteJSONL(s.w, as); err != nil {
			return err
		}
	} else {
		for _, a := range as {
			b, err := s.Format(a)
			if err != nil {
				return fmt.Errorf("encoding alert %s: %w", a.ID, err)
			}
			s.w.Write(b)
			if err := s.w.WriteByte('\n'); err != nil {
				return fmt.Errorf("writing alerts: %w", err)
			}
		}
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
