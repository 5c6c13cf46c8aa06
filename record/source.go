package record

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Stdin is the path that names standard input.
const Stdin = "-"

// Input is one file (or standard input) to read, or, with Open, any other
// source of records (an object in S3).
type Input struct {
	Path string
	Size int64 // on disk (compressed) size; 0 for stdin
	// Open, when set, opens the input instead of the file at Path (which
	// then only names it, in messages and alerts); OpenInput decompresses
	// what it returns.
	Open func(context.Context) (io.ReadCloser, error)
	// ModTime, when set, is the input's modification time, for an input
	// that is no local file.
	ModTime time.Time
}

// logSuffixes are the file name endings read when walking a folder.
var logSuffixes = []string{".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz", ".cloudtrail", ".log"}

// IsDigestName reports whether a file name is a CloudTrail digest file
// (AWSLogs/<acct>/CloudTrail-Digest/...).
func IsDigestName(path string) bool {
	return strings.Contains(path, "CloudTrail-Digest") || strings.Contains(filepath.Base(path), "_CloudTrail-Digest_")
}

// Walked is the result of expanding the paths a user named.
type Walked struct {
	Inputs  []Input
	Digests []string // CloudTrail digest files, recognised by name and not read
	Skipped []Skip   // files and folders inside walked folders that were not read, and why
	Errors  []error  // paths that could not be read (missing, unreadable); the rest was walked
}

// Skip is a file or folder found while walking a folder and not read.
type Skip struct {
	Path   string
	Reason string // one of the Skip* reasons
}

// Reasons for skipping a path found inside a folder. A path named on the
// command line is always read.
const (
	SkipNotLog     = "not a log file name (.json, .jsonl, .ndjson, .gz, .log, .cloudtrail)"
	SkipHidden     = "hidden (name starts with '.')"
	SkipNotRegular = "not a regular file (FIFO, device or socket)"
	SkipSeen       = "already read through another path (symbolic link)"
)

// Walk expands files and folders into inputs. Folders are walked
// recursively, following symbolic links (a link back to a folder being
// walked, or a second path to a file already listed, is skipped and
// listed). A path named explicitly is always read, whatever its name or
// kind (a FIFO or device too); inside folders only regular files whose
// names look like logs are read, hidden files and folders are not, and every
// path passed over is listed in Skipped with the reason. A path that cannot
// be read is an error in Errors; the other paths are still walked.
func Walk(paths []string) Walked {
	var w Walked
	seen := map[fileID]string{}
	for _, p := range paths {
		if p == Stdin {
			w.Inputs = append(w.Inputs, Input{Path: Stdin})
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			w.Errors = append(w.Errors, fmt.Errorf("input %s: %w", p, err))
			continue
		}
		if !st.IsDir() {
			switch {
			case IsDigestName(p):
				w.Digests = append(w.Digests, p)
			case st.Mode().IsRegular() && !w.first(seen, st, p):
			default:
				w.Inputs = append(w.Inputs, Input{Path: p, Size: regularSize(st)})
			}
			continue
		}
		w.walkDir(p, st, seen)
	}
	sort.SliceStable(w.Inputs, func(i, j int) bool { return w.Inputs[i].Size > w.Inputs[j].Size })
	return w
}

// fileID identifies a file or folder whatever path leads to it.
type fileID struct{ dev, ino uint64 }

// first records a file or folder as seen and reports whether it is the first
// path to it; a later one is listed as skipped.
func (w *Walked) first(seen map[fileID]string, st fs.FileInfo, path string) bool {
	id, ok := idOf(st)
	if !ok {
		return true
	}
	if prev, dup := seen[id]; dup {
		w.Skipped = append(w.Skipped, Skip{Path: path, Reason: SkipSeen + ": " + prev})
		return false
	}
	seen[id] = path
	return true
}

func regularSize(st fs.FileInfo) int64 {
	if st.Mode().IsRegular() {
		return st.Size()
	}
	return 0
}

// walkDir lists the folder dir (whose stat is st) and what is below it.
func (w *Walked) walkDir(dir string, st fs.FileInfo, seen map[fileID]string) {
	if !w.first(seen, st, dir) {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.Errors = append(w.Errors, fmt.Errorf("walking %s: %w", dir, err))
		// ReadDir returns the entries it read before the error: walk them.
	}
	for _, d := range entries {
		path := filepath.Join(dir, d.Name())
		if strings.HasPrefix(d.Name(), ".") {
			w.Skipped = append(w.Skipped, Skip{Path: path, Reason: SkipHidden})
			continue
		}
		info, err := os.Stat(path) // follows symbolic links
		if err != nil {
			w.Errors = append(w.Errors, fmt.Errorf("walking %s: %w", path, err))
			continue
		}
		switch {
		case info.IsDir():
			w.walkDir(path, info, seen)
		case !info.Mode().IsRegular():
			w.Skipped = append(w.Skipped, Skip{Path: path, Reason: SkipNotRegular})
		case IsDigestName(path):
			w.Digests = append(w.Digests, path)
		case !hasLogSuffix(d.Name()):
			w.Skipped = append(w.Skipped, Skip{Path: path, Reason: SkipNotLog})
		case w.first(seen, info, path):
			w.Inputs = append(w.Inputs, Input{Path: path, Size: info.Size()})
		}
	}
}

func hasLogSuffix(name string) bool {
	name = strings.ToLower(name)
	for _, s := range logSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// Open opens an input for reading, decompressing gzip transparently (detected
// by its magic bytes, not its name). Stdin is read for "-". It is
// OpenContext without cancellation.
func Open(path string) (io.ReadCloser, error) {
	return OpenContext(context.Background(), path, nil)
}

// open reads r, decompressing gzip, and closes c when done. The buffers and
// decompressors are reused across inputs (returned on Close): a hunt over
// thousands of small delivery files would otherwise spend most of its time
// allocating and clearing them.
func open(r io.Reader, c io.Closer) (io.ReadCloser, error) {
	br, _ := readerPool.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(r, 256<<10)
	} else {
		br.Reset(r)
	}
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(br)
		} else {
			err = zr.Reset(br)
		}
		if err != nil {
			putReader(br)
			c.Close()
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		return &gzipFile{zr: zr, br: br, c: c}, nil
	}
	return &plainFile{r: br, src: r, c: c}, nil
}

var readerPool, gzipPool sync.Pool // *bufio.Reader, *gzip.Reader

func putReader(br *bufio.Reader) {
	br.Reset(nil) // drop the input
	readerPool.Put(br)
}

// plainFile reads what the gzip check peeked from its buffer, then straight
// from the input into the caller's buffer (the scanner's): no second copy.
type plainFile struct {
	r   *bufio.Reader
	src io.Reader
	c   io.Closer
}

func (p *plainFile) Read(b []byte) (int, error) {
	if p.r == nil {
		return 0, os.ErrClosed
	}
	if p.r.Buffered() > 0 {
		return p.r.Read(b)
	}
	return p.src.Read(b)
}

func (p *plainFile) Close() error {
	if p.r != nil {
		putReader(p.r)
		p.r = nil
	}
	return p.c.Close()
}

type gzipFile struct {
	zr      *gzip.Reader
	br      *bufio.Reader
	c       io.Closer
	regular bool // read from a regular file (DecompressAhead)
}

func (g *gzipFile) Read(b []byte) (int, error) {
	if g.zr == nil {
		return 0, os.ErrClosed
	}
	n, err := g.zr.Read(b)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

func (g *gzipFile) Close() error {
	if g.zr != nil {
		g.zr.Close()
		gzipPool.Put(g.zr)
		putReader(g.br)
		g.zr, g.br = nil, nil
	}
	return g.c.Close()
}

// OpenContext is Open for a read that ctx may cancel. Every read checks ctx,
// so a cancelled hunt stops within one buffer even on an endless or
// decompressing input. Inputs that can block (standard input, FIFOs, devices)
// are opened and read on a goroutine of their own, so that cancelling works
// while they have nothing to say (a FIFO without a writer blocks even in
// open); such a goroutine, still blocked when ctx ends, ends with the process.
// raw, when not nil, counts the bytes read from the file (compressed bytes
// for a .gz), for progress reports.
func OpenContext(ctx context.Context, path string, raw *atomic.Int64) (io.ReadCloser, error) {
	var src io.ReadCloser
	if path != Stdin {
		f, err := openFile(path)
		if err != nil {
			return nil, err
		}
		if f != nil {
			src = f
		}
	}
	regular := src != nil
	if src == nil {
		src = newAsyncReader(ctx, path)
	}
	rc, err := open(&ctxReader{ctx: ctx, r: src, n: raw}, src)
	if err != nil {
		return nil, err
	}
	if g, ok := rc.(*gzipFile); ok {
		g.regular = regular
	}
	return &ctxReadCloser{ctxReader{ctx: ctx, r: rc}, rc}, nil
}

// OpenInput opens an input for reading as OpenContext does: with its Open
// function when it has one, else the file at its Path.
func OpenInput(ctx context.Context, in Input, raw *atomic.Int64) (io.ReadCloser, error) {
	if in.Open == nil {
		return OpenContext(ctx, in.Path, raw)
	}
	src, err := in.Open(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := open(&ctxReader{ctx: ctx, r: src, n: raw}, src)
	if err != nil {
		return nil, err
	}
	return &ctxReadCloser{ctxReader{ctx: ctx, r: rc}, rc}, nil
}

// ctxReader stops reading once ctx is done, and counts what it read in n
// (when not nil).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	n   *atomic.Int64
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(b)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}

type ctxReadCloser struct {
	ctxReader
	c io.Closer
}

func (c *ctxReadCloser) Close() error { return c.c.Close() }

// asyncReader opens and reads a file that may block on a goroutine and hands
// its bytes over through two alternating buffers.
type asyncReader struct {
	ctx context.Context
	chunks
	close func() error
}

// chunks is the reading side of buffers filled on another goroutine: full
// brings them in order, each with the error that ended the reading after
// it, and free takes them back once read.
type chunks struct {
	full chan chunk
	free chan []byte
	cur  chunk
	off  int
}

type chunk struct {
	b   []byte
	err error
}

// read copies the next bytes into b, waiting for a buffer when it has none
// left; it gives up with stop's error when stop ends first (a nil stop
// never does).
func (c *chunks) read(b []byte, stop <-chan struct{}, stopErr func() error) (int, error) {
	for c.off == len(c.cur.b) {
		if c.cur.err != nil {
			return 0, c.cur.err
		}
		if c.cur.b != nil {
			c.free <- c.cur.b[:cap(c.cur.b)]
		}
		select {
		case c.cur = <-c.full:
			c.off = 0
		case <-stop:
			c.cur = chunk{}
			return 0, stopErr()
		}
	}
	n := copy(b, c.cur.b[c.off:])
	c.off += n
	return n, nil
}

func newAsyncReader(ctx context.Context, path string) *asyncReader {
	a := &asyncReader{ctx: ctx, chunks: chunks{full: make(chan chunk, 1), free: make(chan []byte, 2)}}
	a.free <- make([]byte, 64<<10)
	a.free <- make([]byte, 64<<10)
	opened := make(chan *os.File, 1)
	stdin := os.Stdin // standard input is not ours to close
	a.close = func() error {
		select {
		case f := <-opened:
			if f != nil && f != stdin {
				return f.Close()
			}
		default: // still opening: the goroutine ends with the process
		}
		return nil
	}
	go func() {
		f := stdin
		if path != Stdin {
			var err error
			if f, err = os.Open(path); err != nil {
				opened <- nil
				a.send(chunk{err: err})
				return
			}
		}
		opened <- f
		for {
			var buf []byte
			select {
			case buf = <-a.free:
			case <-ctx.Done():
				return
			}
			n, err := f.Read(buf)
			if !a.send(chunk{b: buf[:n], err: err}) || err != nil {
				return
			}
		}
	}()
	return a
}

func (a *asyncReader) send(c chunk) bool {
	select {
	case a.full <- c:
		return true
	case <-a.ctx.Done():
		return false
	}
}

func (a *asyncReader) Read(b []byte) (int, error) { return a.read(b, a.ctx.Done(), a.ctx.Err) }

func (a *asyncReader) Close() error { return a.close() }
