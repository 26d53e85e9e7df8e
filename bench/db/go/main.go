// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// The comparison for bench/db: net/http + database/sql + go-sql-driver/mysql serving the same
// routes and bodies as examples/dbapi (/json, /db, /queries?n=N, /slow?ms=N) with a
// connection pool of -pool connections, on -procs Ps. Prints "listening on ADDR:PORT" once
// ready. Built offline in GOPATH mode against Debian's golang-github-go-sql-driver-mysql-dev.
package main

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"

	_ "github.com/go-sql-driver/mysql"
)

type world struct {
	ID           int `json:"id"`
	RandomNumber int `json:"randomNumber"`
}

var db *sql.DB

// clamp parses the query parameter name as dbapi does: def if missing or not a number, else
// clamped to lo..hi.
func clamp(r *http.Request, name string, def, lo, hi int) int {
	v, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil {
		return def
	}
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func reply(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Server", "go-dbapi")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func unavailable(w http.ResponseWriter) {
	reply(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
}

func rows(n int) ([]world, error) {
	out := make([]world, n)
	for i := range out {
		out[i].ID = 1 + rand.Intn(10000)
		err := db.QueryRow("SELECT randomNumber FROM world WHERE id = ?", out[i].ID).
			Scan(&out[i].RandomNumber)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	dsn := flag.String("dsn", "root@tcp(127.0.0.1:3306)/hello_world", "go-sql-driver DSN")
	pool := flag.Int("pool", 16, "database connections")
	procs := flag.Int("procs", 1, "GOMAXPROCS")
	flag.Parse()
	runtime.GOMAXPROCS(*procs)

	var err error
	db, err = sql.Open("mysql", *dsn+"?interpolateParams=true&timeout=2s&readTimeout=15s&writeTimeout=5s")
	if err != nil {
		fmt.Fprintln(os.Stderr, "db-go:", err)
		os.Exit(2)
	}
	db.SetMaxOpenConns(*pool)
	db.SetMaxIdleConns(*pool)

	http.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]string{"message": "Hello, World!"})
	})
	http.HandleFunc("/db", func(w http.ResponseWriter, r *http.Request) {
		rs, err := rows(1)
		if err != nil {
			unavailable(w)
			return
		}
		reply(w, http.StatusOK, rs[0])
	})
	http.HandleFunc("/queries", func(w http.ResponseWriter, r *http.Request) {
		rs, err := rows(clamp(r, "n", 1, 1, 500))
		if err != nil {
			unavailable(w)
			return
		}
		reply(w, http.StatusOK, rs)
	})
	http.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms := clamp(r, "ms", 0, 0, 10000)
		var slept int
		if err := db.QueryRow(fmt.Sprintf("SELECT SLEEP(%d.%03d)", ms/1000, ms%1000)).Scan(&slept); err != nil {
			unavailable(w)
			return
		}
		reply(w, http.StatusOK, map[string]int{"slept_ms": ms})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "db-go:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, "db-go:", err)
		os.Exit(1)
	}
}
