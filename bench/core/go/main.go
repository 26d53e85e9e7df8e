// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// Command go_core is the Go side of greenhub's core benchmarks: the same three loops as
// gh_core, with goroutines on one P (GOMAXPROCS=1), standard library only. Each run measures
// once and prints one number; bench/core/run repeats and compares.
//
//	go_core switch N      ns per runtime.Gosched() switch between two goroutines running
//	                      the same loop, N calls each
//	go_core switch-asym N the same, but main's loop and a partner's loop ping-pong
//	go_core spawn N       ns per `go f()` + sync.WaitGroup wait, one goroutine at a time
//	go_core timers T MS   time.Sleep calls finished per second: T goroutines, each sleeping
//	                      a random 1 us .. 1 ms, counted over MS ms
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// pingpong is the loop both goroutines of the same-loop shape run.
//
//go:noinline
func pingpong(n int, wg *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	wg.Done()
}

func runPair(n int) {
	var wg sync.WaitGroup
	wg.Add(2)
	go pingpong(n, &wg)
	go pingpong(n, &wg)
	wg.Wait()
}

func benchSwitch(n int) float64 {
	runPair(n/10 + 1000)
	t0 := time.Now()
	runPair(n)
	return float64(time.Since(t0).Nanoseconds()) / (2 * float64(n))
}

func benchSwitchAsym(n int) float64 {
	var stop int32
	done := make(chan struct{})
	go func() {
		for atomic.LoadInt32(&stop) == 0 {
			runtime.Gosched()
		}
		close(done)
	}()
	for i := 0; i < n/10+1000; i++ {
		runtime.Gosched()
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	d := time.Since(t0)
	atomic.StoreInt32(&stop, 1)
	<-done
	// Each of main's Gosched calls runs the partner once, whose Gosched comes back.
	return float64(d.Nanoseconds()) / (2 * float64(n))
}

func spawnJoin(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			wg.Done()
		}()
		wg.Wait()
	}
}

func benchSpawn(n int) float64 {
	spawnJoin(n/10 + 1000)
	t0 := time.Now()
	spawnJoin(n)
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// xorshift64*, the same generator as gh_core's.
func nextRand(s *uint64) uint64 {
	*s ^= *s >> 12
	*s ^= *s << 25
	*s ^= *s >> 27
	return *s * 2685821657736338717
}

func benchTimers(threads int, window time.Duration) float64 {
	var fired uint64
	var stop int32
	var wg sync.WaitGroup
	for i := 0; i < threads; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			for atomic.LoadInt32(&stop) == 0 {
				d := 1000 + nextRand(&seed)%999000 // 1 us .. 1 ms
				time.Sleep(time.Duration(d))
				atomic.AddUint64(&fired, 1)
			}
		}(uint64(i+1)*0x9e3779b97f4a7c15 + 1)
	}
	time.Sleep(window / 5)
	t0 := time.Now()
	f0 := atomic.LoadUint64(&fired)
	time.Sleep(window)
	d := time.Since(t0)
	f1 := atomic.LoadUint64(&fired)
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	return float64(f1-f0) * 1e9 / float64(d.Nanoseconds())
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go_core switch N | switch-asym N | spawn N | timers THREADS MS")
	os.Exit(2)
}

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) < 3 {
		usage()
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		usage()
	}
	var v float64
	switch {
	case os.Args[1] == "switch" && len(os.Args) == 3:
		v = benchSwitch(n)
	case os.Args[1] == "switch-asym" && len(os.Args) == 3:
		v = benchSwitchAsym(n)
	case os.Args[1] == "spawn" && len(os.Args) == 3:
		v = benchSpawn(n)
	case os.Args[1] == "timers" && len(os.Args) == 4:
		ms, err := strconv.Atoi(os.Args[3])
		if err != nil || ms <= 0 {
			usage()
		}
		v = benchTimers(n, time.Duration(ms)*time.Millisecond)
	default:
		usage()
	}
	fmt.Printf("%.3f\n", v)
}
