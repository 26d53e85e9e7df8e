// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// The Go side of bench/stall: with GOMAXPROCS=1, a 1 ms ticker goroutine and goroutines that
// each make a 50 ms blocking C call (nanosleep through cgo) in a loop. Go's own machinery hands
// the processor to another thread while a goroutine sits in a cgo call. Prints the same line
// as gh_stall.
package main

/*
#include <errno.h>
#include <time.h>

static void sleep_50ms(void)
{
	struct timespec ts = { 0, 50000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
)

func main() {
	runtime.GOMAXPROCS(1)
	seconds, blockers := 3, 4
	if len(os.Args) > 1 {
		seconds, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		blockers, _ = strconv.Atoi(os.Args[2])
	}
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	var lateness []time.Duration
	var calls int64
	var mu sync.Mutex
	var wg sync.WaitGroup

	wg.Add(1 + blockers)
	go func() {
		defer wg.Done()
		next := time.Now()
		for next.Before(deadline) {
			next = next.Add(time.Millisecond)
			time.Sleep(time.Until(next))
			now := time.Now()
			late := now.Sub(next)
			if late < 0 {
				late = 0
			}
			lateness = append(lateness, late)
			for !next.Add(time.Millisecond).After(now) {
				next = next.Add(time.Millisecond)
			}
		}
	}()
	for i := 0; i < blockers; i++ {
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				C.sleep_50ms()
				mu.Lock()
				calls++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(lateness, func(i, j int) bool { return lateness[i] < lateness[j] })
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	n := len(lateness)
	fmt.Printf("go p50_us=%.1f p99_us=%.1f max_us=%.1f calls=%d mode=go\n",
		us(lateness[n/2]), us(lateness[int(float64(n-1)*0.99)]), us(lateness[n-1]), calls)
}
