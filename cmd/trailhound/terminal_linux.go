package main

import (
	"os"
	"syscall"
	"unsafe"
)

// isTTY reports whether f is a terminal: whether it has terminal
// attributes (the TCGETS ioctl tcgetattr makes), which character devices
// that are not terminals (/dev/null, /dev/full, /dev/zero) do not.
func isTTY(f *os.File) bool {
	sc, err := f.SyscallConn() // not Fd, which would make f blocking
	if err != nil {
		return false
	}
	var errno syscall.Errno
	err = sc.Control(func(fd uintptr) {
		var t syscall.Termios
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	})
	return err == nil && errno == 0
}
