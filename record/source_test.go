package record

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWalk builds a tree with symbolic links, a link loop, hidden and
// non-log files, a FIFO and a dangling link, and checks what Walk reads,
// skips (with the reason) and reports.
func TestWalk(t *testing.T) {
	root := t.TempDir()
	logs := filepath.Join(root, "logs")
	other := filepath.Join(root, "other")
	for _, d := range []string{logs, other, filepath.Join(logs, ".hidden-dir"), filepath.Join(logs, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string) {
		if err := os.WriteFile(path, []byte(`{"eventName":"x"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(logs, "a.json"))
	write(filepath.Join(logs, "sub", "b.jsonl"))
	write(filepath.Join(logs, ".c.jsonl"))
	write(filepath.Join(logs, ".hidden-dir", "d.json"))
	write(filepath.Join(logs, "notes.txt"))
	write(filepath.Join(other, "e.json"))
	link := func(target, name string) {
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	link(other, filepath.Join(logs, "linked-dir"))                          // a folder through a link: walked
	link(filepath.Join(other, "e.json"), filepath.Join(logs, "f.json"))     // a second path to e.json: read once
	link(logs, filepath.Join(logs, "sub", "loop"))                          // a loop back to logs
	link(filepath.Join(root, "gone"), filepath.Join(logs, "dangling.json")) // an error, the rest goes on
	if err := syscall.Mkfifo(filepath.Join(logs, "pipe.json"), 0o644); err != nil {
		t.Fatal(err)
	}

	w := Walk([]string{filepath.Join(root, "missing"), logs, filepath.Join(logs, ".c.jsonl")})
	var read []string
	for _, in := range w.Inputs {
		read = append(read, strings.TrimPrefix(in.Path, root+"/"))
	}
	slices.Sort(read)
	want := []string{"logs/.c.jsonl", "logs/a.json", "logs/f.json", "logs/sub/b.jsonl"} // f.json comes before linked-dir
	if !slices.Equal(read, want) {
		t.Errorf("read %v, want %v", read, want)
	}
	skipped := map[string]string{}
	for _, s := range w.Skipped {
		skipped[strings.TrimPrefix(s.Path, root+"/")] = s.Reason
	}
	for path, reason := range map[string]string{
		"logs/.c.jsonl":          SkipHidden, // inside the folder; named explicitly too, and read
		"logs/.hidden-dir":       SkipHidden,
		"logs/notes.txt":         SkipNotLog,
		"logs/pipe.json":         SkipNotRegular,
		"logs/linked-dir/e.json": SkipSeen, // the file f.json links to, read already
		"logs/sub/loop":          SkipSeen,
	} {
		if !strings.HasPrefix(skipped[path], reason) {
			t.Errorf("%s: skipped as %q, want %q", path, skipped[path], reason)
		}
	}
	if len(w.Errors) != 2 || !strings.Contains(w.Errors[0].Error(), "missing") || !strings.Contains(w.Errors[1].Error(), "dangling.json") {
		t.Errorf("errors %v, want the missing path and the dangling link", w.Errors)
	}

	// A link named on the command line is followed too.
	w = Walk([]string{filepath.Join(logs, "linked-dir"), filepath.Join(logs, "f.json")})
	if len(w.Inputs) != 1 || len(w.Skipped) != 1 || len(w.Errors) != 0 {
		t.Errorf("links named explicitly: %+v", w)
	}
}

// TestOpenContextCancels checks that reading stops soon after cancellation on
// inputs that block or never end: a FIFO without a writer (which blocks in
// open), an idle pipe on standard input, and /dev/zero.
func TestOpenContextCancels(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	stdin := os.Stdin
	os.Stdin = pr
	defer func() { os.Stdin = stdin }()
	for _, path := range []string{fifo, Stdin, "/dev/zero"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				rc, err := OpenContext(ctx, path, nil)
				if err != nil {
					done <- err
					return
				}
				defer rc.Close()
				_, err = io.Copy(io.Discard, rc)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond)
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("read ended with %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
				t.Fatal("reading did not stop after cancellation")
			}
		})
	}
	// The FIFO's reader goroutine is still blocked in open: give it a writer
	// so it ends.
	if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
		f.Close()
	}
}

// TestOpenContextReads checks that the goroutine-backed reader hands over
// every byte of a FIFO in order, gzip included.
func TestOpenContextReads(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat(`{"eventName":"x"}`+"\n", 20000)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		io.WriteString(f, want)
	}()
	rc, err := OpenContext(context.Background(), fifo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || string(got) != want {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
	}
}

// openFile opens regular files, returns nil (without blocking) for what is
// not one, and names the path in its errors.
func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "a.json")
	if err := os.WriteFile(regular, []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pipe.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		want    string // the file's bytes; "-" for no file
		wantErr error
	}{
		{regular, `{"a":1}`, nil},
		{empty, "", nil},
		{fifo, "-", nil}, // no writer: a blocking open would hang here
		{dir, "-", nil},
		{filepath.Join(dir, "missing.json"), "-", fs.ErrNotExist},
	}
	for _, tc := range tests {
		f, err := openFile(tc.path)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("%s: error %v, want %v naming the path", tc.path, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if tc.want == "-" {
			if f != nil {
				t.Errorf("%s: opened as a regular file", tc.path)
				f.Close()
			}
			continue
		}
		got, err := io.ReadAll(f)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: read %q, %v; want %q", tc.path, got, err, tc.want)
		}
		if err := f.Close(); err != nil {
			t.Errorf("%s: close: %v", tc.path, err)
		}
		if _, err := f.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s: read after close: %v", tc.path, err)
		}
	}
}

// TestOpenContextFIFOWriterFirst: a FIFO whose writer already waits in
// open (`producer > fifo & trailhound hunt fifo`) is read whole. Opening it
// to find out what it is, then closing it, would let the writer's open
// return and leave it writing to a pipe without a reader (EPIPE), while
// the real open waited for a writer that never came. The window is short:
// the writer writes a line at a time, ten times over.
func TestOpenContextFIFOWriterFirst(t *testing.T) {
	want := strings.Repeat(`{"eventName":"x"}`+"\n", 20000)
	for try := range 10 {
		fifo := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		opening := make(chan struct{})
		wrote := make(chan error, 1)
		go func() {
			close(opening)
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				wrote <- err
				return
			}
			defer f.Close()
			for line := range strings.Lines(want) { // many writes: one may come while no reader holds the FIFO
				if _, err := io.WriteString(f, line); err != nil {
					wrote <- err
					return
				}
			}
			wrote <- nil
		}()
		<-opening
		time.Sleep(50 * time.Millisecond)                                       // let the writer block in open first (not a timing assertion)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // a hang guard
		rc, err := OpenContext(ctx, fifo, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		cancel()
		if err != nil || string(got) != want {
			t.Errorf("try %d: read %d bytes (%v), want %d", try, len(got), err, len(want))
		}
		if err := <-wrote; err != nil {
			t.Fatalf("try %d: the writer: %v", try, err)
		}
	}
}
