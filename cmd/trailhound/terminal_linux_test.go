package main

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// Character devices that are not terminals (/dev/full, which a user
// sends output to to see write errors, /dev/zero) are not terminals: a
// hunt writes JSON Lines there, not the table.
func TestIsTerminalOtherCharDevices(t *testing.T) {
	for _, name := range []string{"/dev/full", "/dev/zero"} {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if isTerminal(f) {
			t.Errorf("%s: isTerminal = true", name)
		}
		f.Close()
	}
}

// A pseudo-terminal (what a terminal emulator or ssh gives a shell) is a
// terminal.
func TestIsTerminalPty(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (/dev/ptmx: %v): mount devpts to run this test", err)
	}
	defer master.Close()
	var unlock int32
	var n uint32
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here (its slave: %v): mount devpts to run this test", err)
	}
	defer slave.Close()
	if !isTerminal(slave) {
		t.Errorf("%s: isTerminal = false", slave.Name())
	}
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}
