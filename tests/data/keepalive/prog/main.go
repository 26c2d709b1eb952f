// Command keepalive is one pod of a service that calls an upstream over HTTP
// keep-alive connections, the way Go clients do, beside a pod of the same binary
// whose caller leaks response bodies. It serves net/http/pprof on 127.0.0.1 (a
// free port, printed on stdout as "PORT <n>"), starts its upstream as a child
// process (the same binary with -serve, so the dumps hold the client side only),
// drives its own load over loopback and exits after -run. Every random choice
// comes from -seed.
//
// Benign on every pod:
//   - a fixed pool of keep-alive connections: a zero http.Transport (IdleConnTimeout
//     0 keeps an idle connection for ever) filled with 8 connections at start-up,
//     then one request every 2 s, which reuses the most recently used connection
//     only. Seven connections stay idle for the whole run: their read loops in IO
//     wait, their write loops in select, the same goroutine ids, minutes growing.
//   - an elastic pool: a second client whose concurrency moves in waves (1-12 callers,
//     a new target every 5-20 s), with at most 4 idle connections kept and no idle
//     timeout. The pool grows when a wave needs more connections and the extra ones
//     are closed as they come back; the 4 kept may wait long between waves.
//   - a work queue on a sync.Cond whose consumer waits between items that come
//     every 150 s: one goroutine in sync.Cond.Wait for over two minutes at a time.
//
// Real leak, with -leak:
//   - a caller that returns on a non-200 status without closing the response body
//     (about one call in three, every 3-9 s). The connection can never go back to
//     the pool: its read loop waits for the body to be read and its write loop for
//     a request that never comes, for good, one more pair every few seconds.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ---- the upstream (-serve): a keep-alive server in its own process.

func serve(run time.Duration) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("UPSTREAM %d\n", ln.Addr().(*net.TCPAddr).Port)
	mux := http.NewServeMux()
	mux.HandleFunc("/item", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		if r.URL.Query().Get("fail") == "1" {
			http.Error(w, "busy, retry later", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "item\n")
	})
	go func() { time.Sleep(run); os.Exit(0) }()
	http.Serve(ln, mux)
}

func startUpstream(run time.Duration) string {
	cmd := exec.Command(os.Args[0], "-serve", "-run", (run + time.Minute).String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		panic(err)
	}
	return "http://127.0.0.1:" + strings.Fields(line)[1]
}

// ---- benign: a fixed pool of idle keep-alive connections.

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func fixedPool(base string) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(c, base+"/item?ms=300")
		}()
	}
	wg.Wait()
	for {
		time.Sleep(2 * time.Second)
		get(c, base+"/item?ms=5")
	}
}

// ---- benign: an elastic pool whose load comes in waves.

type waves struct {
	mu     sync.Mutex
	rng    *rand.Rand
	target int
}

func (w *waves) want() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.target
}

func (w *waves) steer() {
	for {
		w.mu.Lock()
		w.target = 1 + w.rng.IntN(12)
		pause := time.Duration(5000+w.rng.IntN(15000)) * time.Millisecond
		w.mu.Unlock()
		time.Sleep(pause)
	}
}

func (w *waves) caller(c *http.Client, base string, k int) {
	for {
		if k >= w.want() {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		w.mu.Lock()
		ms := 100 + w.rng.IntN(500)
		w.mu.Unlock()
		get(c, base+"/item?ms="+strconv.Itoa(ms))
	}
}

func elastic(base string, rng *rand.Rand) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	w := &waves{rng: rng, target: 2}
	go w.steer()
	for k := 0; k < 12; k++ {
		go w.caller(c, base, k)
	}
}

// ---- benign: a work queue on a sync.Cond, an item every 150 s.

type queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	items []int
}

func (q *queue) take() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 {
		q.cond.Wait()
	}
	it := q.items[0]
	q.items = q.items[1:]
	return it
}

func (q *queue) consume() {
	for {
		q.take()
	}
}

func (q *queue) produce() {
	for i := 0; ; i++ {
		time.Sleep(150 * time.Second)
		q.mu.Lock()
		q.items = append(q.items, i)
		q.mu.Unlock()
		q.cond.Signal()
	}
}

// ---- leak (-leak): response bodies of failed calls never closed.

var errBusy = errors.New("upstream busy")

func fetchQuote(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errBusy // the body is never closed: its connection is lost
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func quotes(base string, rng *rand.Rand) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for {
		time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
		fail := "0"
		if rng.IntN(3) == 0 {
			fail = "1"
		}
		fetchQuote(c, base+"/item?ms=20&fail="+fail)
	}
}

func main() {
	run := flag.Duration("run", 11*time.Minute, "how long to run")
	seed := flag.Uint64("seed", 1, "seed of every random choice")
	leak := flag.Bool("leak", false, "leak: never close the body of a failed call")
	upstream := flag.Bool("serve", false, "run as the upstream server")
	flag.Parse()
	if *upstream {
		serve(*run)
		return
	}
	rng := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))
	pp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("PORT %d\n", pp.Addr().(*net.TCPAddr).Port)
	go http.Serve(pp, nil)

	base := startUpstream(*run)
	go fixedPool(base)
	elastic(base, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	go q.consume()
	go q.produce()
	if *leak {
		go quotes(base, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
	}
	time.Sleep(*run)
}
