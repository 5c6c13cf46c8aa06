//go:build unix

package record

import (
	"io"
	"io/fs"
	"os"
	"syscall"
)

// A hunt over CloudTrail's S3 layout opens thousands of small files: os.Open
// costs six system calls on Linux (open, four fcntl to try and undo
// non-blocking mode, and the poller's epoll_ctl) besides the stat that told a
// regular file from a FIFO. openFile does it in four: stat, open, fstat,
// fcntl.

// openNonblock is the flag that keeps the open of a file found replaced by
// a FIFO from waiting for a writer (its stat then says it is no regular
// file, and it is read as a stream).
const openNonblock = syscall.O_NONBLOCK

// fdFile reads a regular file through its descriptor.
type fdFile struct {
	fd   int
	path string
}

// openFile opens path for reading when it is a regular file. It returns
// nil, nil for anything else (a FIFO, a device, a folder), without
// blocking and without opening it: a FIFO opened and closed again would
// let a writer waiting in open write to no reader (EPIPE). A file replaced
// between the stat and the open is opened non-blocking and checked again
// with fstat.
func openFile(path string) (io.ReadCloser, error) {
	var st syscall.Stat_t
	var err error
	for {
		if err = syscall.Stat(path, &st); err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, nil
	}
	var fd int
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, nil
	}
	// back to blocking reads (Linux ignores O_NONBLOCK on most regular
	// files, but not every file system does)
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFL, 0); e != 0 {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: path, Err: e}
	}
	return &fdFile{fd: fd, path: path}, nil
}

func (f *fdFile) Read(b []byte) (int, error) {
	if f.fd < 0 {
		return 0, os.ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(f.fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return os.ErrClosed
	}
	err := syscall.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.path, Err: err}
	}
	return nil
}

// idOf identifies the file st describes by device and inode.
func idOf(st fs.FileInfo) (fileID, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(sys.Dev), uint64(sys.Ino)}, true
}
