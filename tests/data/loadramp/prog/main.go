// loadramp: a service whose request load ramps up while one real leak grows beside it.
//
// Benign look-alike: every /work request fans out to 4 short-lived fetch goroutines
// (each waits 0.5-1.5 s on a timer channel). A fixed pool of callers sends requests at
// a rate that rises every second, so the goroutines in flight at fetch() rise for the
// whole run, steadily, like a leak; but none of them lives from one dump to the next.
//
// Leak: every 10th request starts a session watcher that ticks every 200 ms and
// waits on a stop channel nobody closes (woken at every tick, never gone).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

var requests atomic.Int64

// fetch is one shard of a request: short-lived, whatever the load.
func fetch(d time.Duration, wg *sync.WaitGroup) {
	defer wg.Done()
	<-time.After(d)
}

// watchSession is the leak: its stop channel is never closed.
func watchSession(stop chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}

func handleWork(w http.ResponseWriter, r *http.Request) {
	n := requests.Add(1)
	if n%10 == 0 {
		go watchSession(make(chan struct{}))
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go fetch(time.Duration(500+(int(n)*131+i*277)%1000)*time.Millisecond, &wg)
	}
	wg.Wait()
	io.WriteString(w, "ok\n")
}

// caller is one of a fixed pool of clients: it sends a request for each token.
func caller(client *http.Client, url string, tokens <-chan struct{}) {
	for range tokens {
		if resp, err := client.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
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

	// A fixed pool of 64 callers on kept-alive connections; the request rate ramps
	// from 2/s by one more per second every second, so only the work in flight grows.
	url := fmt.Sprintf("http://%s/work", ln.Addr())
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	tokens := make(chan struct{})
	for i := 0; i < 64; i++ {
		go caller(client, url, tokens)
	}
	start := time.Now()
	deadline := start.Add(*run)
	for time.Now().Before(deadline) {
		rate := 2 + time.Since(start).Seconds()
		select {
		case tokens <- struct{}{}:
		default: // every caller busy: the request is dropped, as a load shedder would
		}
		time.Sleep(time.Duration(float64(time.Second) / rate))
	}
	close(tokens)
}
