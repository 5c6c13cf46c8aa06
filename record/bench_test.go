package record

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const benchLogs = "../../shared/corpus/cloudtrail-logs"

var (
	benchOnce  sync.Once
	benchInput []byte
)

// benchData returns the real logs' gzip delivery files, decompressed and
// concatenated (loaded once per process).
func benchData(b *testing.B) []byte {
	b.Helper()
	if _, err := os.Stat(benchLogs); err != nil {
		b.Skipf("shared corpus not found at %s: %v", benchLogs, err)
	}
	benchOnce.Do(func() {
		var buf bytes.Buffer
		filepath.WalkDir(benchLogs, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json.gz") {
				return err
			}
			rc, err := Open(path)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(&buf, rc)
			buf.WriteByte('\n')
			return err
		})
		benchInput = buf.Bytes()
	})
	if len(benchInput) == 0 {
		b.Fatal("no benchmark input")
	}
	return benchInput
}

// BenchmarkScan splits and validates the real logs' delivery files (in
// memory, decompressed): the scanner alone.
func BenchmarkScan(b *testing.B) {
	data := benchData(b)
	b.SetBytes(int64(len(data)))
	cpu := cpuTime()
	for b.Loop() {
		n, err := countRecords(bytes.NewReader(data))
		if err != nil || n == 0 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// countRecords counts the records of r; any error is returned.
func countRecords(r io.Reader) (int, error) {
	s := NewScanner(r, 0)
	n := 0
	for {
		_, err := s.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// cpuTime returns the CPU time (user and system) the process has used:
// on a machine shared with other work, a steadier measure than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
