// Package notify parses the messages that announce new CloudTrail log objects
// in S3, as they arrive on an SQS queue: S3 event notifications (direct or
// wrapped in SNS), S3 events through EventBridge, and CloudTrail's own SNS
// message. Every form yields the objects to read; a message that is none of
// them is an error (a poison message), never a panic.
package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Object is an S3 object a message announces.
type Object struct {
	Bucket string
	Key    string    // decoded: the key as S3 stores it
	ETag   string    // without quotes; empty when the message does not say (CloudTrail's message)
	Size   int64     // -1 when the message does not say
	Time   time.Time // when the object was written, when the message says
}

// Message is what one notification says.
type Message struct {
	Kind    string   // the form: one of the Kind* constants
	Objects []Object // objects created, to read
	Ignored []string // what the message announced and is not read, and why (test events, deletions)
}

// Forms of notification.
const (
	KindS3          = "s3"          // S3 event notification ({"Records":[{"eventSource":"aws:s3",...}]})
	KindS3Test      = "s3-test"     // S3's s3:TestEvent, sent when notifications are configured
	KindEventBridge = "eventbridge" // an S3 event through EventBridge ({"source":"aws.s3","detail":{...}})
	KindCloudTrail  = "cloudtrail"  // CloudTrail's SNS message ({"s3Bucket":...,"s3ObjectKey":[...]})
	KindSNS         = "sns"         // an SNS message that is no notification (a subscription confirmation)
)

// maxDepth bounds SNS envelopes inside SNS envelopes.
const maxDepth = 3

// Parse reads one message body. SNS envelopes ({"Type":"Notification",
// "Message":"..."}) are opened and what they carry is parsed; Kind is the
// form found inside. An error says why the message is not a notification.
func Parse(body []byte) (Message, error) {
	return parse(body, 0)
}

func parse(body []byte, depth int) (Message, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return Message{}, fmt.Errorf("not a JSON object: %w", err)
	}
	switch {
	case top["Type"] != nil && top["Message"] != nil:
		return parseSNS(top, depth)
	case top["Records"] != nil:
		return parseS3(top["Records"])
	case top["Event"] != nil && top["Service"] != nil:
		return parseS3Test(top)
	case top["detail"] != nil && top["source"] != nil:
		return parseEventBridge(body)
	case top["s3Bucket"] != nil || top["s3ObjectKey"] != nil:
		return parseCloudTrail(top)
	}
	return Message{}, fmt.Errorf("not an S3, EventBridge or CloudTrail notification (top-level keys: %s)", keysOf(top))
}

func keysOf(m map[string]json.RawMessage) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if len(ks) > 10 {
		ks = append(ks[:10], "...")
	}
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(ks, ", ")
}

func parseSNS(top map[string]json.RawMessage, depth int) (Message, error) {
	var typ, msg string
	if err := json.Unmarshal(top["Type"], &typ); err != nil {
		return Message{}, fmt.Errorf("SNS envelope: Type: %w", err)
	}
	if err := json.Unmarshal(top["Message"], &msg); err != nil {
		return Message{}, fmt.Errorf("SNS envelope: Message is not a string: %w", err)
	}
	if typ != "Notification" {
		// SubscriptionConfirmation, UnsubscribeConfirmation: nothing to read.
		return Message{Kind: KindSNS, Ignored: []string{"SNS " + typ + " message"}}, nil
	}
	if depth >= maxDepth {
		return Message{}, fmt.Errorf("SNS envelopes nested more than %d deep", maxDepth)
	}
	m, err := parse([]byte(msg), depth+1)
	if err != nil {
		return Message{}, fmt.Errorf("SNS notification's Message: %w", err)
	}
	return m, nil
}

type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	EventTime   string `json:"eventTime"`
	S3          *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  string          `json:"key"`
			Size json.RawMessage `json:"size"`
			ETag string          `json:"eTag"`
		} `json:"object"`
	} `json:"s3"`
}

func parseS3(raw json.RawMessage) (Message, error) {
	var recs []s3Record
	if err := json.Unmarshal(raw, &recs); err != nil {
		return Message{}, fmt.Errorf("S3 notification: Records: %w", err)
	}
	m := Message{Kind: KindS3}
	if len(recs) == 0 {
		return Message{}, errors.New("S3 notification: no Records")
	}
	for i, r := range recs {
		if r.EventSource != "aws:s3" || r.S3 == nil {
			return Message{}, fmt.Errorf("S3 notification: record %d: eventSource %q, want aws:s3 with an s3 object", i, r.EventSource)
		}
		bucket, rawKey := r.S3.Bucket.Name, r.S3.Object.Key
		// S3 URL-encodes keys in notifications, as a form value: '+' is a space.
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return Message{}, fmt.Errorf("S3 notification: record %d: key %q: %w", i, rawKey, err)
		}
		if bucket == "" || key == "" {
			return Message{}, fmt.Errorf("S3 notification: record %d: no bucket name or object key", i)
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			m.Ignored = append(m.Ignored, fmt.Sprintf("s3://%s/%s: %s (only ObjectCreated events are read)", bucket, key, r.EventName))
			continue
		}
		size, err := sizeOf(r.S3.Object.Size)
		if err != nil {
			return Message{}, fmt.Errorf("S3 notification: record %d: size: %w", i, err)
		}
		m.Objects = append(m.Objects, Object{Bucket: bucket, Key: key, ETag: strings.Trim(r.S3.Object.ETag, `"`), Size: size, Time: parseTime(r.EventTime)})
	}
	return m, nil
}

// sizeOf reads a size given as a number or a string; absent is -1.
func sizeOf(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return -1, nil
	}
	var n json.Number
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		n = json.Number(s)
	} else if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	v, err := n.Int64()
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s is not a size", raw)
	}
	return v, nil
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func parseS3Test(top map[string]json.RawMessage) (Message, error) {
	var event, bucket string
	if err := json.Unmarshal(top["Event"], &event); err != nil {
		return Message{}, fmt.Errorf("S3 test event: Event: %w", err)
	}
	if event != "s3:TestEvent" {
		return Message{}, fmt.Errorf("S3 message with Event %q, want s3:TestEvent", event)
	}
	json.Unmarshal(top["Bucket"], &bucket) // for the log line only
	return Message{Kind: KindS3Test, Ignored: []string{"S3 test event (s3:TestEvent) for bucket " + bucket}}, nil
}

type ebEvent struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Time       string `json:"time"`
	Detail     struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  string          `json:"key"`
			Size json.RawMessage `json:"size"`
			ETag string          `json:"etag"`
		} `json:"object"`
	} `json:"detail"`
}

func parseEventBridge(body []byte) (Message, error) {
	var e ebEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return Message{}, fmt.Errorf("EventBridge event: %w", err)
	}
	if e.Source != "aws.s3" {
		return Message{}, fmt.Errorf("EventBridge event from %q, want aws.s3", e.Source)
	}
	bucket, key := e.Detail.Bucket.Name, e.Detail.Object.Key
	if bucket == "" || key == "" {
		return Message{}, errors.New("EventBridge S3 event: no detail.bucket.name or detail.object.key")
	}
	m := Message{Kind: KindEventBridge}
	if e.DetailType != "Object Created" {
		m.Ignored = append(m.Ignored, fmt.Sprintf("s3://%s/%s: %s (only Object Created events are read)", bucket, key, e.DetailType))
		return m, nil
	}
	size, err := sizeOf(e.Detail.Object.Size)
	if err != nil {
		return Message{}, fmt.Errorf("EventBridge S3 event: size: %w", err)
	}
	// EventBridge's S3 events carry the key as it is (not URL-encoded).
	m.Objects = append(m.Objects, Object{Bucket: bucket, Key: key, ETag: strings.Trim(e.Detail.Object.ETag, `"`), Size: size, Time: parseTime(e.Time)})
	return m, nil
}

func parseCloudTrail(top map[string]json.RawMessage) (Message, error) {
	var bucket string
	var keys []string
	if err := json.Unmarshal(top["s3Bucket"], &bucket); err != nil || bucket == "" {
		return Message{}, errors.New("CloudTrail notification: s3Bucket is not a bucket name")
	}
	if err := json.Unmarshal(top["s3ObjectKey"], &keys); err != nil || len(keys) == 0 {
		return Message{}, errors.New("CloudTrail notification: s3ObjectKey is not a list of keys")
	}
	m := Message{Kind: KindCloudTrail}
	for i, k := range keys {
		if k == "" {
			return Message{}, fmt.Errorf("CloudTrail notification: s3ObjectKey %d is empty", i)
		}
		m.Objects = append(m.Objects, Object{Bucket: bucket, Key: k, Size: -1})
	}
	return m, nil
}
