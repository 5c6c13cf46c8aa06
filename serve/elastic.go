package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/trailhound/trailhound/alert"
)

// Elasticsearch sends alerts with the bulk API: one index action per
// alert, _id = the alert id, so a redelivered alert replaces itself.
// Items refused with 429 or a server error are retried; other item errors
// (mapping conflicts) are refused for good and reported.
type Elasticsearch struct {
	URL      string // the cluster, e.g. https://es:9200
	Index    string // default trailhound-alerts
	APIKey   string // Authorization: ApiKey ...
	Username string // basic authentication
	Password string
	Format   Format // default: the alert JSON with event.kind: alert
	Client   *http.Client
}

// Encode is the alert's document: trailhound's alert JSON with
// event.kind: alert, as ECS marks alert documents (or the Format's).
func (e *Elasticsearch) Encode(a alert.Alert) (Item, error) {
	if e.Format != nil {
		b, err := e.Format(a)
		return Item{ID: a.ID, Doc: b}, err
	}
	b, err := encodeAlert(a)
	if err != nil {
		return Item{}, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return Item{}, err
	}
	var ev map[string]any
	if err := json.Unmarshal(doc["event"], &ev); err != nil || ev == nil {
		ev = map[string]any{}
	}
	ev["kind"] = "alert"
	if doc["event"], err = json.Marshal(ev); err != nil {
		return Item{}, err
	}
	out, err := json.Marshal(doc)
	return Item{ID: a.ID, Doc: out}, err
}

type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		ID     string          `json:"_id"`
		Status int             `json:"status"`
		Error  json.RawMessage `json:"error"`
	} `json:"items"`
}

// Send posts one bulk request.
func (e *Elasticsearch) Send(ctx context.Context, items []Item) error {
	index := e.Index
	if index == "" {
		index = "trailhound-alerts"
	}
	var body bytes.Buffer
	for _, it := range items {
		action, _ := json.Marshal(map[string]any{"index": map[string]string{"_index": index, "_id": it.ID}})
		body.Write(action)
		body.WriteByte('\n')
		body.Write(it.Doc)
		body.WriteByte('\n')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(e.URL, "/")+"/_bulk", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	switch {
	case e.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+e.APIKey)
	case e.Username != "":
		req.SetBasicAuth(e.Username, e.Password)
	}
	client := e.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("bulk: %w", hideURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("bulk: reading the response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bulk: %s: %s", resp.Status, clip(string(data), 300))
	}
	var br bulkResponse
	if err := json.Unmarshal(data, &br); err != nil {
		return fmt.Errorf("bulk: response: %w", err)
	}
	if len(br.Items) != len(items) {
		return fmt.Errorf("bulk: %d items in the response for %d sent", len(br.Items), len(items))
	}
	if !br.Errors {
		return nil
	}
	pe := &PartialError{}
	for i, m := range br.Items {
		for _, r := range m { // one action: index
			switch {
			case r.Status/100 == 2:
			case r.Status == http.StatusTooManyRequests || r.Status >= 500:
				pe.Retry = append(pe.Retry, items[i])
				if pe.Cause == nil {
					pe.Cause = fmt.Errorf("bulk: item status %d: %s", r.Status, clip(string(r.Error), 300))
				}
			default:
				pe.Refused = append(pe.Refused, Refusal{ID: items[i].ID, Reason: fmt.Sprintf("status %d: %s", r.Status, clip(string(r.Error), 300))})
			}
		}
	}
	if len(pe.Retry)+len(pe.Refused) == 0 {
		return nil
	}
	return pe
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
