package record

import "golang.org/x/sys/cpu"

// useAVX2 chooses specialBitsAVX2 for the blocks of 64 bytes.
var useAVX2 = cpu.X86.HasAVX2

// specialBitsAVX2 is specialBits for the whole blocks of 64 bytes of src;
// it returns the number of bytes done.
//
//go:noescape
func specialBitsAVX2(dst []uint64, src []byte) int
