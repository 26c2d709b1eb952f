// Command newshapes is a small service with goroutine leaks of shapes not in the
// dev corpus, and benign look-alikes, for capturing real goroutine dumps.
// It serves net/http/pprof on 127.0.0.1 (a free port, printed on stdout as
// "PORT <n>"), drives its own load over loopback, and exits after -run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
	"time"
)

// ---- leak 1: per-request watcher in a select on a never-fired channel and a
// context that is never cancelled.

var never = make(chan struct{}) // never closed, never sent on

func watchDeadline(ctx context.Context, id int) {
	select {
	case <-never:
		fmt.Fprintln(io.Discard, "deadline", id)
	case <-ctx.Done():
	}
}

func handleWork(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(context.Background())
	_ = cancel // never called: the watcher outlives the request
	go watchDeadline(ctx, len(r.URL.Path))
	io.WriteString(w, "ok\n")
}

// ---- leak 2: producer blocked on a full buffered channel; its consumer quit
// on the first error.

var errBad = errors.New("bad record")

func produce(out chan<- int, n int) {
	for i := 0; i < n; i++ {
		out <- i
	}
	close(out)
}

func consume(in <-chan int) error {
	for v := range in {
		if v == 2 {
			return errBad // leaves the producer blocked on a full channel
		}
	}
	return nil
}

func importBatch() error {
	ch := make(chan int, 4)
	go produce(ch, 16)
	return consume(ch)
}

// ---- leak 3: inside a generic function.

func Fanout[T any](items []T) <-chan T {
	out := make(chan T)
	for _, it := range items {
		go func(v T) {
			out <- v
		}(it)
	}
	return out
}

func firstOf(names []string) string {
	return <-Fanout(names) // only the first answer is read
}

// ---- leak 4: goroutines started from a method value.

type subscriber struct {
	name string
	msgs chan string
}

func (s *subscriber) listen() {
	for m := range s.msgs { // never closed
		fmt.Fprintln(io.Discard, s.name, m)
	}
}

func subscribe(name string) *subscriber {
	s := &subscriber{name: name, msgs: make(chan string)}
	start := s.listen
	go start()
	return s
}

// ---- leak 5: a singleton in sync.Cond.Wait that is never signalled.

type gate struct {
	mu    sync.Mutex
	cond  *sync.Cond
	ready bool
}

func (g *gate) await() {
	g.mu.Lock()
	for !g.ready {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

// ---- benign 1: fixed pool of 8 idle workers.

func poolWorker(jobs <-chan int) {
	for j := range jobs {
		time.Sleep(time.Duration(j%5) * time.Millisecond)
	}
}

// ---- benign 2: a burst of 200 goroutines every 20 s, all finishing.

func burstTask(i int, wg *sync.WaitGroup) {
	defer wg.Done()
	time.Sleep(time.Duration(1500+i*5) * time.Millisecond)
}

func burster() {
	for {
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go burstTask(i, &wg)
		}
		wg.Wait()
		time.Sleep(20 * time.Second)
	}
}

// ---- benign 3: ticker singleton.

func ticker(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-t.C:
			n++
		case <-stop:
			return
		}
	}
}

// ---- benign 4: semaphore-limited fan-out that ramps to 32 and plateaus.

func fetchShard(i int, sem chan struct{}) {
	defer func() { <-sem }()
	<-time.After(time.Duration(800+(i*37)%1200) * time.Millisecond)
}

func fanoutDriver() {
	sem := make(chan struct{}, 32)
	start := time.Now()
	for i := 0; ; i++ {
		// Ramp: the spawn gap shrinks over the first ~30 s, then the
		// semaphore caps in-flight shards at 32.
		gap := 400*time.Millisecond - time.Since(start)/80
		if gap < 5*time.Millisecond {
			gap = 5 * time.Millisecond
		}
		sem <- struct{}{}
		go fetchShard(i, sem)
		time.Sleep(gap)
	}
}

// ---- benign 5: time.Sleep loops.

func heartbeat(d time.Duration) {
	for {
		time.Sleep(d)
	}
}

func main() {
	run := flag.Duration("run", 95*time.Second, "how long to run")
	flag.Parse()

	http.HandleFunc("/work", handleWork)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	go http.Serve(ln, nil)

	g := &gate{}
	g.cond = sync.NewCond(&g.mu)
	go g.await()

	jobs := make(chan int)
	for i := 0; i < 8; i++ {
		go poolWorker(jobs)
	}
	go burster()
	go ticker(make(chan struct{}))
	go fanoutDriver()
	go heartbeat(700 * time.Millisecond)
	go heartbeat(1300 * time.Millisecond)

	url := fmt.Sprintf("http://%s/work", ln.Addr())
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(*run)
	var subs []*subscriber
	for tick := 0; time.Now().Before(deadline); tick++ {
		if resp, err := client.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if tick%2 == 0 {
			_ = importBatch()
		}
		if tick%3 == 0 {
			_ = firstOf([]string{"a", "b", "c"})
		}
		if tick%4 == 0 {
			subs = append(subs, subscribe(fmt.Sprintf("s%d", tick)))
		}
		select {
		case jobs <- tick:
		default:
		}
		time.Sleep(300 * time.Millisecond)
	}
	_ = subs
}
