package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxBody is the largest HTTP ingest body accepted by default.
const DefaultMaxBody = 64 << 20

// DefaultMaxBodies is how many ingest bodies are held in memory at once
// by default.
const DefaultMaxBodies = 4

// HTTPInput serves POST /v1/records (CloudTrail delivery files, JSON
// arrays or JSON Lines, gzip accepted), and /metrics, /healthz and
// /readyz. A body is written to the spool folder and synced before the
// 202 answer; the file is deleted when its batch is acknowledged, and the
// spool is replayed at start.
type HTTPInput struct {
	Addr              string   // host:port to listen on
	Tokens            []string // bearer tokens accepted; none: ingest refuses every request (403)
	MaxBody           int64    // default DefaultMaxBody
	CertFile, KeyFile string   // TLS, when both are set
	SpoolDir          string
	Metrics           *Metrics
	Log               *slog.Logger
	// Ready, when set, answers /readyz (nil error: ready).
	Ready func() error
	// MaxBodies bounds the bodies held in memory at once (being read,
	// spooled or waiting for the service; default DefaultMaxBodies): more
	// requests wait for a slot before their body is read, so ingest holds
	// at most MaxBodies × MaxBody however many clients post at once.
	MaxBodies int

	ln     net.Listener
	queue  chan spooled
	slots  chan struct{} // one per body in memory, from its read until the service takes it
	seq    atomic.Uint64
	tokens [][32]byte
}

type spooled struct {
	name string
	data []byte
}

// Name is "http".
func (h *HTTPInput) Name() string { return "http" }

// Listen binds the address (Run does it when not done before) and
// prepares the spool.
func (h *HTTPInput) Listen() error {
	if h.ln != nil {
		return nil
	}
	if h.SpoolDir == "" {
		return errors.New("http input: no spool folder")
	}
	if err := os.MkdirAll(h.SpoolDir, 0o755); err != nil {
		return fmt.Errorf("http input: spool: %w", err)
	}
	if h.CertFile != "" && h.KeyFile != "" { // a missing or mismatched file is a start error, not a stop later
		if _, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile); err != nil {
			return fmt.Errorf("http input: TLS certificate %s and key %s: %w", h.CertFile, h.KeyFile, err)
		}
	}
	ln, err := net.Listen("tcp", h.Addr)
	if err != nil {
		return fmt.Errorf("http input: %w", err)
	}
	h.ln = ln
	return nil
}

// ListenAddr is the address listened on (after Listen).
func (h *HTTPInput) ListenAddr() string { return h.ln.Addr().String() }

// Run replays the spool, then serves until ctx ends.
func (h *HTTPInput) Run(ctx context.Context, deliver func(*Batch) error) error {
	if err := h.Listen(); err != nil {
		return err
	}
	if h.MaxBody <= 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.Log == nil {
		h.Log = slog.Default()
	}
	for _, t := range h.Tokens {
		h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
	}
	if h.MaxBodies <= 0 {
		h.MaxBodies = DefaultMaxBodies
	}
	h.queue = make(chan spooled, h.MaxBodies)
	h.slots = make(chan struct{}, h.MaxBodies)
	ents, err := os.ReadDir(h.SpoolDir)
	if err != nil {
		return fmt.Errorf("http input: spool: %w", err)
	}
	var old []string
	for _, e := range ents {
		switch n := e.Name(); {
		case strings.HasSuffix(n, ".tmp"):
			os.Remove(filepath.Join(h.SpoolDir, n)) // not answered 202: the client retries
		case strings.HasSuffix(n, ".body"):
			old = append(old, n)
			var seq uint64
			fmt.Sscanf(n, "%d", &seq)
			h.seq.Store(max(h.seq.Load(), seq))
		}
	}
	slices.Sort(old)
	if len(old) > 0 {
		h.Log.Info("http input: replaying the spool", "bodies", len(old))
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		var err error
		if h.CertFile != "" && h.KeyFile != "" {
			err = srv.ServeTLS(h.ln, h.CertFile, h.KeyFile)
		} else {
			err = srv.Serve(h.ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
		close(errc)
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	for _, n := range old {
		data, err := os.ReadFile(filepath.Join(h.SpoolDir, n))
		if err != nil {
			return fmt.Errorf("http input: spool: %w", err)
		}
		if err := deliver(h.batch(n, data)); err != nil {
			return nil // stopping: the rest stays spooled
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("http input: %w", err)
			}
			return nil
		case s := <-h.queue:
			err := deliver(h.batch(s.name, s.data))
			<-h.slots // the service holds the body now (its workers and back-pressure bound it)
			if err != nil {
				return nil
			}
		}
	}
}

func (h *HTTPInput) batch(name string, data []byte) *Batch {
	path := filepath.Join(h.SpoolDir, name)
	return &Batch{Name: "http:" + name, Data: data, Ack: func() {
		if err := os.Remove(path); err != nil {
			h.Log.Error("http input: removing an acknowledged spool file", "error", err)
		}
	}}
}

// Handler serves the ingest, metrics and health endpoints.
func (h *HTTPInput) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/records", h.ingest)
	if h.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(h.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if h.Ready != nil {
			if err := h.Ready(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (h *HTTPInput) fail(w http.ResponseWriter, code int, msg string) {
	if h.Metrics != nil {
		h.Metrics.Rejected.WithLabelValues(strconv.Itoa(code)).Inc()
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="trailhound"`)
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

// authorized checks the bearer token in constant time against every
// token (hashes compared, so lengths leak nothing either).
func (h *HTTPInput) authorized(r *http.Request) (int, string) {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return http.StatusUnauthorized, "missing bearer token (Authorization: Bearer TOKEN)"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for _, t := range h.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	if match != 1 {
		return http.StatusForbidden, "token not accepted"
	}
	return 0, ""
}

func (h *HTTPInput) ingest(w http.ResponseWriter, r *http.Request) {
	if code, msg := h.authorized(r); code != 0 {
		h.fail(w, code, msg)
		return
	}
	if r.ContentLength > h.MaxBody {
		h.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the limit of %d", r.ContentLength, h.MaxBody))
		return
	}
	select { // a slot for the body in memory; released when the service takes it, or below when it is refused
	case h.slots <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	queued := false
	defer func() {
		if !queued {
			<-h.slots
		}
	}()
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		h.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the limit of %d bytes", h.MaxBody))
		return
	case err != nil:
		h.fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	data := buf.Bytes()
	if msg := checkBody(data, r.Header.Get("Content-Encoding")); msg != "" {
		h.fail(w, http.StatusBadRequest, msg)
		return
	}
	name := fmt.Sprintf("%020d-%d.body", h.seq.Add(1), time.Now().UnixNano())
	if err := writeSynced(filepath.Join(h.SpoolDir, name), data); err != nil {
		h.Log.Error("http input: spooling a body", "error", err)
		h.fail(w, http.StatusServiceUnavailable, "could not queue the body")
		return
	}
	select { // durable now: answered 202 even if the service is stopping (replayed at start)
	case h.queue <- spooled{name, data}:
		queued = true
	case <-r.Context().Done():
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "queued", "id": name, "bytes": len(data)})
}

// checkBody refuses bodies that cannot hold records: empty, gzip that is
// not, or not starting like JSON. Problems inside are per record, reported
// as hunt reports them.
func checkBody(data []byte, encoding string) string {
	gz := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		if !gz {
			return "Content-Encoding is gzip but the body is not"
		}
	default:
		return fmt.Sprintf("Content-Encoding %q not supported (gzip or none)", encoding)
	}
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return "gzip: " + err.Error()
		}
		br := bufio.NewReader(zr)
		first, err := firstByte(br)
		if err != nil {
			return "gzip: " + err.Error()
		}
		return checkFirst(first)
	}
	first, _ := firstByte(bufio.NewReader(bytes.NewReader(data)))
	return checkFirst(first)
}

func firstByte(r *bufio.Reader) (byte, error) {
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xef: // UTF-8 byte order mark
			r.ReadByte()
			r.ReadByte()
			continue
		}
		return c, nil
	}
}

func checkFirst(c byte) string {
	switch c {
	case '{', '[':
		return ""
	case 0:
		return "empty body: want a CloudTrail delivery file, a JSON array or JSON Lines"
	}
	return fmt.Sprintf("body does not start like JSON (%q): want a CloudTrail delivery file, a JSON array or JSON Lines", c)
}
