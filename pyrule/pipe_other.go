//go:build !linux

package pyrule

import "os"

// blockingPipe returns a pipe (the runtime's kind, elsewhere than Linux).
func blockingPipe() (r, w *os.File, err error) { return os.Pipe() }
