// Command fleetshapes is one binary of a small service, run as several pods, whose
// goroutines take the shapes that look like leaks across a fleet, beside real
// leaks that some pods have and others do not. It serves net/http/pprof on
// 127.0.0.1 (a free port, printed on stdout as "PORT <n>"), drives its own load
// over loopback, and exits after -run. Every random choice comes from -seed, so
// each pod wanders its own way.
//
// Benign on every pod:
//   - a long-poll handler: clients keep a number of polls open that ramps up in
//     the first minute, then wanders around a plateau (a new target every few
//     seconds); each poll waits in select until its own timeout. Its count, and
//     its net/http backgroundRead twin, is a noisy plateau after a ramp.
//   - a start-up warm-up: a set of replicas, started one by one during the first
//     two minutes, each parks on a channel receive until a cut-over (-cutover,
//     hours away) and holds there, unchanged, for the whole run.
//   - a fixed pool of workers taking jobs from a channel (idle in chan receive).
//
// Real leaks, enabled per pod:
//   - -leak: a refresh handler starts a fetch whose result it waits for only
//     -timeout; a fetch slower than that blocks forever on its unbuffered send. A
//     pod with a long -timeout runs the same code and never leaks.
//   - -poison: now and then a job takes an account's lock and returns on an error
//     path without unlocking it; the retry of that job, taken by another worker of
//     the fixed pool, waits for the lock forever. Workers of the pool get stuck one
//     by one while their siblings keep working.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var start = time.Now()

// ---- benign: long-poll handler with a wandering number of open polls.

type poller struct {
	rng    *rand.Rand
	mu     sync.Mutex
	target atomic.Int64
	open   atomic.Int64
}

func (p *poller) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	d := time.Duration(2000+p.rng.IntN(10000)) * time.Millisecond
	p.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		io.WriteString(w, "no news\n")
	case <-r.Context().Done():
	}
}

// steer sets the number of open polls: a ramp to a plateau in the first minute,
// then a new target near the plateau every few seconds.
func (p *poller) steer(level float64) {
	for {
		s := time.Since(start).Seconds()
		p.mu.Lock()
		var k float64
		if s < 50 {
			k = level * s / 50
		} else {
			k = level * (0.6 + 0.8*p.rng.Float64())
		}
		pause := time.Duration(3000+p.rng.IntN(7000)) * time.Millisecond
		p.mu.Unlock()
		p.target.Store(int64(k + 0.5))
		time.Sleep(pause)
	}
}

func (p *poller) clients(url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for {
		for p.open.Load() < p.target.Load() {
			p.open.Add(1)
			go func() {
				defer p.open.Add(-1)
				if resp, err := client.Get(url); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ---- benign: start-up warm-up that parks a set of replicas until a cut-over.

type replica struct {
	id      int
	cutover <-chan struct{}
	primed  []byte
}

func (r *replica) prime() {
	r.primed = make([]byte, 4096)
	for i := range r.primed {
		r.primed[i] = byte(r.id + i)
	}
}

func (r *replica) awaitCutover() {
	<-r.cutover
}

func (r *replica) run() {
	r.prime()
	r.awaitCutover()
}

func warmUp(rng *rand.Rand, cutover <-chan struct{}) {
	n := 8 + rng.IntN(12)
	for i := 0; i < n; i++ {
		time.Sleep(time.Duration(rng.IntN(120000/n)) * time.Millisecond)
		r := &replica{id: i, cutover: cutover}
		go r.run()
	}
}

// ---- leak (-leak): an abandoned send when the caller stopped waiting.

type refresher struct {
	mu      sync.Mutex
	rng     *rand.Rand
	timeout time.Duration
}

func (f *refresher) fetch(out chan<- int, latency time.Duration) {
	time.Sleep(latency)
	out <- int(latency / time.Millisecond)
}

func (f *refresher) handle(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	latency := time.Duration(20+f.rng.IntN(500)) * time.Millisecond
	f.mu.Unlock()
	out := make(chan int)
	go f.fetch(out, latency)
	select {
	case v := <-out:
		fmt.Fprintf(w, "fresh %d\n", v)
	case <-time.After(f.timeout):
		http.Error(w, "stale", http.StatusGatewayTimeout)
	}
}

// ---- fixed pool; with -poison a lock left held strands its workers one by one.

type account struct {
	mu      sync.Mutex
	balance int
}

type job struct {
	account int
	amount  int
	poison  bool
}

type pool struct {
	accounts []*account
	jobs     chan job
	done     atomic.Int64
}

var errRejected = errors.New("rejected")

func (p *pool) apply(j job) error {
	a := p.accounts[j.account]
	a.mu.Lock()
	if j.poison {
		return errRejected // the bug: returns with the lock held
	}
	a.balance += j.amount
	a.mu.Unlock()
	return nil
}

func (p *pool) worker() {
	for j := range p.jobs {
		p.apply(j)
		p.done.Add(1)
	}
}

func startPool(workers, accounts int) *pool {
	p := &pool{jobs: make(chan job)}
	for i := 0; i < accounts; i++ {
		p.accounts = append(p.accounts, &account{})
	}
	for i := 0; i < workers; i++ {
		go p.worker()
	}
	return p
}

// feed sends ordinary jobs; with poison, now and then a job that leaves its
// account locked, and a little later the retry that waits for that lock forever.
func (p *pool) feed(rng *rand.Rand, poison bool) {
	next := time.Now().Add(time.Duration(40+rng.IntN(50)) * time.Second)
	used := map[int]bool{}
	for {
		a := rng.IntN(len(p.accounts))
		if poison && time.Now().After(next) && !used[a] {
			used[a] = true
			p.jobs <- job{account: a, poison: true}
			go func(a int) {
				time.Sleep(time.Duration(1+rng.IntN(4)) * time.Second)
				p.jobs <- job{account: a, amount: 1}
			}(a)
			next = time.Now().Add(time.Duration(40+rng.IntN(50)) * time.Second)
			continue
		}
		if used[a] {
			continue // nobody touches a rejected account again, but its retry
		}
		p.jobs <- job{account: a, amount: 1 + rng.IntN(9)}
		time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond)
	}
}

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return ln
}

func main() {
	run := flag.Duration("run", 11*time.Minute, "how long to run")
	seed := flag.Uint64("seed", 1, "seed of every random choice")
	leak := flag.Bool("leak", false, "leak: wait only -timeout for a refresh")
	timeout := flag.Duration("timeout", 300*time.Millisecond, "how long a refresh waits with -leak")
	poison := flag.Bool("poison", false, "now and then leave an account locked")
	workers := flag.Int("workers", 12, "workers of the fixed pool")
	cutoverAfter := flag.Duration("cutover", 6*time.Hour, "when the warmed-up replicas take over")
	flag.Parse()
	time.AfterFunc(*run, func() { os.Exit(0) })
	rng := rand.New(rand.NewPCG(*seed, 19))

	pp := listen()
	fmt.Printf("PORT %d\n", pp.Addr().(*net.TCPAddr).Port)
	go http.Serve(pp, nil)

	cutover := make(chan struct{})
	time.AfterFunc(*cutoverAfter, func() { close(cutover) })
	go warmUp(rand.New(rand.NewPCG(*seed, 2)), cutover)

	web := listen()
	mux := http.NewServeMux()
	p := &poller{rng: rand.New(rand.NewPCG(*seed, 3))}
	mux.HandleFunc("/poll", p.handle)
	wait := 5 * time.Second
	if *leak {
		wait = *timeout
	}
	f := &refresher{rng: rand.New(rand.NewPCG(*seed, 4)), timeout: wait}
	mux.HandleFunc("/refresh", f.handle)
	go (&http.Server{Handler: mux}).Serve(web)
	base := "http://" + web.Addr().String()

	go p.steer(float64(12 + rng.IntN(14)))
	go p.clients(base + "/poll")

	go func() {
		client := &http.Client{}
		r := rand.New(rand.NewPCG(*seed, 5))
		for {
			if resp, err := client.Get(base + "/refresh"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			time.Sleep(time.Duration(1000+r.IntN(3000)) * time.Millisecond)
		}
	}()

	pl := startPool(*workers, 64)
	go pl.feed(rand.New(rand.NewPCG(*seed, 6)), *poison)

	select {}
}
