// Package redistest starts a real redis-server (Debian's redis-server
// package) for tests, on a free port in the test's temporary folder.
package redistest

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Server is a redis-server a test started.
type Server struct {
	Addr     string // host:port
	Password string // what AUTH needs ("" for none)
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	bin      string
	args     []string
	dir      string
}

// URL is the server's redis:// URL for database db, with its password
// (percent-encoded) when it has one.
func (s *Server) URL(db int) string {
	if s.Password != "" {
		return fmt.Sprintf("redis://%s@%s/%d", url.UserPassword("", s.Password), s.Addr, db)
	}
	return fmt.Sprintf("redis://%s/%d", s.Addr, db)
}

// Stop ends the server (the test's cleanup does it too).
func (s *Server) Stop() {
	s.cmd.Process.Kill() // an error when it has exited already
	<-s.done
}

// Start starts redis-server without persistence on a free port, waits until
// it answers PING, and stops it when the test ends. Without redis-server on
// PATH the test is skipped, saying what to install.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWithPassword(t, "")
}

// StartWithPassword is Start for a server that requires a password
// (requirepass; none when "").
func StartWithPassword(t testing.TB, password string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH: install it (apt-get install redis-server) to run the Redis state tests")
	}
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password, bin: bin, dir: dir}
		s.args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}
		if password != "" {
			s.args = append(s.args, "--requirepass", password)
		}
		out, err := s.launch()
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if attempt == 2 { // the port taken between asking and binding, three times
			t.Fatalf("%v: %s", err, out)
		}
	}
}

// launch starts the process and waits until it answers PING; when it does
// not, it is stopped and the error holds its log.
func (s *Server) launch() (string, error) {
	s.done = make(chan struct{})
	var out bytes.Buffer
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		return "", fmt.Errorf("starting redis-server: %w", err)
	}
	done := s.done
	go func() { s.cmd.Wait(); close(done) }()
	if ping(s.Addr, s.done) {
		return "", nil
	}
	s.Stop()
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return out.String() + string(log), fmt.Errorf("redis-server on %s did not answer PING", s.Addr)
}

// StartAgain starts a stopped server again on the same address, empty (it
// keeps nothing on disk), as a Redis restarted without persistence is.
func (s *Server) StartAgain(t testing.TB) {
	t.Helper()
	if out, err := s.launch(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping sends PING until +PONG (or -NOAUTH) comes back, the server exits
// (done) or 10 s pass.
func ping(addr string, done chan struct{}) bool {
	for range 200 {
		select {
		case <-done:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 7)
			_, err = c.Write([]byte("PING\r\n"))
			if err == nil {
				_, err = c.Read(buf)
			}
			c.Close()
			if err == nil && (string(buf) == "+PONG\r\n" || string(buf) == "-NOAUTH") { // up, wanting the password
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
