//go:build !unix

package record

import (
	"io"
	"io/fs"
	"os"
)

// openNonblock: no FIFOs to wait for here.
const openNonblock = 0

// openFile opens path for reading when it is a regular file. It returns
// nil, nil for anything else (a FIFO, a device, a folder), which
// OpenContext reads on a goroutine of its own.
func openFile(path string) (io.ReadCloser, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil
	}
	return os.Open(path)
}

// idOf cannot identify files here: each path counts as its own file.
func idOf(fs.FileInfo) (fileID, bool) { return fileID{}, false }
