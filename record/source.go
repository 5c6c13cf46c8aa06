package record

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Stdin is the path that names standard input.
const Stdin = "-"

// Input is one file (or standard input) to read.
type Input struct {
	Path string
	Size int64 // on disk (compressed) size; 0 for stdin
}

// Walked is the result of expanding the paths a user named.
type Walked struct {
	Inputs  []Input
	Digests []string // CloudTrail digest files, recognised by name and not read
	Ignored []string // files inside folders that are not JSON logs (by name)
}

// logSuffixes are the file name endings read when walking a folder.
var logSuffixes = []string{".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz", ".cloudtrail", ".log"}

// IsDigestName reports whether a file name is a CloudTrail digest file
// (AWSLogs/<acct>/CloudTrail-Digest/...).
func IsDigestName(path string) bool {
	return strings.Contains(path, "CloudTrail-Digest") || strings.Contains(filepath.Base(path), "_CloudTrail-Digest_")
}

// Walk expands files and folders (recursively) into inputs. A file named
// explicitly is always read; inside folders only files whose names look like
// logs are read and the rest are listed as ignored. Hidden files and folders
// (starting with '.') inside folders are skipped.
func Walk(paths []string) (Walked, error) {
	var w Walked
	for _, p := range paths {
		if p == Stdin {
			w.Inputs = append(w.Inputs, Input{Path: Stdin})
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return w, fmt.Errorf("input %s: %w", p, err)
		}
		if !st.IsDir() {
			if IsDigestName(p) {
				w.Digests = append(w.Digests, p)
				continue
			}
			w.Inputs = append(w.Inputs, Input{Path: p, Size: st.Size()})
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("walking %s: %w", path, err)
			}
			name := d.Name()
			if path != p && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			switch {
			case IsDigestName(path):
				w.Digests = append(w.Digests, path)
			case hasLogSuffix(name):
				info, err := d.Info()
				if err != nil {
					return fmt.Errorf("stat %s: %w", path, err)
				}
				w.Inputs = append(w.Inputs, Input{Path: path, Size: info.Size()})
			default:
				w.Ignored = append(w.Ignored, path)
			}
			return nil
		})
		if err != nil {
			return w, err
		}
	}
	sort.SliceStable(w.Inputs, func(i, j int) bool { return w.Inputs[i].Size > w.Inputs[j].Size })
	return w, nil
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
// by its magic bytes, not its name). Stdin is read for "-".
func Open(path string) (io.ReadCloser, error) {
	var f *os.File
	if path == Stdin {
		f = os.Stdin
	} else {
		var err error
		f, err = os.Open(path)
		if err != nil {
			return nil, err
		}
	}
	br := bufio.NewReaderSize(f, 256<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		return &gzipFile{zr: zr, f: f}, nil
	}
	return &plainFile{r: br, f: f}, nil
}

type plainFile struct {
	r *bufio.Reader
	f *os.File
}

func (p *plainFile) Read(b []byte) (int, error) { return p.r.Read(b) }
func (p *plainFile) Close() error {
	if p.f == os.Stdin {
		return nil
	}
	return p.f.Close()
}

type gzipFile struct {
	zr *gzip.Reader
	f  *os.File
}

func (g *gzipFile) Read(b []byte) (int, error) {
	n, err := g.zr.Read(b)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

func (g *gzipFile) Close() error {
	g.zr.Close()
	if g.f == os.Stdin {
		return nil
	}
	return g.f.Close()
}
