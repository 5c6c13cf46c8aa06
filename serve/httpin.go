package serve

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// DefaultReadTimeout is HTTPInput.ReadTimeout's default.
const DefaultReadTimeout = time.Minute

// MinBodyRate is the least rate, in bytes per second, at which a body must
// arrive once its ReadTimeout has passed.
const MinBodyRate = 64 << 10

// DefaultMaxDecompressed is the most a gzip body may decompress to by
// default: CloudTrail's JSON compresses about tenfold and more, so a
// DefaultMaxBody of it fits.
const DefaultMaxDecompressed = 1 << 30

// HTTPInput serves POST /v1/records (CloudTrail delivery files, JSON
// arrays or JSON Lines, gzip accepted), and /metrics, /healthz and
// /readyz. A body is written to the spool folder and synced before the
// 202 answer; the file is deleted when its batch is acknowledged, and the
// spool is replayed at start.
type HTTPInput struct {
	Addr    string   // host:port to listen on
	Tokens  []string // bearer tokens accepted; none: ingest refuses every request (403)
	MaxBody int64    // default DefaultMaxBody
	// MaxDecompressed bounds what a gzip body decompresses to (default
	// DefaultMaxDecompressed): a small body must not make the service read
	// gigabytes (a gzip bomb). Checked before the 202: a body over it is
	// refused with 413, nothing of it spooled. (Options.MaxDecompressed
	// bounds the other inputs' batches as they are read.)
	MaxDecompressed int64
	// ReadTimeout bounds the time a body may take (default
	// DefaultReadTimeout), plus a second per MinBodyRate bytes received:
	// a client that stalls or trickles is answered 408 and its connection
	// closed, so it cannot hold a connection, a goroutine and a spool file
	// for ever.
	ReadTimeout       time.Duration
	CertFile, KeyFile string // TLS, when both are set
	SpoolDir          string
	Metrics           *Metrics
	Log               *slog.Logger
	// Ready, when set, answers /readyz (nil error: ready).
	Ready func() error

	ln     net.Listener
	queue  chan string // names of spooled bodies, read again by Run
	seq    atomic.Uint64
	tokens [][32]byte
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
	h.queue = make(chan string, 64)
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
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
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
		case n := <-h.queue:
			data, err := os.ReadFile(filepath.Join(h.SpoolDir, n))
			if errors.Is(err, fs.ErrNotExist) { // removed by hand since it was answered 202: said, not fatal
				h.Log.Error("http input: a spooled body is gone before it was read; its records are lost", "body", n, "error", err)
				if h.Metrics != nil {
					h.Metrics.InputErrors.WithLabelValues(h.Name()).Inc()
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("http input: spool: %w", err)
			}
			if err := deliver(h.batch(n, data)); err != nil {
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
	name := fmt.Sprintf("%020d-%d.body", h.seq.Add(1), time.Now().UnixNano())
	timeout := cmp.Or(max(h.ReadTimeout, 0), DefaultReadTimeout)
	body := &paced{r: r.Body, rc: http.NewResponseController(w), start: time.Now(), timeout: timeout}
	n, code, msg := h.spool(name, http.MaxBytesReader(w, body, h.MaxBody), r.Header.Get("Content-Encoding"))
	if code == http.StatusRequestTimeout {
		msg = fmt.Sprintf("body not received in time (%s, and a second more per %d KB received): %s", timeout, MinBodyRate>>10, msg)
		w.Header().Set("Connection", "close")
	}
	if code != 0 {
		h.fail(w, code, msg)
		return
	}
	select { // durable now: answered 202 even if the service is stopping (replayed at start)
	case h.queue <- name:
	case <-r.Context().Done():
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "queued", "id": name, "bytes": n})
}

// spool streams a body into the spool file name (through NAME.tmp, synced
// and renamed), so that no body is held in memory however many clients
// post at once. It returns the body's size, or the status and message of a
// refusal (nothing left in the spool).
func (h *HTTPInput) spool(name string, body io.Reader, encoding string) (int64, int, string) {
	path := filepath.Join(h.SpoolDir, name)
	tmp := path + ".tmp"
	unqueued := func(err error) (int64, int, string) {
		h.Log.Error("http input: spooling a body", "error", err)
		return 0, http.StatusServiceUnavailable, "could not queue the body"
	}
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return unqueued(err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(tmp)
		}
	}()
	fw := &fileWriter{f: f}
	n, err := io.Copy(fw, body)
	var mbe *http.MaxBytesError
	switch {
	case fw.err != nil: // the spool's fault, not the client's
		return unqueued(fw.err)
	case errors.As(err, &mbe):
		return 0, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over the limit of %d bytes", h.MaxBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, http.StatusRequestTimeout, fmt.Sprintf("%d bytes received", n)
	case err != nil:
		return 0, http.StatusBadRequest, "reading the body: " + err.Error()
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return unqueued(err)
	}
	if code, msg := checkBody(f, encoding, cmp.Or(max(h.MaxDecompressed, 0), DefaultMaxDecompressed)); code != 0 {
		return 0, code, msg
	}
	if err := f.Sync(); err != nil {
		return unqueued(err)
	}
	err = f.Close()
	keep = true
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(h.SpoolDir)
	}
	if err != nil {
		os.Remove(tmp)
		os.Remove(path)
		return unqueued(err)
	}
	return n, 0, ""
}

// paced reads a request body under a read deadline that moves on as the
// body arrives: timeout from the start, plus a second per MinBodyRate
// bytes read. Past it, reads fail with os.ErrDeadlineExceeded.
type paced struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	timeout time.Duration
	n       int64
}

func (p *paced) Read(b []byte) (int, error) {
	// not supported (a test's recorder): the body is read without a deadline
	_ = p.rc.SetReadDeadline(p.start.Add(p.timeout + time.Duration(p.n)*time.Second/MinBodyRate))
	n, err := p.r.Read(b)
	p.n += int64(n)
	if err == io.EOF { // the whole body: the connection's next request is the server's to time
		_ = p.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (p *paced) Close() error { return p.r.Close() }

// fileWriter writes to f and keeps its error apart from the reader's.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if err != nil {
		w.err = err
	}
	return n, err
}

// checkBody refuses bodies that cannot hold records: empty, gzip that is
// not, or not starting like JSON (400), and gzip that decompresses to more
// than maxDecompressed bytes (413: read to its end here, so that a gzip
// bomb is refused before it is queued). It returns the status and message
// of a refusal (0 and "": taken). Problems inside are per record, reported
// as hunt reports them; so is a gzip stream broken after its start (what
// is before the break is read).
func checkBody(body io.Reader, encoding string, maxDecompressed int64) (int, string) {
	br := bufio.NewReader(body)
	magic, _ := br.Peek(2)
	gz := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		if !gz {
			return http.StatusBadRequest, "Content-Encoding is gzip but the body is not"
		}
	default:
		return http.StatusBadRequest, fmt.Sprintf("Content-Encoding %q not supported (gzip or none)", encoding)
	}
	if !gz {
		first, _ := firstByte(br)
		return badFirst(first)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return http.StatusBadRequest, "gzip: " + err.Error()
	}
	lr := &sizeLimit{r: zr, max: maxDecompressed}
	zb := bufio.NewReader(lr)
	tooLarge := func() (int, string) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("gzip body decompresses to more than the limit of %d bytes (max_decompressed)", maxDecompressed)
	}
	first, err := firstByte(zb)
	switch {
	case errors.Is(err, errTooLarge):
		return tooLarge()
	case err != nil && err != io.EOF: // EOF: nothing but white space inside, said as for a plain body
		return http.StatusBadRequest, "gzip: " + err.Error()
	}
	if code, msg := badFirst(first); code != 0 {
		return code, msg
	}
	if _, err := io.Copy(io.Discard, zb); errors.Is(err, errTooLarge) {
		return tooLarge()
	}
	return 0, ""
}

// errTooLarge is wrapped by sizeLimit's error.
var errTooLarge = errors.New("over the size limit")

// sizeLimit reads r and fails with an error wrapping errTooLarge once more
// than max bytes came out of it.
type sizeLimit struct {
	r      io.Reader
	n, max int64
}

func (l *sizeLimit) Read(b []byte) (int, error) {
	if room := l.max - l.n + 1; int64(len(b)) > room {
		b = b[:room]
	}
	n, err := l.r.Read(b)
	if l.n += int64(n); l.n > l.max {
		return n, fmt.Errorf("%w: more than %d bytes decompressed (max_decompressed)", errTooLarge, l.max)
	}
	return n, err
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

// badFirst refuses (400) a body whose first byte after white space c is
// not that of a JSON object or array (0: nothing but white space).
func badFirst(c byte) (int, string) {
	switch c {
	case '{', '[':
		return 0, ""
	case 0:
		return http.StatusBadRequest, "empty body: want a CloudTrail delivery file, a JSON array or JSON Lines"
	}
	return http.StatusBadRequest, fmt.Sprintf("body does not start like JSON (%q): want a CloudTrail delivery file, a JSON array or JSON Lines", c)
}
