// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// The comparison for bench/echo: a TCP echo server with a goroutine per connection, the Go
// counterpart of examples/echo. It runs on one P (GOMAXPROCS=1) and, like the C server, prints
// "listening on ADDR:PORT" once ready.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
)

func handle(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16384)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	procs := flag.Int("procs", 1, "GOMAXPROCS")
	flag.Parse()
	runtime.GOMAXPROCS(*procs)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-go:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo-go: accept:", err)
			continue
		}
		go handle(c)
	}
}
