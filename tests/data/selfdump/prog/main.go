// selfdump: a daemon that dumps its own goroutines on SIGUSR1, as many services do,
// while a retry loop leaks.
//
// On SIGUSR1 its signal goroutine writes a `runtime.Stack(buf, true)` dump to stderr,
// after one log line, between the service's other log lines: dump after dump in one
// log, each opening with the signal goroutine itself `[running]`, then goroutine 1.
//
// Leak: every -leak-every a new reconnect loop starts for a peer that never answers
// and never gives up (it sleeps 1-3 s between attempts, so no wait reaches a minute).
// Benign: an idle worker pool of 6, a job producer, short-lived job goroutines
// (50-450 ms each), a metrics ticker. With -pprof it also serves net/http/pprof on a
// free 127.0.0.1 port (printing `PORT n`), for captures over loopback.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

var errRefused = errors.New("connection refused")

// dial stands for a connection attempt to a peer that is gone.
func dial(peer int) error {
	return errRefused
}

// reconnect is the leak: it retries forever and nobody stops it.
func reconnect(peer int) {
	for attempt := 1; ; attempt++ {
		if err := dial(peer); err == nil {
			return
		}
		time.Sleep(time.Duration(1000+(peer*337+attempt*211)%2000) * time.Millisecond)
	}
}

var handled atomic.Int64

// handle is one job: short-lived.
func handle(n int, done chan<- int) {
	time.Sleep(time.Duration(50+(n*97)%400) * time.Millisecond)
	done <- n
}

// worker is one of an idle pool that waits for jobs.
func worker(jobs <-chan int, done chan<- int) {
	for n := range jobs {
		go handle(n, done)
	}
}

// collect counts finished jobs.
func collect(done <-chan int) {
	for range done {
		handled.Add(1)
	}
}

// flushMetrics ticks once a second.
func flushMetrics(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}

// dumpOnSignal writes every goroutine's stack to stderr at each SIGUSR1.
func dumpOnSignal(sig <-chan os.Signal) {
	buf := make([]byte, 8<<20)
	for range sig {
		n := runtime.Stack(buf, true)
		log.Printf("INFO received SIGUSR1, dumping %d goroutines", runtime.NumGoroutine())
		os.Stderr.Write(buf[:n])
	}
}

func main() {
	run := flag.Duration("run", 5*time.Minute, "how long to run")
	leakEvery := flag.Duration("leak-every", 12*time.Second, "how often a reconnect loop starts")
	serve := flag.Bool("pprof", false, "serve net/http/pprof on a free 127.0.0.1 port")
	flag.Parse()
	log.SetFlags(0) // under systemd: journald stamps each line

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go dumpOnSignal(sig)

	if *serve {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
		go http.Serve(ln, nil)
	}
	fmt.Println("READY")

	jobs := make(chan int)
	done := make(chan int)
	for i := 0; i < 6; i++ {
		go worker(jobs, done)
	}
	go collect(done)
	go flushMetrics(make(chan struct{}))

	deadline := time.Now().Add(*run)
	nextLeak := time.Now()
	peer := 0
	for n := 0; time.Now().Before(deadline); n++ {
		if !time.Now().Before(nextLeak) {
			peer++
			log.Printf("WARN peer %d unreachable: %v; reconnecting in the background", peer, errRefused)
			go reconnect(peer)
			nextLeak = nextLeak.Add(*leakEvery)
		}
		select {
		case jobs <- n:
		default:
		}
		time.Sleep(100 * time.Millisecond)
	}
}
