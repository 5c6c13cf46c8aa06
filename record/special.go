package record

import "encoding/binary"

// specialWords is the number of words of special bits for n bytes.
func specialWords(n int) int { return (n + 63) >> 6 }

// specialBits sets bit i%64 of dst[i/64] when byte i of src is '"', '\\',
// a control character or not ASCII, and clears it otherwise; the bits of
// the last word past len(src) are set, so that a search for the next
// special byte stops at the end. Blocks of 64 bytes go through AVX2 where
// the machine has it.
func specialBits(dst []uint64, src []byte) {
	dst = dst[:specialWords(len(src))] // the assembly relies on it
	n := 0
	if useAVX2 {
		n = specialBitsAVX2(dst, src)
	}
	for ; len(src)-n >= 64; n += 64 {
		dst[n>>6] = specialWord(src[n : n+64])
	}
	if n < len(src) {
		var last [64]byte
		for i := range last {
			last[i] = '"'
		}
		copy(last[:], src[n:])
		dst[n>>6] = specialWord(last[:])
	}
}

// specialWord is the special bits of 64 bytes, 8 at a time.
func specialWord(b []byte) uint64 {
	var w uint64
	for k := 0; k < 8; k++ {
		m := specialExact(binary.LittleEndian.Uint64(b[8*k:]))
		w |= (m * 0x0002040810204081 >> 56) << (8 * k) // the high bits, gathered
	}
	return w
}

// specialExact is Special without its false positives after the first:
// the high bit of each byte of x that is special, and of no other.
func specialExact(x uint64) uint64 {
	const m7 = 0x7f7f7f7f7f7f7f7f
	zero := func(y uint64) uint64 { return ^((y&m7 + m7) | y) & hi8 } // bytes of y that are 0
	ctl := ^((x&m7 + lo8*(0x80-0x20)) | x) & hi8                      // bytes below 0x20
	return zero(x^lo8*'"') | zero(x^lo8*'\\') | ctl | x&hi8
}
