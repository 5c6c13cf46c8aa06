package record

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readAll reads path as OpenContext opens it, decompressed ahead or not,
// in reads of step bytes, and returns the bytes and the error that ended
// them (nil at the end).
func readAll(t *testing.T, ctx context.Context, path string, ahead bool, step int) ([]byte, error) {
	t.Helper()
	rc, err := OpenContext(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	if ahead {
		var ok bool
		if rc, ok = DecompressAhead(rc); !ok && isGzip(t, path) {
			t.Fatalf("%s: not decompressed ahead", path)
		}
	}
	defer rc.Close()
	var out []byte
	buf := make([]byte, step)
	for {
		n, err := rc.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// isGzip reports whether the file at path starts as gzip does.
func isGzip(t *testing.T, path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
}

// gzipOf compresses b in members of member bytes (concatenated gzip
// streams, as a file appended to is).
func gzipOf(t testing.TB, b []byte, member int) []byte {
	t.Helper()
	var out bytes.Buffer
	for len(b) > 0 || out.Len() == 0 {
		k := min(len(b), member)
		zw := gzip.NewWriter(&out)
		zw.Write(b[:k])
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		b = b[k:]
	}
	return out.Bytes()
}

// aheadAgrees checks that data, in a file, reads the same decompressed
// ahead as not: the same bytes, then the same error.
func aheadAgrees(t *testing.T, dir, name string, data []byte, step int) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, wantErr := readAll(t, context.Background(), path, false, step)
	got, gotErr := readAll(t, context.Background(), path, true, step)
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes decompressed ahead, %d without (first difference at %d)", name, len(got), len(want), firstDiff(got, want))
	}
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Errorf("%s: ended with %v decompressed ahead, %v without", name, gotErr, wantErr)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Decompressing ahead changes nothing a reader sees: the bytes, and the
// error that ends them where it ended them (a truncated or corrupted
// gzip's), whatever the reader's step; a plain file is not read ahead.
func TestDecompressAheadAgrees(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var plain bytes.Buffer
	for i := 0; plain.Len() < 3*aheadBlock+1234; i++ {
		plain.WriteString(`{"eventTime":"2026-11-30T10:00:00Z","eventName":"GetObject","n":`)
		plain.WriteString(strings.Repeat("7", rng.IntN(40)))
		plain.WriteString("}\n")
	}
	whole := gzipOf(t, plain.Bytes(), 1<<30)
	members := gzipOf(t, plain.Bytes(), aheadBlock/3)
	corrupt := bytes.Clone(whole)
	corrupt[len(corrupt)/2] ^= 0x55
	badCRC := bytes.Clone(whole)
	badCRC[len(badCRC)-6] ^= 1
	cases := []struct {
		name string
		data []byte
	}{
		{"empty.gz", gzipOf(t, nil, 1)},
		{"small.gz", gzipOf(t, []byte(`{"eventName":"x"}`), 1<<30)},
		{"whole.gz", whole},
		{"members.gz", members},
		{"truncated.gz", whole[:len(whole)*2/3]},
		{"header-only.gz", whole[:10]},
		{"corrupt.gz", corrupt},
		{"crc.gz", badCRC},
		{"trailing-garbage.gz", append(bytes.Clone(whole), "not gzip"...)},
		{"plain.json", plain.Bytes()},
	}
	for _, tc := range cases {
		for _, step := range []int{1 << 10, 64 << 10, aheadBlock + 1, 4 << 20} {
			aheadAgrees(t, dir, tc.name, tc.data, step)
		}
	}
}

// FuzzDecompressAheadAgrees: any bytes, compressed (in members), then cut
// and with a byte changed where the fuzzer says, read the same decompressed
// ahead as not. Run it with -fuzzminimizetime 20x: the default minimizes
// each new input for a minute, showing 0 execs/s meanwhile.
func FuzzDecompressAheadAgrees(f *testing.F) {
	f.Add([]byte(`{"eventName":"GetObject"}`), uint16(100), uint32(0), uint32(0), byte(0))
	f.Add(bytes.Repeat([]byte("abc"), 100000), uint16(5000), uint32(20000), uint32(300), byte(7))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, member uint16, cut, at uint32, flip byte) {
		z := gzipOf(t, bytes.Repeat(data, 1+int(member)%7), 1+int(member))
		if c := int(cut); c > 0 && c < len(z) {
			z = z[:c]
		}
		if len(z) > 0 {
			z[int(at)%len(z)] ^= flip
		}
		aheadAgrees(t, dir, "f.gz", z, 1+int(member)*13)
	})
}

// A reader that stops early closes without reading the rest, and a
// cancelled read ends with the context's error.
func TestDecompressAheadStops(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.gz")
	if err := os.WriteFile(path, gzipOf(t, bytes.Repeat([]byte(`{"eventName":"x"}`+"\n"), 1<<20), 1<<30), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := OpenContext(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ = DecompressAhead(rc)
	if _, err := rc.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := rc.Read(make([]byte, 10)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close: %v, want os.ErrClosed", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	rc, err = OpenContext(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ = DecompressAhead(rc)
	defer rc.Close()
	buf := make([]byte, 64<<10)
	if _, err := rc.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		_, err := rc.Read(buf)
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v, want context.Canceled", err)
		}
		break
	}
}
