package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/trailhound/trailhound/alert"
)

// SplunkHEC sends alerts to Splunk's HTTP Event Collector: POST
// URL/services/collector/event with "Authorization: Splunk TOKEN", one
// event object per alert ({"time", "sourcetype", "source", "index",
// "event": the alert}), batched in one body. 2xx is delivered; 429, 503
// (server busy) and other server errors are retried; other answers (a bad
// token, a disabled collector, invalid data) refuse the batch for good
// (reported).
type SplunkHEC struct {
	URL        string // the collector, e.g. https://splunk:8088
	Token      string
	Index      string // default: the token's
	SourceType string // default trailhound:alert
	Format     Format // the event; default trailhound's alert JSON
	Client     *http.Client
}

// Encode is the HEC event object for an alert.
func (s *SplunkHEC) Encode(a alert.Alert) (Item, error) {
	doc, err := orAlert(s.Format)(a)
	if err != nil {
		return Item{}, err
	}
	st := s.SourceType
	if st == "" {
		st = "trailhound:alert"
	}
	ev := map[string]any{"sourcetype": st, "source": "trailhound", "event": json.RawMessage(doc)}
	if !a.Time.IsZero() {
		ev["time"] = float64(a.Time.UnixMilli()) / 1000
	}
	if s.Index != "" {
		ev["index"] = s.Index
	}
	b, err := json.Marshal(ev)
	return Item{ID: a.ID, Doc: b}, err
}

// Send posts the items in one request.
func (s *SplunkHEC) Send(ctx context.Context, items []Item) error {
	var body bytes.Buffer
	for _, it := range items {
		body.Write(it.Doc)
		body.WriteByte('\n')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.URL, "/")+"/services/collector/event", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Splunk "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	return post(s.Client, req, "splunk hec", items)
}
