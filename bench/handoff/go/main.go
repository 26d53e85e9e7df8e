// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// Go's handoff latency, measured as bench/common/handoff_latency.h measures greenhub's:
//
//	A: t0 = now; seq++; a raw read(2) of an empty blocking pipe (syscall.Read)
//	B: spins on runtime.Gosched() until seq moves, then t1 = now, records t1 - t0, moves the
//	   futex word `release` (in C memory) and wakes it with a raw FUTEX_WAKE
//	a C helper thread outside the Go scheduler, asleep on `release`, wakes and writes the pipe
//
// With GOMAXPROCS=1, B can run only once the runtime's sysmon has retaken the P that A's
// system call holds and handed it to another thread: t1 - t0 is Go's handoff latency. B's
// wake is syscall.RawSyscall, which bypasses the scheduler: through syscall.Syscall (or a cgo
// call) the goroutine returning from its call could take a P whose owner sits in another
// system call, which would hand A's P to B by a route that is not the handoff being measured
// (it shows as ~2 us rounds).
//
// Usage: go_handoff [rounds]. Prints one line: p50/p99/max in microseconds, rounds.
package main

/*
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

// B -> helper: rounds released, a futex word (not static: Go takes its address).
unsigned release_word;
int release_exit;
static int release_fd;

static void *helper(void *arg)
{
	unsigned seen = 0;

	while (!__atomic_load_n(&release_exit, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&release_word, __ATOMIC_ACQUIRE) == seen) {
			syscall(SYS_futex, &release_word, FUTEX_WAIT_PRIVATE, seen, 0, 0, 0);
			continue;
		}
		seen++;
		if (write(release_fd, "x", 1) != 1)
			return 0;
	}
	return 0;
}

static void start_helper(int fd)
{
	pthread_t t;

	release_fd = fd;
	pthread_create(&t, 0, helper, 0);
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	warmup           = 100
	futexWakePrivate = 1 | 128 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

func main() {
	rounds := 5000
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil && n > 0 {
			rounds = n
		}
	}
	runtime.GOMAXPROCS(1)
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		fmt.Fprintln(os.Stderr, "go_handoff: pipe:", err)
		os.Exit(1)
	}
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var t0, seq int64
	var finished int32
	lat := make([]int64, 0, rounds)
	done := make(chan struct{}, 2)
	release := (*uint32)(unsafe.Pointer(&C.release_word))
	wake := func() {
		atomic.AddUint32(release, 1)
		syscall.RawSyscall(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(release)),
			futexWakePrivate, 1)
	}
	C.start_helper(C.int(p[1]))

	go func() { // B
		last := int64(0)
		for atomic.LoadInt32(&finished) == 0 {
			s := atomic.LoadInt64(&seq)
			if s == last {
				runtime.Gosched()
				continue
			}
			t1 := now()
			last = s
			if s > warmup {
				lat = append(lat, t1-atomic.LoadInt64(&t0))
			}
			wake()
		}
		done <- struct{}{}
	}()
	go func() { // A
		buf := make([]byte, 1)
		for i := 0; i < rounds+warmup; i++ {
			atomic.StoreInt64(&t0, now())
			atomic.AddInt64(&seq, 1)
			if n, err := syscall.Read(p[0], buf); n != 1 || err != nil {
				fmt.Fprintln(os.Stderr, "go_handoff: read:", n, err)
				os.Exit(1)
			}
		}
		atomic.StoreInt32(&finished, 1)
		done <- struct{}{}
	}()
	<-done
	<-done
	atomic.StoreInt32((*int32)(unsafe.Pointer(&C.release_exit)), 1)
	wake()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	n := len(lat)
	if os.Getenv("GO_HANDOFF_DIST") != "" {
		for _, q := range []int{1, 10, 25, 40, 50, 60, 75, 90} {
			fmt.Printf("p%d=%.1f ", q, float64(lat[n*q/100])/1e3)
		}
		fmt.Println()
	}
	fmt.Printf("go p50_us=%.1f p99_us=%.1f max_us=%.1f rounds=%d\n",
		float64(lat[n/2])/1e3, float64(lat[n*99/100])/1e3, float64(lat[n-1])/1e3, n)
}
