package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// postRecords posts body to base's /v1/records with the test token and
// returns the status and the answer.
func postRecords(t *testing.T, base string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/records", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

// Every answer of POST /v1/records: status, JSON error body, and whether
// the body was spooled.
func TestHTTPIngestAnswers(t *testing.T) {
	m := NewMetrics()
	dir := t.TempDir()
	h := &HTTPInput{Tokens: []string{"tok-a", "tok-b"}, MaxBody: 200, SpoolDir: dir, Metrics: m, Log: testLog(t)}
	h.queue = make(chan string, 100)
	h.MaxBody = 200
	for _, tk := range h.Tokens {
		h.tokens = append(h.tokens, sha(tk))
	}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	rec := []byte(`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}`)
	for _, tc := range []struct {
		name    string
		auth    string
		enc     string
		body    []byte
		code    int
		errPart string
	}{
		{"json lines", "Bearer tok-a", "", rec, 202, ""},
		{"second token, lower-case scheme", "bearer tok-b", "", rec, 202, ""},
		{"gzip by header", "Bearer tok-a", "gzip", gz(t, rec), 202, ""},
		{"gzip by magic", "Bearer tok-a", "", gz(t, rec), 202, ""},
		{"array", "Bearer tok-a", "", []byte("[" + string(rec) + "]"), 202, ""},
		{"no token", "", "", rec, 401, "missing bearer token"},
		{"basic auth", "Basic dG9rLWE6", "", rec, 401, "missing bearer token"},
		{"wrong token", "Bearer tok-c", "", rec, 403, "token not accepted"},
		{"prefix of a token", "Bearer tok", "", rec, 403, "token not accepted"},
		{"too large", "Bearer tok-a", "", bytes.Repeat([]byte(" "), 201), 413, "over the limit"},
		{"empty", "Bearer tok-a", "", nil, 400, "empty body"},
		{"not json", "Bearer tok-a", "", []byte("hello"), 400, "does not start like JSON"},
		{"gzip header, plain body", "Bearer tok-a", "gzip", rec, 400, "not"},
		{"broken gzip", "Bearer tok-a", "", []byte{0x1f, 0x8b, 1, 2, 3}, 400, "gzip"},
		{"other encoding", "Bearer tok-a", "br", rec, 400, "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(spoolFiles(t, dir))
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/records", bytes.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.enc != "" {
				req.Header.Set("Content-Encoding", tc.enc)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.code, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("answer is not JSON: %s", body)
			}
			after := len(spoolFiles(t, dir))
			if tc.code == 202 {
				if after != before+1 || got["status"] != "queued" {
					t.Errorf("accepted but spool %d -> %d, answer %s", before, after, body)
				}
				name := <-h.queue
				disk, _ := os.ReadFile(filepath.Join(dir, name))
				if !bytes.Equal(disk, tc.body) {
					t.Errorf("spooled body differs from the one posted")
				}
				return
			}
			if msg, _ := got["error"].(string); !strings.Contains(msg, tc.errPart) {
				t.Errorf("error %q, want it to contain %q", msg, tc.errPart)
			}
			if after != before {
				t.Errorf("refused but spooled")
			}
			if tc.code == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" && !bytes.Contains(body, []byte(`trailhound_http_rejected_total{code="403"} 2`)) {
			t.Errorf("metrics do not count the refusals:\n%.2000s", body)
		}
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// Bodies spooled and not acknowledged when the service stops are read
// again at the next start (and a half-written .tmp is dropped).
func TestHTTPSpoolReplay(t *testing.T) {
	dir := t.TempDir()
	rec := `{"eventTime":"2026-11-03T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e1"}`
	os.WriteFile(filepath.Join(dir, "00000000000000000007-1.body"), []byte(rec), 0o644)
	os.WriteFile(filepath.Join(dir, "00000000000000000009-1.body.tmp"), []byte("{"), 0o644)
	h := &HTTPInput{Addr: "127.0.0.1:0", SpoolDir: dir, Log: testLog(t)}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *Batch, 1)
	done := make(chan error)
	go func() { done <- h.Run(ctx, func(b *Batch) error { got <- b; return nil }) }()
	var b *Batch
	select {
	case b = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("spool not replayed")
	}
	if b.Name != "http:00000000000000000007-1.body" || string(b.Data) != rec {
		t.Errorf("replayed %q %q", b.Name, b.Data)
	}
	if n := spoolFiles(t, dir); len(n) != 1 {
		t.Errorf("spool after start: %v", n)
	}
	b.Ack()
	if n := spoolFiles(t, dir); len(n) != 0 {
		t.Errorf("spool after ack: %v", n)
	}
	if next := h.seq.Add(1); next != 8 {
		t.Errorf("next spool number %d, want 8 (after the highest body kept)", next)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func sha(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// With a certificate and key, ingest is served over TLS only.
func TestHTTPIngestTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	h := &HTTPInput{Addr: "127.0.0.1:0", Tokens: []string{"tk"}, SpoolDir: filepath.Join(dir, "spool"), CertFile: certFile, KeyFile: keyFile, Log: testLog(t)}
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *Batch, 1)
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, func(b *Batch) error { got <- b; return nil }) }()
	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+h.ListenAddr()+"/v1/records", strings.NewReader(`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2026-11-03T10:00:00Z"}`))
	req.Header.Set("Authorization", "Bearer tk")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("not delivered")
	}
	if resp, err := http.Get("http://" + h.ListenAddr() + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the TLS listener")
		}
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// While the service does not take bodies (its deliver blocks: the
// checkpoint is behind), ingest still answers: bodies stream to the spool,
// none waits in memory, and every one is delivered once the service takes
// them again.
func TestHTTPIngestSpoolsWhileBusy(t *testing.T) {
	dir := t.TempDir()
	h := &HTTPInput{Addr: "127.0.0.1:0", Tokens: []string{testToken}, SpoolDir: dir, Log: testLog(t)}
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	open := make(chan struct{})
	var delivered atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var mu sync.Mutex
	var got []string
	go func() {
		done <- h.Run(ctx, func(b *Batch) error {
			<-open
			mu.Lock()
			got = append(got, string(b.Data))
			mu.Unlock()
			delivered.Add(1)
			return nil
		})
	}()
	const posts = 6
	var want []string
	for i := range posts {
		rec := fmt.Sprintf(`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e%d"}`, i)
		want = append(want, rec)
		if code, _ := postRecords(t, "http://"+h.ListenAddr(), []byte(rec)); code != http.StatusAccepted {
			t.Fatalf("status %d while the service is busy, want 202", code)
		}
	}
	if n := len(spoolFiles(t, dir)); n != posts {
		t.Errorf("%d bodies spooled, want %d", n, posts)
	}
	close(open)
	waitFor(t, 10*time.Second, "every body delivered", func() bool { return delivered.Load() == posts })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
}

// A TLS certificate or key that cannot be loaded is an error of Listen,
// naming the files, before anything is served.
func TestHTTPIngestTLSFilesChecked(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o644)
	for _, files := range [][2]string{{filepath.Join(dir, "none.crt"), filepath.Join(dir, "none.key")}, {junk, junk}} {
		h := &HTTPInput{Addr: "127.0.0.1:0", SpoolDir: filepath.Join(dir, "spool"), CertFile: files[0], KeyFile: files[1], Log: testLog(t)}
		err := h.Listen()
		if err == nil || !strings.Contains(err.Error(), files[0]) {
			t.Errorf("%v: Listen gave %v, want an error naming the files", files, err)
		}
		if h.ln != nil {
			h.ln.Close()
		}
	}
}

// A spool that cannot be written answers 503 (the client retries), logs
// the cause, and leaves nothing half-written.
func TestHTTPIngestSpoolFailure(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "spool")
	m := NewMetrics()
	h := &HTTPInput{Addr: "127.0.0.1:0", Tokens: []string{testToken}, SpoolDir: spool, Metrics: m, Log: testLog(t)}
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	h.queue = make(chan string, 1)
	h.tokens = append(h.tokens, sha(testToken))
	h.MaxBody = DefaultMaxBody
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	// the spool folder is gone, a file in its place
	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spool, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := postRecords(t, srv.URL, []byte(`{"eventName":"x"}`)); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "could not queue the body") {
		t.Errorf("status %d %s, want 503 could not queue the body", code, body)
	}
	if len(h.queue) != 0 {
		t.Error("a body that was not spooled was queued")
	}
}

// FuzzCheckBody: the body check reads a stream; a plain body gets the same
// verdict gzipped (by magic bytes or with Content-Encoding: gzip), a plain
// body with Content-Encoding: gzip is refused, and a body starting with an
// object or array after white space is accepted.
func FuzzCheckBody(f *testing.F) {
	for _, s := range []string{"", " ", "{}", "[", "\n\t{", "hello", "\xef\xbb\xbf{", "\x1f\x8b", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // already gzip
		}
		check := func(body []byte, enc string) string {
			_, msg := checkBody(bytes.NewReader(body), enc, DefaultMaxDecompressed)
			return msg
		}
		plain := check(data, "")
		zipped := gz(t, data)
		for _, enc := range []string{"", "gzip"} {
			if got := check(zipped, enc); got != plain {
				t.Fatalf("%q: plain %q, gzip (encoding %q) %q", data, plain, enc, got)
			}
		}
		if got := check(data, "gzip"); got == "" {
			t.Fatalf("%q with Content-Encoding gzip accepted", data)
		}
		if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && plain != "" {
			t.Fatalf("%q refused: %s", data, plain)
		}
		// an alerting record before any bytes: the body is taken (the
		// record is read; the bytes after it are the scan's to report)
		withRecord := append([]byte(alerting+"\n"), data...)
		for _, body := range [][]byte{withRecord, gz(t, withRecord)} {
			if got := check(body, ""); got != "" {
				t.Fatalf("an alerting record followed by %q refused: %s", data, got)
			}
		}
	})
}

// A small gzip body that decompresses to more than MaxDecompressed (white
// space after a record, or one record repeated) is refused with 413 and a
// message saying so: nothing spooled, nothing queued. One just under the
// limit is taken, and MaxDecompressed does not bound plain bodies (MaxBody
// does).
func TestHTTPGzipBomb(t *testing.T) {
	const limit = 8 << 20
	m := NewMetrics()
	dir := t.TempDir()
	h := &HTTPInput{Tokens: []string{testToken}, SpoolDir: dir, Metrics: m, Log: testLog(t), MaxBody: DefaultMaxBody, MaxDecompressed: limit}
	h.queue = make(chan string, 10)
	h.tokens = append(h.tokens, sha(testToken))
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	rec := `{"eventTime":"2026-11-03T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}` + "\n"
	records := strings.Repeat(rec, 64<<20/len(rec))
	for _, tc := range []struct {
		name string
		body []byte
		code int
	}{
		{"a record and 64 MB of white space", gz(t, []byte(rec+strings.Repeat(" ", 64<<20))), 413},
		{"64 MB of one record repeated", gz(t, []byte(records)), 413},
		{"white space only, 64 MB", gz(t, []byte(strings.Repeat("\n", 64<<20))), 413},
		{"just under the limit", gz(t, []byte(records[:limit-len(rec)])), 202},
		{"plain, over the decompressed limit", []byte(records[:limit+len(rec)]), 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, answer := postRecords(t, srv.URL, tc.body)
			if code != tc.code {
				t.Fatalf("%d bytes posted: status %d, want %d (%s)", len(tc.body), code, tc.code, answer)
			}
			if tc.code == 202 {
				os.Remove(filepath.Join(dir, <-h.queue))
				return
			}
			if !strings.Contains(string(answer), fmt.Sprintf("decompresses to more than the limit of %d bytes", limit)) {
				t.Errorf("answer %s does not say why", answer)
			}
			if n := spoolFiles(t, dir); len(n) != 0 || len(h.queue) != 0 {
				t.Errorf("refused, but the spool holds %v and %d are queued", n, len(h.queue))
			}
		})
	}
}

// A client that sends a few bytes of its body and stalls is cut off once
// ReadTimeout passes: answered 408, its connection closed, its .tmp spool
// file removed. Meanwhile another client is served.
func TestHTTPSlowBody(t *testing.T) {
	dir := t.TempDir()
	m := NewMetrics()
	h := &HTTPInput{Addr: "127.0.0.1:0", Tokens: []string{testToken}, SpoolDir: dir, Metrics: m, Log: testLog(t), ReadTimeout: 2 * time.Second}
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *Batch, 10)
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, func(b *Batch) error { got <- b; return nil }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	slow, err := net.Dial("tcp", h.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /v1/records HTTP/1.1\r\nHost: trailhound\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n{\"eventTime\"", testToken)
	tmps := func() int {
		n := 0
		for _, f := range spoolFiles(t, dir) {
			if strings.HasSuffix(f, ".tmp") {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "the slow body's .tmp file", func() bool { return tmps() == 1 })

	// another client is served while the slow one holds its connection
	rec := `{"eventTime":"2026-11-03T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}`
	if code, _ := postRecords(t, "http://"+h.ListenAddr(), []byte(rec)); code != http.StatusAccepted {
		t.Fatalf("the other client: status %d", code)
	}
	select {
	case b := <-got:
		if string(b.Data) != rec {
			t.Errorf("delivered %q", b.Data)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the other client's body was not delivered")
	}

	// the slow one is answered 408 and its connection closed
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	answer, err := io.ReadAll(slow)
	if err != nil {
		t.Fatalf("the slow connection was not closed: %v (read %q)", err, answer)
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 408") || !strings.Contains(string(answer), "not received in time") {
		t.Errorf("the slow client got %q, want 408 saying why", answer)
	}
	waitFor(t, 30*time.Second, "the .tmp file removed", func() bool { return tmps() == 0 })
	if n := len(got); n != 0 {
		t.Errorf("%d more bodies delivered", n)
	}
	if v := testutil.ToFloat64(m.Rejected.WithLabelValues("408")); v != 1 {
		t.Errorf("http_rejected_total{code=408} %v, want 1", v)
	}
}
