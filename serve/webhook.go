package serve

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/trailhound/trailhound/alert"
)

// SignatureHeader carries a webhook body's HMAC-SHA256 when a secret is
// set: "sha256=" and the hex digest of the body.
const SignatureHeader = "X-Trailhound-Signature-256"

// Webhook posts alerts as a JSON array of trailhound alerts. 2xx is
// delivered; 408, 429 and server errors are retried; other answers refuse
// the batch for good (reported).
type Webhook struct {
	URL     string
	Secret  string            // when set, the body is signed (SignatureHeader)
	Headers map[string]string // extra headers (e.g. Authorization)
	Format  Format            // default: trailhound's alert JSON
	Client  *http.Client
}

// Encode is the alert in the webhook's format.
func (w *Webhook) Encode(a alert.Alert) (Item, error) {
	b, err := orAlert(w.Format)(a)
	return Item{ID: a.ID, Doc: b}, err
}

// Send posts the items in one request.
func (w *Webhook) Send(ctx context.Context, items []Item) error {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(it.Doc)
	}
	body.WriteByte(']')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	if w.Secret != "" {
		mac := hmac.New(sha256.New, []byte(w.Secret))
		mac.Write(body.Bytes())
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	return post(w.Client, req, "webhook", items, http.StatusRequestTimeout)
}

// orAlert is f, or trailhound's alert JSON when f is nil.
func orAlert(f Format) Format {
	if f == nil {
		return encodeAlert
	}
	return f
}

// post sends req and sorts the answer for an outbox: 2xx delivered; 429,
// server errors and the retry codes given: an error (all retried); other
// answers: every item refused for good, with the answer as the reason.
func post(client *http.Client, req *http.Request, name string, items []Item, retry ...int) error {
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", name, hideURL(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	c := resp.StatusCode
	switch {
	case c/100 == 2:
		return nil
	case c == http.StatusTooManyRequests || c >= 500 || slices.Contains(retry, c):
		return fmt.Errorf("%s: %s: %s", name, resp.Status, clip(string(msg), 300))
	}
	pe := &PartialError{}
	for _, it := range items {
		pe.Refused = append(pe.Refused, Refusal{ID: it.ID, Reason: fmt.Sprintf("%s: %s: %s", name, resp.Status, clip(string(msg), 300))})
	}
	return pe
}
