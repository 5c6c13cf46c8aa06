package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/trailhound/trailhound/hunt"
)

// showProgress redraws one line on w (a terminal) with what the hunt has
// read, until stop is called (stop clears the line and may be called more
// than once). around runs fn, which writes to the terminal, with the line
// cleared; the next tick draws it again.
func showProgress(w io.Writer, p *hunt.Progress) (stop func(), around func(fn func())) {
	var mu sync.Mutex
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				mu.Lock()
				fmt.Fprint(w, "\r\033[K")
				mu.Unlock()
				return
			case <-t.C:
				mu.Lock()
				fmt.Fprint(w, "\r\033[K"+progressLine(p, time.Since(start)))
				mu.Unlock()
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
	around = func(fn func()) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, "\r\033[K")
		fn()
	}
	return stop, around
}

// progressLine is the progress display after elapsed: files, bytes, records,
// matches, rate and, when the total size is known, the time left.
func progressLine(p *hunt.Progress, elapsed time.Duration) string {
	var b strings.Builder
	read := p.BytesOnDisk.Load()
	fmt.Fprintf(&b, "files %d/%d  %s", p.FilesDone.Load(), p.FilesTotal, humanBytes(read))
	if p.BytesTotal > 0 {
		fmt.Fprintf(&b, " of %s (%.0f%%)", humanBytes(p.BytesTotal), 100*float64(read)/float64(p.BytesTotal))
	}
	secs := elapsed.Seconds()
	fmt.Fprintf(&b, "  %d records  %d matches  %d alerts", p.Records.Load(), p.Matches.Load(), p.Alerts.Load())
	if secs > 0 && read > 0 {
		rate := float64(read) / secs
		fmt.Fprintf(&b, "  %s/s", humanBytes(int64(rate)))
		if p.BytesTotal > read {
			left := time.Duration(float64(p.BytesTotal-read) / rate * float64(time.Second))
			fmt.Fprintf(&b, "  ETA %s", left.Round(time.Second))
		}
	}
	return b.String()
}

// humanBytes prints a byte count in B, KB, MB or GB (powers of 1000, as the
// summary's MB/s).
func humanBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000_000:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	case n < 1000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
