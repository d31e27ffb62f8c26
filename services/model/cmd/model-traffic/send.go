package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// summary counts what was sent and what came back.
type summary struct {
	mu       sync.Mutex
	requests int         // sent
	records  int         // in the requests sent
	statuses map[int]int // answers by status code
	noAnswer int         // transport errors and time-outs
	firstErr error       // the first transport error, to say why
	skipped  int         // ticks that found every request slot busy
	slots    int         // requests in flight at most
	elapsed  time.Duration
}

// send posts a batch of the shift's records at every tick of the rate
// until the duration is over or ctx is done, then waits for the answers.
func send(ctx context.Context, opts options, s *sampler) (*summary, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.duration)
	defer cancel()
	client := &http.Client{
		Timeout: opts.timeout,
		// No proxy: the requests go straight to the loopback host checked.
		Transport: &http.Transport{MaxIdleConnsPerHost: opts.concurrency, Proxy: nil},
		// Never follow a redirect: it could lead off this machine.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	r := rand.New(rand.NewPCG(opts.seed, 0x70656e6775696e73))
	sum := &summary{statuses: map[int]int{}, slots: opts.concurrency}
	slots := make(chan struct{}, opts.concurrency)
	var wg sync.WaitGroup

	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / opts.rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			sum.elapsed = time.Since(start)
			return sum, nil
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			sum.skipped++ // the server is slower than the rate
			continue
		}
		body, err := json.Marshal(s.batch(opts.shift, r, opts.batch))
		if err != nil {
			<-slots
			wg.Wait()
			return nil, fmt.Errorf("encoding records: %w", err)
		}
		sum.sent(opts.batch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			status, err := post(client, opts.target.String(), body)
			sum.answer(status, err)
		}()
	}
}

// post sends one request, not bound to the run's deadline so that the
// requests in flight at the end still get their answer.
func post(client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

func (s *summary) sent(records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.records += records
}

func (s *summary) answer(status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.noAnswer++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.statuses[status]++
}

// failed counts the requests with no answer or an answer other than 2xx.
func (s *summary) failed() int {
	n := s.noAnswer
	for code, c := range s.statuses {
		if code < 200 || code > 299 {
			n += c
		}
	}
	return n
}

func (s *summary) print(w io.Writer) {
	secs := s.elapsed.Seconds()
	fmt.Fprintf(w, "sent %d requests (%d records) in %.1fs: %.1f req/s\n", s.requests, s.records, secs, float64(s.requests)/max(secs, 1e-9))
	codes := make([]int, 0, len(s.statuses))
	for code := range s.statuses {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		fmt.Fprintf(w, "  status %d: %d\n", code, s.statuses[code])
	}
	fmt.Fprintf(w, "  no answer: %d", s.noAnswer)
	if s.firstErr != nil {
		fmt.Fprintf(w, " (first: %v)", s.firstErr)
	}
	fmt.Fprintln(w)
	if s.skipped > 0 {
		fmt.Fprintf(w, "  skipped: %d ticks found %d requests in flight (the server is slower than -rate)\n", s.skipped, s.slots)
	}
	fmt.Fprintf(w, "  errors: %d\n", s.failed())
}
