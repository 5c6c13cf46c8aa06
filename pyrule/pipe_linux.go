package pyrule

import (
	"fmt"
	"os"
	"syscall"
)

// blockingPipe returns a pipe whose ends are in blocking mode (os.Pipe's
// are non-blocking, served by the runtime's poller): a call to a worker
// then waits in read(2) on its thread, without the poller's wake-ups,
// which measured cheaper for one small frame each way.
func blockingPipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}
