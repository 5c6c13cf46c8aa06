package record

import (
	"io"
	"os"
)

// AheadMin is the least compressed size of a gzip file worth
// decompressing ahead (DecompressAhead): below it, the goroutine and the
// hand-over of its blocks cost about what they would save. A variable:
// tests lower it.
var AheadMin int64 = 1 << 20

// aheadBlocks blocks of aheadBlock bytes are decompressed ahead of the
// reader: enough that neither side waits for the other's pace to vary.
const (
	aheadBlocks = 4
	aheadBlock  = 256 << 10
)

// DecompressAhead returns rc, a reader OpenContext or OpenInput returned,
// with its gzip decompressed on a goroutine of its own, a few blocks ahead
// of the reader: a reader that splits, parses and matches what it reads
// then leaves decompressing to another core, which one large .json.gz kept
// on its own (decompressing is about half the work of a query over one).
// Only gzip read from a regular file is: a plain file would only be copied
// once more, and the goroutine's read of a file returns by itself, so Close
// can wait for it (a pipe's or a network body's could wait for a writer
// forever). Errors come in the same place of the stream as without, and
// ctx still stops the reads. It reports whether it did.
func DecompressAhead(rc io.ReadCloser) (io.ReadCloser, bool) {
	c, ok := rc.(*ctxReadCloser)
	if !ok {
		return rc, false
	}
	g, ok := c.c.(*gzipFile)
	if !ok || !g.regular {
		return rc, false
	}
	a := &ahead{src: g, chunks: chunks{full: make(chan chunk, aheadBlocks), free: make(chan []byte, aheadBlocks)}, stop: make(chan struct{}), done: make(chan struct{})}
	for range aheadBlocks {
		a.free <- make([]byte, aheadBlock) // a large file's: not worth a pool
	}
	go a.run()
	c.r, c.c = a, a
	return c, true
}

// ahead is DecompressAhead's reader: run fills the free blocks from src
// and hands them over full, in order; Read gives their bytes back, then
// the error that ended them.
type ahead struct {
	src io.ReadCloser
	chunks
	stop, done chan struct{}
	closed     bool
}

func (a *ahead) run() {
	defer close(a.done)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		n, err := 0, error(nil)
		for n < len(buf) && err == nil {
			var k int
			k, err = a.src.Read(buf[n:])
			n += k
		}
		a.full <- chunk{b: buf[:n], err: err} // never blocks: as many places as blocks
		if err != nil {
			return
		}
	}
}

func (a *ahead) Read(b []byte) (int, error) {
	if a.closed {
		return 0, os.ErrClosed
	}
	return a.read(b, nil, nil) // run always sends
}

// Close stops the goroutine, once its read in progress returns, and
// closes the input.
func (a *ahead) Close() error {
	if a.closed {
		return nil
	}
	a.closed = true
	close(a.stop)
	<-a.done
	return a.src.Close()
}
