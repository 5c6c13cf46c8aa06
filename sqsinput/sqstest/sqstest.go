// Package sqstest is a small SQS server for tests: it speaks SQS's JSON
// protocol (AWS JSON 1.0, X-Amz-Target: AmazonSQS.<Operation>) over HTTP, so
// the real AWS SDK is exercised, for the operations the SQS input uses:
// ReceiveMessage (with long polling), DeleteMessage, ChangeMessageVisibility,
// SendMessage and GetQueueAttributes. Messages have visibility timeouts,
// receipt handles that change with every receipt, and
// ApproximateReceiveCount, as SQS gives them.
package sqstest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/logging"
)

// Server is an SQS server in process.
type Server struct {
	URL string
	ts  *httptest.Server

	mu      sync.Mutex
	cond    chan struct{} // closed and replaced when a message may have become visible
	queues  map[string]*queue
	nextID  int
	calls   map[string]int      // operation -> calls
	polling int                 // receives in progress
	fail    map[string][]string // operation -> error codes to answer its next calls with
	lose    map[string]int      // operation -> next calls carried out whose answer is lost
	changes []Change
}

// Change is a ChangeMessageVisibility call the server accepted.
type Change struct {
	MessageID  string
	Visibility time.Duration
}

type queue struct {
	redrive    string        // RedrivePolicy attribute
	visibility time.Duration // the queue's default
	msgs       []*message
	deleted    []string
}

type message struct {
	id, body  string
	receipt   string // the latest receipt handle
	receives  int
	sent      time.Time
	visibleAt time.Time
}

// New starts an SQS server for the test with the named queues (default
// visibility timeout 30 s), stopped when the test ends.
func New(t testing.TB, queues ...string) *Server {
	t.Helper()
	s := &Server{queues: map[string]*queue{}, calls: map[string]int{}, fail: map[string][]string{}, lose: map[string]int{}, cond: make(chan struct{})}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	s.URL = s.ts.URL
	for _, q := range queues {
		s.queues[s.QueueURL(q)] = &queue{visibility: 30 * time.Second}
	}
	return s
}

// QueueURL is the URL of a queue of the server.
func (s *Server) QueueURL(name string) string { return s.URL + "/123456789012/" + name }

// Client is an SQS client of the real SDK talking to the server.
func (s *Server) Client() *sqs.Client {
	return sqs.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Logger:      logging.Nop{},
	}, func(o *sqs.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

// SetVisibility sets a queue's default visibility timeout.
func (s *Server) SetVisibility(queueName string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[s.QueueURL(queueName)].visibility = d
}

// SetRedrive sets a queue's RedrivePolicy attribute (SQS's own DLQ), e.g.
// {"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":"3"}.
func (s *Server) SetRedrive(queueName, policy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[s.QueueURL(queueName)].redrive = policy
}

// Fail makes the next calls of an operation fail, one per code given, with
// HTTP 400 and that error code (e.g. AccessDenied, which the SDK does not
// retry).
func (s *Server) Fail(op string, codes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = append(s.fail[op], codes...)
}

// LoseAnswers makes the next n calls of an operation take effect (a
// receive takes its messages out of sight for the visibility timeout) and
// then close the connection without an answer, as a network failure
// between the service and the client does.
func (s *Server) LoseAnswers(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose[op] += n
}

// Send puts a message on a queue, visible after delay, and returns its id.
func (s *Server) Send(queueName, body string, delay time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.send(s.queues[s.QueueURL(queueName)], body, delay)
}

func (s *Server) send(q *queue, body string, delay time.Duration) string {
	s.nextID++
	id := fmt.Sprintf("m-%04d", s.nextID)
	now := time.Now()
	q.msgs = append(q.msgs, &message{id: id, body: body, sent: now, visibleAt: now.Add(delay)})
	s.wake()
	return id
}

// wake tells long polls to look again.
func (s *Server) wake() {
	close(s.cond)
	s.cond = make(chan struct{})
}

// Counts says how many messages of a queue are visible, in flight
// (received and hidden) and deleted.
func (s *Server) Counts(queueName string) (visible, inFlight, deleted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[s.QueueURL(queueName)]
	now := time.Now()
	for _, m := range q.msgs {
		if now.Before(m.visibleAt) {
			inFlight++
		} else {
			visible++
		}
	}
	return visible, inFlight, len(q.deleted)
}

// Bodies are the bodies of the messages a queue holds.
func (s *Server) Bodies(queueName string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.queues[s.QueueURL(queueName)].msgs {
		out = append(out, m.body)
	}
	return out
}

// WaitIdle waits until no receive is in progress (a client that gave up on
// a long poll has been noticed), so that a message sent next is not taken
// by a request nobody reads; it reports whether that happened within d.
func (s *Server) WaitIdle(d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		n := s.polling
		s.mu.Unlock()
		if n == 0 {
			return true
		}
	}
	return false
}

// Deleted are the ids of a queue's deleted messages, in order.
func (s *Server) Deleted(queueName string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queues[s.QueueURL(queueName)].deleted...)
}

// Calls is how many times an operation (ReceiveMessage, ...) was called.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Changes are the ChangeMessageVisibility calls accepted, in order.
func (s *Server) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.changes...)
}

type apiError struct {
	status int
	code   string // e.g. ReceiptHandleIsInvalid
	msg    string
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if r.Method != http.MethodPost || !ok || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.0") {
		writeErr(w, apiError{400, "InvalidAction", "want POST with X-Amz-Target AmazonSQS.<Operation> and application/x-amz-json-1.0"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeErr(w, apiError{400, "MissingAuthenticationToken", "request not signed"})
		return
	}
	var in map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeErr(w, apiError{400, "InvalidParameterValue", "body: " + err.Error()})
		return
	}
	s.mu.Lock()
	s.calls[op]++
	var failCode string
	if f := s.fail[op]; len(f) > 0 {
		failCode, s.fail[op] = f[0], f[1:]
	}
	lose := s.lose[op] > 0
	if lose {
		s.lose[op]-- // the operation is carried out, its answer dropped
	}
	s.mu.Unlock()
	if failCode != "" {
		writeErr(w, apiError{400, failCode, "failure injected by the test"})
		return
	}
	var out any
	var aerr *apiError
	switch op {
	case "ReceiveMessage":
		out, aerr = s.receive(r.Context(), in)
	case "DeleteMessage":
		out, aerr = s.withMessage(in, func(q *queue, i int) {
			q.deleted = append(q.deleted, q.msgs[i].id)
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
		})
	case "ChangeMessageVisibility":
		var secs int
		json.Unmarshal(in["VisibilityTimeout"], &secs)
		if secs < 0 || secs > 43200 {
			aerr = &apiError{400, "InvalidParameterValue", "VisibilityTimeout out of range"}
			break
		}
		out, aerr = s.withMessage(in, func(q *queue, i int) {
			m := q.msgs[i]
			m.visibleAt = time.Now().Add(time.Duration(secs) * time.Second)
			s.changes = append(s.changes, Change{m.id, time.Duration(secs) * time.Second})
			s.wake()
		})
	case "SendMessage":
		var body string
		var delay int
		json.Unmarshal(in["MessageBody"], &body)
		json.Unmarshal(in["DelaySeconds"], &delay)
		q, e := s.queue(in)
		if e != nil {
			aerr = e
			break
		}
		s.mu.Lock()
		id := s.send(q, body, time.Duration(delay)*time.Second)
		s.mu.Unlock()
		out = map[string]string{"MessageId": id, "MD5OfMessageBody": md5hex(body)}
	case "GetQueueAttributes":
		q, e := s.queue(in)
		if e != nil {
			aerr = e
			break
		}
		s.mu.Lock()
		now, visible := time.Now(), 0
		for _, m := range q.msgs {
			if !now.Before(m.visibleAt) {
				visible++
			}
		}
		attrs := map[string]string{
			"VisibilityTimeout":                     strconv.Itoa(int(q.visibility / time.Second)),
			"ApproximateNumberOfMessages":           strconv.Itoa(visible),
			"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(len(q.msgs) - visible),
		}
		if q.redrive != "" {
			attrs["RedrivePolicy"] = q.redrive
		}
		out = map[string]any{"Attributes": attrs}
		s.mu.Unlock()
	default:
		aerr = &apiError{400, "InvalidAction", "operation " + op + " is not served by this test server"}
	}
	if lose {
		loseAnswer(w)
		return
	}
	if aerr != nil {
		writeErr(w, *aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + e.code, "message": e.msg})
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (s *Server) queue(in map[string]json.RawMessage) (*queue, *apiError) {
	var u string
	json.Unmarshal(in["QueueUrl"], &u)
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[u]
	if q == nil {
		return nil, &apiError{400, "QueueDoesNotExist", "The specified queue does not exist: " + u}
	}
	return q, nil
}

// withMessage finds the message of a receipt handle and calls fn with it,
// under the lock. A handle that is not the message's latest is invalid.
func (s *Server) withMessage(in map[string]json.RawMessage, fn func(q *queue, i int)) (any, *apiError) {
	q, e := s.queue(in)
	if e != nil {
		return nil, e
	}
	var handle string
	json.Unmarshal(in["ReceiptHandle"], &handle)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range q.msgs {
		if m.receipt != "" && m.receipt == handle {
			fn(q, i)
			return struct{}{}, nil
		}
	}
	return nil, &apiError{400, "ReceiptHandleIsInvalid", "The input receipt handle \"" + handle + "\" is not a valid receipt handle (deleted, or received again since)."}
}

// loseAnswer closes the connection of w before anything is written
// (http.ErrAbortHandler where it cannot be taken over).
func loseAnswer(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) receive(ctx context.Context, in map[string]json.RawMessage) (any, *apiError) {
	q, e := s.queue(in)
	if e != nil {
		return nil, e
	}
	max, wait, vis := 1, 0, -1
	json.Unmarshal(in["MaxNumberOfMessages"], &max)
	json.Unmarshal(in["WaitTimeSeconds"], &wait)
	if v, ok := in["VisibilityTimeout"]; ok {
		json.Unmarshal(v, &vis)
	}
	if max < 1 || max > 10 || wait < 0 || wait > 20 {
		return nil, &apiError{400, "InvalidParameterValue", "MaxNumberOfMessages must be 1..10 and WaitTimeSeconds 0..20"}
	}
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	s.mu.Lock()
	s.polling++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.polling--
		s.mu.Unlock()
	}()
	for {
		s.mu.Lock()
		if ctx.Err() != nil { // the client gave up: receive nothing for it
			s.mu.Unlock()
			return struct{}{}, nil
		}
		now := time.Now()
		visibility := q.visibility
		if vis >= 0 {
			visibility = time.Duration(vis) * time.Second
		}
		var msgs []map[string]any
		var next time.Time
		for _, m := range q.msgs {
			if now.Before(m.visibleAt) {
				if next.IsZero() || m.visibleAt.Before(next) {
					next = m.visibleAt
				}
				continue
			}
			if len(msgs) == max {
				break
			}
			m.receives++
			s.nextID++
			m.receipt = fmt.Sprintf("rh-%s-%d-%d", m.id, m.receives, s.nextID)
			m.visibleAt = now.Add(visibility)
			msgs = append(msgs, map[string]any{
				"MessageId": m.id, "ReceiptHandle": m.receipt, "Body": m.body, "MD5OfBody": md5hex(m.body),
				"Attributes": map[string]string{
					"ApproximateReceiveCount": strconv.Itoa(m.receives),
					"SentTimestamp":           strconv.FormatInt(m.sent.UnixMilli(), 10),
				},
			})
		}
		wake := s.cond
		s.mu.Unlock()
		if len(msgs) > 0 {
			return map[string]any{"Messages": msgs}, nil
		}
		if !now.Before(deadline) {
			return struct{}{}, nil // SQS answers {} when nothing came
		}
		until := deadline
		if !next.IsZero() && next.Before(until) {
			until = next
		}
		timer := time.NewTimer(time.Until(until))
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return struct{}{}, nil
		}
		timer.Stop()
	}
}
