// Command cores measures what a second core adds on this machine for the
// kinds of work a hunt does, apart from trailhound: each probe runs on one
// goroutine, then on two at once (each on data of its own), and prints how
// much longer each of the two took than one alone. Compute-bound work
// should show about 1.0; work that misses the private caches shows what the
// cores share (the last-level cache, memory bandwidth, the VM's neighbours).
//
//	go run ./bench/cores [-rounds N]
//
// docs/performance.md quotes it for the two-worker target of issue 15.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

var sink [2]uint64

// chain returns a random cyclic permutation of n slots (a pointer chase
// over n*4 bytes that the prefetchers cannot follow).
func chain(n int, seed uint64) []uint32 {
	r := rand.New(rand.NewPCG(seed, 1))
	order := make([]uint32, n) // the slots in a random order (Fisher-Yates)
	for i := range order {
		order[i] = uint32(i)
	}
	for i := n - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	next := make([]uint32, n)
	for i, slot := range order {
		next[slot] = order[(i+1)%n]
	}
	return next
}

func chase(next []uint32, steps int) uint64 {
	p := uint32(0)
	for range steps {
		p = next[p]
	}
	return uint64(p)
}

func stream(buf []uint64, rounds int) (s uint64) {
	for range rounds {
		for _, v := range buf {
			s += v
		}
	}
	return s
}

func compute(n int) uint64 {
	x := uint64(1)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// timed runs f(0) alone, then f(0) and f(1) at once, and returns both
// times (the pair's: the slower of the two).
func timed(f func(i int)) (alone, pair time.Duration) {
	t := time.Now()
	f(0)
	alone = time.Since(t)
	var wg sync.WaitGroup
	var d [2]time.Duration
	for i := range 2 {
		wg.Go(func() {
			t := time.Now()
			f(i)
			d[i] = time.Since(t)
		})
	}
	wg.Wait()
	return alone, max(d[0], d[1])
}

func main() {
	rounds := flag.Int("rounds", 5, "runs of each probe (the median is printed)")
	flag.Parse()
	var l2, l3, mem [2][]uint32
	var words [2][]uint64
	for i := range 2 {
		l2[i] = chain(64<<10, uint64(i))  // 256 KB
		l3[i] = chain(2<<20, uint64(i))   // 8 MB
		mem[i] = chain(32<<20, uint64(i)) // 128 MB
		words[i] = make([]uint64, 8<<20)  // 64 MB
		for j := range words[i] {
			words[i][j] = uint64(j)
		}
	}
	probes := []struct {
		name string
		f    func(i int)
	}{
		{"compute (registers only)", func(i int) { sink[i] += compute(200_000_000) }},
		{"pointer chase, 256 KB each", func(i int) { sink[i] += chase(l2[i], 20_000_000) }},
		{"pointer chase, 8 MB each", func(i int) { sink[i] += chase(l3[i], 5_000_000) }},
		{"pointer chase, 128 MB each", func(i int) { sink[i] += chase(mem[i], 2_000_000) }},
		{"sequential read, 64 MB each", func(i int) { sink[i] += stream(words[i], 10) }},
	}
	fmt.Printf("%-30s %12s %12s %8s\n", "probe (medians)", "alone", "two at once", "slower")
	for _, p := range probes {
		var alone, pair []time.Duration
		var ratios []float64
		for range *rounds {
			a, b := timed(p.f)
			alone, pair, ratios = append(alone, a), append(pair, b), append(ratios, float64(b)/float64(a))
		}
		slices.Sort(alone)
		slices.Sort(pair)
		slices.Sort(ratios)
		mid := len(ratios) / 2
		fmt.Printf("%-30s %12v %12v %7.2fx\n", p.name, alone[mid].Round(time.Millisecond), pair[mid].Round(time.Millisecond), ratios[mid])
	}
}
