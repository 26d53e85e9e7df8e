// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// Go's handoff latency, the event bench/common/handoff_latency.h measures in greenhub: from
// the moment goroutine A enters a blocking call to the first instruction of the next
// goroutine, B, on another thread. Two shapes of blocking call:
//
//	read  a raw read(2) of an empty blocking pipe, syscall.Read (an os.File on a pipe would
//	      not block the thread: the runtime's poller parks the goroutine instead)
//	cgo   a cgo call into a C function that makes the same read(2)
//
// Each round:
//
//	A: readies B (a send on the channel B waits on, once B waits); t0 = now; the blocking call
//	B: wakes from its receive; t1 = now; records t1 - t0; moves the futex word `release` (in C
//	   memory) and wakes it with a raw FUTEX_WAKE; waits for the next round
//	a C helper thread outside the Go scheduler, asleep on `release`, wakes and writes the pipe
//
// B is readied before t0 is taken, so whatever the runtime starts on B's behalf is already
// under way when the clock starts: Go at its best. B then waits for A to publish the round's
// t0 before it reads it. With GOMAXPROCS=2, B can even run before A blocks (its thread
// preempts A's between the ready and t0): such a round counts as 0 (`early` counts them).
//
// With GOMAXPROCS=1 the ready only queues B on A's P: B runs once the runtime's sysmon has
// seen A's P in its call on two of its ticks, retaken it and handed it to another thread.
// A cgo call enters the same system call state as syscall.Read, so it goes the same way.
// With GOMAXPROCS=2 the ready wakes the thread of the idle second P, which steals B: no
// handoff, a thread wake. Either way t1 - t0 is how long the next goroutine waited.
//
// now() is the runtime's nanotime, CLOCK_MONOTONIC through the vDSO, the clock of gh_now().
// B's wake is syscall.RawSyscall, which bypasses the scheduler: through syscall.Syscall (or a
// cgo call) the goroutine returning from its call could take a P whose owner sits in another
// system call, a route that is not the one being measured.
//
// Usage: go_handoff read|cgo [rounds]. GOMAXPROCS comes from the environment (default 1).
// Prints one line: the shape, GOMAXPROCS, p50/p99/max in microseconds, rounds, early rounds.
// GO_HANDOFF_DIST=1 prints more percentiles first.
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

// 0, or an errno value.
static int start_helper(int fd)
{
	pthread_t t;

	release_fd = fd;
	return pthread_create(&t, 0, helper, 0);
}

// The cgo shape's blocking call: one byte from fd; what read(2) returns.
static long block_read(int fd)
{
	char c;

	return read(fd, &c, 1);
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
	"unsafe"
)

const (
	warmup           = 100
	futexWakePrivate = 1 | 128 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go_handoff read|cgo [rounds]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "read" && os.Args[1] != "cgo") {
		usage()
	}
	shape := os.Args[1]
	rounds := 5000
	if len(os.Args) > 2 {
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || n <= 0 {
			usage()
		}
		rounds = n
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		fmt.Fprintln(os.Stderr, "go_handoff: pipe:", err)
		os.Exit(1)
	}
	var t0, t0round int64
	early := 0
	lat := make([]int64, 0, rounds)
	next := make(chan int64)
	done := make(chan struct{})
	release := (*uint32)(unsafe.Pointer(&C.release_word))
	wake := func() {
		atomic.AddUint32(release, 1)
		syscall.RawSyscall(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(release)),
			futexWakePrivate, 1)
	}
	if e := C.start_helper(C.int(p[1])); e != 0 {
		fmt.Fprintln(os.Stderr, "go_handoff: pthread_create:", syscall.Errno(e))
		os.Exit(1)
	}

	go func() { // B
		for r := range next {
			t1 := nanotime()
			for atomic.LoadInt64(&t0round) != r {
				runtime.Gosched()
			}
			if r > warmup {
				d := t1 - atomic.LoadInt64(&t0)
				if d < 0 { // B ran before A blocked: it waited for nothing
					d = 0
					early++
				}
				lat = append(lat, d)
			}
			wake()
		}
		close(done)
	}()
	buf := make([]byte, 1)
	for r := int64(1); r <= int64(rounds+warmup); r++ { // A
		var n int
		var err error

		for sent := false; !sent; {
			select {
			case next <- r:
				sent = true
			default: // B is not waiting yet: let it finish the last round
				runtime.Gosched()
			}
		}
		atomic.StoreInt64(&t0, nanotime())
		atomic.StoreInt64(&t0round, r)
		if shape == "read" {
			n, err = syscall.Read(p[0], buf)
		} else {
			var ret C.long
			ret, err = C.block_read(C.int(p[0]))
			n = int(ret)
		}
		if n != 1 {
			fmt.Fprintln(os.Stderr, "go_handoff: read:", n, err)
			os.Exit(1)
		}
	}
	close(next)
	<-done
	atomic.StoreInt32((*int32)(unsafe.Pointer(&C.release_exit)), 1)
	wake()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	n := len(lat)
	if os.Getenv("GO_HANDOFF_DIST") != "" { // the whole distribution, for a closer look
		for _, q := range []int{1, 10, 25, 40, 50, 60, 75, 90, 99} {
			fmt.Printf("p%d=%.1f ", q, float64(lat[n*q/100])/1e3)
		}
		fmt.Println()
	}
	fmt.Printf("go-%s gomaxprocs=%d p50_us=%.1f p99_us=%.1f max_us=%.1f rounds=%d early=%d\n",
		shape, runtime.GOMAXPROCS(0), float64(lat[n/2])/1e3, float64(lat[n*99/100])/1e3,
		float64(lat[n-1])/1e3, n, early)
}
