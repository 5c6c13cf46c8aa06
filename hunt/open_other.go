//go:build !unix

package hunt

// openNonblock: no FIFOs to wait for here.
const openNonblock = 0
