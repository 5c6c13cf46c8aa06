package record

import "golang.org/x/sys/cpu"

// useAVX2 chooses indexSpecialAVX2 for the strings of at least 32 bytes
// left in the buffer.
var useAVX2 = cpu.X86.HasAVX2

// indexSpecialAVX2 returns the index in b of the first byte that is '"',
// '\\', a control character or not ASCII (len(b) if none), 32 bytes at a
// time. b must hold at least 32 bytes: its last block is read whole.
//
//go:noescape
func indexSpecialAVX2(b []byte) int
