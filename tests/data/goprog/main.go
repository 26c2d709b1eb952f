// Command formsprog starts goroutines blocked in many different ways, waits until
// the process is quiet, and then writes the goroutine profile of that one moment in
// all three forms runtime/pprof offers: debug=0 (gzipped profile.proto), debug=1
// (aggregated text) and debug=2 (full traceback). goroscope's tests check that the
// three give exactly the same signatures and counts (tests/test_forms_agree.py).
//
// Usage: formsprog OUTDIR   (writes goroutine.debug0.pb.gz, .debug1.txt, .debug2.txt)
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

type pool struct {
	mu    sync.Mutex
	cond  *sync.Cond
	ready bool
}

// worker waits on the pool's condition variable, which is never signalled.
func (p *pool) worker() {
	p.mu.Lock()
	for !p.ready {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

// sendForever blocks on a send nobody receives.
func sendForever(ch chan<- int) {
	ch <- 1
}

// recvForever blocks on a receive nobody sends to.
func recvForever(ch <-chan string) {
	<-ch
}

// waitFor is generic: its frames print as waitFor[...].
func waitFor[T any](ch <-chan T) T {
	return <-ch
}

// take is small enough to be inlined into its caller: the stack shows it as a frame
// of its own, sharing the caller's PC.
func take(ch <-chan int) int {
	return <-ch
}

// drain calls the inlined helper.
func drain(ch <-chan int) {
	v := take(ch)
	fmt.Println(v)
}

// choose blocks in a select on two channels that never become ready.
func choose(a <-chan int, b chan<- int) {
	select {
	case <-a:
	case b <- 1:
	}
}

// lockHeld blocks on a mutex that main holds.
func lockHeld(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock()
}

// nilRecv blocks forever on a nil channel.
func nilRecv() {
	var ch chan int
	<-ch
}

// deep recurses before blocking, for a longer stack.
func deep(n int, ch <-chan int) {
	if n == 0 {
		<-ch
		return
	}
	deep(n-1, ch)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: formsprog OUTDIR")
		os.Exit(2)
	}
	out := os.Args[1]
	base := runtime.NumGoroutine()
	started := 0
	goStart := func(f func()) { started++; go f() }

	// Every kind of wait gets channels of its own, so no two goroutines can meet.
	sendCh := make(chan int)  // only senders
	strs := make(chan string) // only receivers
	ints := make(chan int)    // only receivers
	drainCh := make(chan int) // only receivers
	selA, selB := make(chan int), make(chan int)
	deepCh := make(chan int)
	held := &sync.Mutex{}
	held.Lock()
	var wg sync.WaitGroup
	wg.Add(1)
	p := &pool{}
	p.cond = sync.NewCond(&p.mu)

	for i := 0; i < 3; i++ {
		started++
		go sendForever(sendCh) // a `go f(x)` statement: the stack shows main.main.gowrapN
	}
	for i := 0; i < 2; i++ {
		started++
		go recvForever(strs)
	}
	goStart(func() { waitFor(strs) })
	goStart(func() { waitFor(ints) })
	for i := 0; i < 4; i++ {
		goStart(func() { drain(drainCh) })
	}
	goStart(func() { choose(selA, selB) })
	for i := 0; i < 2; i++ {
		goStart(func() { lockHeld(held) })
	}
	goStart(func() { wg.Wait() })
	for i := 0; i < 2; i++ {
		started++
		go p.worker()
	}
	goStart(func() { time.Sleep(time.Hour) })
	goStart(nilRecv)
	goStart(func() { deep(6, deepCh) })
	// Goroutines started under pprof labels inherit them; debug=1 and debug=0 carry
	// them, and debug=2 prints them because go.mod says go 1.27 (tracebacklabels).
	pprof.Do(context.Background(), pprof.Labels("route", "export", "tenant", "t\"1"), func(context.Context) {
		for i := 0; i < 2; i++ {
			started++
			go recvForever(strs)
		}
	})

	// Wait until every goroutine is parked, then let the process settle, so the
	// three profiles below see the same world.
	for runtime.NumGoroutine() < base+started {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	time.Sleep(100 * time.Millisecond)

	prof := pprof.Lookup("goroutine")
	for _, form := range []struct {
		debug int
		name  string
	}{{0, "goroutine.debug0.pb.gz"}, {1, "goroutine.debug1.txt"}, {2, "goroutine.debug2.txt"}} {
		f, err := os.Create(filepath.Join(out, form.name))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := prof.WriteTo(f, form.debug); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	held.Unlock()
}
