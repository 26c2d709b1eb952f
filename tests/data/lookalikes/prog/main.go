// Command lookalikes is a small service whose benign goroutines look like leaks,
// beside real leaks that hide among them, for capturing real goroutine dumps.
// It serves net/http/pprof on 127.0.0.1 (a free port, printed on stdout as
// "PORT <n>"), drives its own load over loopback, and exits after -run.
//
// Look-alikes that give goroutines back: an on-demand worker pool whose idle
// workers retire after -idle without work (minutes in the real world), driven by
// bursty load; a lazily grown pool that plateaus at its bound. Real leaks whose
// site also hosts short-lived goroutines: a result send whose receiver usually
// comes late and sometimes never, and an ack wait whose ack is usually sent late
// and sometimes forgotten. Blocked by design: a signal waiter, an accept loop, a
// fixed pool of idle client connections (raw TCP and HTTP keep-alive), main in
// select {}. Stuck for real: shard workers of a fixed pool that one by one wait
// forever on a WaitGroup.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var start = time.Now()

// rawPool holds the client side of the fixed raw TCP pool for the whole run.
var rawPool []net.Conn

// phase tells the load shape at time t since start: busy phases ramp, quiet
// phases trickle, and the last phase holds a steady middle load.
func phase(t time.Duration) (busy bool, level float64) {
	s := t.Seconds()
	switch {
	case s < 150:
		return true, 0.1 + 0.9*s/150
	case s < 260:
		return false, 0
	case s < 380:
		return true, 0.25 + 0.75*(s-260)/120
	case s < 480:
		return false, 0
	default:
		return true, 0.55
	}
}

// ---- look-alike 1: on-demand pool; idle workers retire after p.idle.

type onDemand struct {
	jobs chan int
	live atomic.Int64
	max  int64
	idle time.Duration
}

func (p *onDemand) do(j int) {
	time.Sleep(time.Duration(200+j%700) * time.Millisecond)
}

func (p *onDemand) worker(first int) {
	defer p.live.Add(-1)
	p.do(first)
	for {
		select {
		case j := <-p.jobs:
			p.do(j)
		case <-time.After(p.idle):
			return
		}
	}
}

func (p *onDemand) submit(j int) {
	select {
	case p.jobs <- j:
		return
	default:
	}
	if p.live.Add(1) <= p.max {
		go p.worker(j)
		return
	}
	p.live.Add(-1)
	p.jobs <- j
}

func driveOnDemand(p *onDemand) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; ; i++ {
		busy, level := phase(time.Since(start))
		if busy {
			k := int(48*level*(0.7+0.6*r.Float64())) + 1
			for n := 0; n < k; n++ {
				p.submit(r.IntN(100000))
			}
			time.Sleep(2 * time.Second)
		} else {
			p.submit(r.IntN(100000))
			time.Sleep(2500 * time.Millisecond)
		}
	}
}

// ---- look-alike 2: lazily grown pool that never shrinks, bound 24.

type lazyPool struct {
	mu   sync.Mutex
	n    int
	max  int
	jobs chan int
}

func (p *lazyPool) worker() {
	for j := range p.jobs {
		time.Sleep(time.Duration(150+j%400) * time.Millisecond)
	}
}

func (p *lazyPool) submit(j int) {
	select {
	case p.jobs <- j:
		return
	default:
	}
	p.mu.Lock()
	if p.n < p.max {
		p.n++
		go p.worker()
	}
	p.mu.Unlock()
	p.jobs <- j
}

func driveLazy(p *lazyPool) {
	r := rand.New(rand.NewPCG(2, 2))
	for {
		s := time.Since(start).Seconds()
		k := 2 + int(s/6)
		if k > 30 {
			k = 10 + r.IntN(21)
		}
		for n := 0; n < k; n++ {
			go p.submit(r.IntN(100000))
		}
		time.Sleep(3 * time.Second)
	}
}

// ---- leak 1: the result send usually meets a late receiver; on an error
// path the caller returns without receiving and the sender blocks forever.

func fetchQuote(key int, res chan<- int) {
	v := key * 7
	res <- v
}

func quote(key int, r *rand.Rand) {
	res := make(chan int)
	go fetchQuote(key, res)
	time.Sleep(time.Duration(1000+r.IntN(11000)) * time.Millisecond) // other work first
	if r.IntN(100) < 6 {
		return // error path: nobody receives the quote
	}
	<-res
}

// ---- leak 2: the ack wait usually gets its ack after delivery; one delivery
// in twelve returns on an error path without acking.

func awaitAck(id int, ack <-chan bool) {
	ok := <-ack
	fmt.Fprintln(io.Discard, "acked", id, ok)
}

func publish(id int, delay time.Duration) {
	ack := make(chan bool)
	go awaitAck(id, ack)
	time.Sleep(delay)
	if id%12 == 5 {
		return // error path forgets the ack
	}
	ack <- true
}

func driveCallers() {
	r := rand.New(rand.NewPCG(3, 3))
	for id := 0; ; {
		busy, level := phase(time.Since(start))
		k := 0
		if busy {
			k = 1 + int(5*level*r.Float64()*2)
		} else if r.IntN(5) == 0 {
			k = 1
		}
		for n := 0; n < k; n++ {
			qr := rand.New(rand.NewPCG(uint64(id), 7))
			go quote(id, qr)
			go publish(id, time.Duration(500+r.IntN(7500))*time.Millisecond)
			id++
		}
		time.Sleep(2 * time.Second)
	}
}

// ---- stuck for real: shard workers that one by one wait forever.

type collector struct {
	ticks []chan int
}

func bucket(n int, wg *sync.WaitGroup) {
	if n == 0 {
		return // empty bucket returns before it registers Done
	}
	defer wg.Done()
	time.Sleep(time.Duration(n) * time.Millisecond)
}

func (c *collector) flush(shard, tick int) {
	var wg sync.WaitGroup
	for b := 0; b < 3; b++ {
		wg.Add(1)
		n := 1 + (tick+b)%20
		// Shards 0-5 meet an empty bucket once, 20 s + 50 s*shard after start.
		if shard < 6 && b == 1 && time.Since(start) > time.Duration(20+50*shard)*time.Second {
			n = 0
		}
		go bucket(n, &wg)
	}
	wg.Wait()
}

func (c *collector) loop(shard int) {
	for tick := range c.ticks[shard] {
		c.flush(shard, tick)
	}
}

func (c *collector) start() {
	for i := range c.ticks {
		go c.loop(i)
	}
	go func() {
		for tick := 0; ; tick++ {
			for _, ch := range c.ticks {
				select {
				case ch <- tick:
				default: // a stuck shard's tick is dropped
				}
			}
			time.Sleep(2 * time.Second)
		}
	}()
}

// ---- blocked by design.

func watchSignals(sigs <-chan os.Signal) {
	for s := range sigs {
		fmt.Fprintln(os.Stderr, "signal", s)
	}
}

func serveConn(c net.Conn) {
	defer c.Close()
	rd := bufio.NewReader(c)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(c, line)
	}
}

func acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serveConn(c)
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
	idle := flag.Duration("idle", 45*time.Second, "idle time after which an on-demand worker retires")
	flag.Parse()
	time.AfterFunc(*run, func() { os.Exit(0) })

	pp := listen()
	fmt.Printf("PORT %d\n", pp.Addr().(*net.TCPAddr).Port)
	go http.Serve(pp, nil)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP)
	go watchSignals(sigs)

	// A fixed client pool of 6 raw TCP connections, dialled once, kept idle.
	raw := listen()
	go acceptLoop(raw)

	for i := 0; i < 6; i++ {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rawPool = append(rawPool, c)
	}

	// A fixed HTTP client pool of 4 keep-alive connections, opened once, idle.
	web := listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "pong\n")
	})
	go (&http.Server{Handler: mux}).Serve(web)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, MaxConnsPerHost: 4}}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := client.Get("http://" + web.Addr().String() + "/ping"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()

	c := &collector{ticks: make([]chan int, 8)}
	for i := range c.ticks {
		c.ticks[i] = make(chan int, 1)
	}
	c.start()

	go driveOnDemand(&onDemand{jobs: make(chan int), max: 64, idle: *idle})
	go driveLazy(&lazyPool{max: 24, jobs: make(chan int)})
	go driveCallers()


	select {}
}
