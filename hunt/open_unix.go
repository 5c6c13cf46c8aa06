//go:build unix

package hunt

import "syscall"

// openNonblock is the flag that keeps the open of a file found replaced by
// a FIFO from waiting for a writer (its stat then says it is no regular
// file, and it is read as a stream).
const openNonblock = syscall.O_NONBLOCK
