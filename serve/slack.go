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

// Slack posts one message per alert to an incoming webhook: the rule,
// severity, ATT&CK tactics and techniques, actor, source address, event and
// time, and the alert id, as plain text without links. 2xx is delivered;
// 429 and server errors are retried; other answers (invalid_payload,
// no_service) refuse the alert for good (reported).
type Slack struct {
	URL    string
	Client *http.Client
}

// Encode is the Slack message for an alert.
func (s *Slack) Encode(a alert.Alert) (Item, error) {
	who, src := alert.ActorAndSource(a)
	var tactics, techniques []string
	for _, t := range a.Rule.Threat {
		if t.Tactic.Name != "" {
			tactics = append(tactics, t.Tactic.Name)
		}
		for _, tq := range t.Techniques {
			techniques = append(techniques, strings.TrimSpace(tq.ID+" "+tq.Name))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* (%s)\n", mdEscape(a.Rule.Name), mdEscape(strings.ToLower(a.Rule.Severity)))
	if len(tactics)+len(techniques) > 0 {
		fmt.Fprintf(&b, "ATT&CK: %s\n", mdEscape(strings.Join(append(tactics, techniques...), ", ")))
	}
	if who != "" {
		fmt.Fprintf(&b, "Actor: %s\n", mdEscape(who))
	}
	if src != "" {
		fmt.Fprintf(&b, "Source: %s\n", mdEscape(src))
	}
	if a.Event.Action != "" {
		fmt.Fprintf(&b, "Event: %s %s at %s\n", mdEscape(a.Event.Provider), mdEscape(a.Event.Action), a.Time.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if a.Title != "" {
		fmt.Fprintf(&b, "%s\n", mdEscape(a.Title))
	}
	fmt.Fprintf(&b, "Alert id: %s", a.ID)
	doc, err := json.Marshal(map[string]any{"text": b.String(), "unfurl_links": false, "unfurl_media": false})
	return Item{ID: a.ID, Doc: doc}, err
}

// mdEscape keeps Slack from reading text as markup or links (its three
// control characters).
func mdEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Send posts the messages one by one; after a retryable failure the rest
// are retried, what was posted is not.
func (s *Slack) Send(ctx context.Context, items []Item) error {
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	pe := &PartialError{}
	for i, it := range items {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(it.Doc))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			pe.Retry, pe.Cause = append(pe.Retry, items[i:]...), fmt.Errorf("slack: %w", hideURL(err))
			return pe
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch c := resp.StatusCode; {
		case c/100 == 2:
		case c == http.StatusTooManyRequests || c >= 500:
			pe.Retry, pe.Cause = append(pe.Retry, items[i:]...), fmt.Errorf("slack: %s: %s", resp.Status, clip(string(msg), 300))
			return pe
		default:
			pe.Refused = append(pe.Refused, Refusal{ID: it.ID, Reason: fmt.Sprintf("slack: %s: %s", resp.Status, clip(string(msg), 300))})
		}
	}
	if len(pe.Refused) > 0 {
		return pe
	}
	return nil
}
