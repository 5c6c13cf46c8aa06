package pyrule

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxFrame bounds a frame from a worker (an answer with alert contexts of
// many rules); a longer one is a broken worker.
const maxFrame = 256 << 20

// errWorker is wrapped by the errors of a worker that died or was killed.
var errWorker = errors.New("python worker")

// worker is one python3 process running our worker module, spoken to in
// frames over its stdin and stdout.
type worker struct {
	cmd     *exec.Cmd
	in      *bufio.Writer
	inPipe  io.WriteCloser
	outPipe io.Closer
	out     *bufio.Reader
	stderr  *tail
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's error, once done
	kv      *kvStore
	buf     []byte
	killed  atomic.Bool // killed for running past its time
}

// tail keeps the last bytes written to it (a worker's stderr, for the
// message when it dies).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-2048:]...)
	}
	return len(p), nil
}

func (t *tail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// bootWorker runs the worker script (its path the first argument) as
// __main__ with its compiled code kept beside it in the cache directory
// (a script's code is otherwise compiled on every start), named by
// Python's bytecode magic number and a hash of the script (a script
// written again, after a write cut short, is compiled again); the file
// holds a hash of the code after it (a damaged file is compiled again,
// never run).
const bootWorker = `import sys
from importlib.util import MAGIC_NUMBER as _m
try:
    from _blake2 import blake2b as _h
except ImportError:
    from hashlib import sha256 as _h
_s = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path[0] = _s.rpartition("/")[0]
with open(_s, "rb") as _f:
    _src = _f.read()
_c = _s + "." + _h(_m + _src).hexdigest()[:32] + ".code"
_n = _h().digest_size
_code, _b = None, b""
try:
    import marshal
    with open(_c, "rb") as _f:
        _b = _f.read()
    if len(_b) > _n and _h(_b[_n:]).digest() == _b[:_n]:
        _code = marshal.loads(_b[_n:])
        if type(_code) is not type(compile("", "", "exec")):
            _code = None
except Exception:
    _code = None
if _code is None:
    import os
    import marshal
    _code = compile(_src, _s, "exec")
    _t = _c + ".tmp%d" % os.getpid()
    try:
        _b = marshal.dumps(_code)
        with open(_t, "wb") as _f:
            _f.write(_h(_b).digest() + _b)
        os.replace(_t, _c)
    except OSError:
        try:
            os.unlink(_t)
        except OSError:
            pass
del _src, _b
exec(_code)
`

// startWorker starts python on the worker script.
func startWorker(python, script string, kv *kvStore) (*worker, error) {
	cmd := exec.Command(python, "-B", "-c", bootWorker, script)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONHASHSEED=0", "PYTHONUNBUFFERED=1")
	w := &worker{cmd: cmd, stderr: &tail{}, done: make(chan struct{}), kv: kv}
	cmd.Stderr = w.stderr
	// blocking pipes: a call waits in read(2) on its own thread, without
	// the poller's round of wake-ups (cheaper for one small frame each way)
	childIn, in, err := blockingPipe()
	if err != nil {
		return nil, err
	}
	out, childOut, err := blockingPipe()
	if err != nil {
		childIn.Close()
		in.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = childIn, childOut
	err = cmd.Start()
	childIn.Close()
	childOut.Close()
	if err != nil {
		in.Close()
		out.Close()
		return nil, fmt.Errorf("starting %s: %w", python, err)
	}
	w.inPipe, w.in, w.out = in, bufio.NewWriterSize(in, 64<<10), bufio.NewReaderSize(out, 64<<10)
	w.outPipe = out
	go func() {
		w.err = cmd.Wait()
		w.outPipe.Close()
		close(w.done)
	}()
	return w, nil
}

// call sends one request and returns the answer, serving the cache
// requests the worker makes meanwhile. A worker that does not answer
// within limit is killed.
func (w *worker) call(op byte, parts [][]byte, limit time.Duration) ([]byte, error) {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(n))
	hdr[4] = op
	w.in.Write(hdr[:])
	for _, p := range parts {
		w.in.Write(p)
	}
	if err := w.in.Flush(); err != nil {
		return nil, w.dead(err)
	}
	timer := time.AfterFunc(limit, func() {
		w.killed.Store(true)
		w.cmd.Process.Kill()
	})
	defer timer.Stop()
	for {
		f, err := w.read()
		if err != nil {
			return nil, w.dead(err)
		}
		switch f[0] {
		case 'D':
			return f[1:], nil
		case 'C':
			ans := w.kv.serve(f[1:])
			binary.BigEndian.PutUint32(hdr[:4], uint32(len(ans)+1))
			hdr[4] = 'R'
			w.in.Write(hdr[:])
			w.in.Write(ans)
			if err := w.in.Flush(); err != nil {
				return nil, w.dead(err)
			}
		default:
			return nil, w.dead(fmt.Errorf("unexpected frame %q", f[0]))
		}
	}
}

func (w *worker) read() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(w.out, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxFrame {
		return nil, fmt.Errorf("bad frame length %d", n)
	}
	if cap(w.buf) < int(n) {
		w.buf = make([]byte, n)
	}
	b := w.buf[:n]
	if _, err := io.ReadFull(w.out, b); err != nil {
		return nil, err
	}
	return b, nil
}

// dead kills the worker and says why it stopped answering.
func (w *worker) dead(cause error) error {
	w.cmd.Process.Kill()
	w.inPipe.Close()
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
	}
	if w.killed.Load() {
		return fmt.Errorf("%w: no answer in time, killed", errWorker)
	}
	msg := ""
	if w.err != nil {
		msg = w.err.Error()
	}
	if l := w.stderr.lastLine(); l != "" {
		msg += ": " + l
	}
	if msg == "" {
		msg = cause.Error()
	}
	return fmt.Errorf("%w died (%s)", errWorker, msg)
}

// stop ends the worker.
func (w *worker) stop() {
	w.inPipe.Close()
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
		w.cmd.Process.Kill()
		<-w.done
	}
}

// callJSON sends a JSON request and decodes the JSON answer into out.
func (w *worker) callJSON(op byte, req, out any, limit time.Duration) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ans, err := w.call(op, [][]byte{b}, limit)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(ans))
	d.UseNumber()
	return d.Decode(out)
}
