package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/palmerops/penguins/services/model/internal/perfdata"
)

// retainedMemoryTarget is what a model service may keep resident after one
// large batch and a spell of light traffic.
const retainedMemoryTarget = 64 << 20

// memoryResult is the retained-memory check's figures, in bytes.
type memoryResult struct {
	start, afterBatch, after int64 // resident set size
	heapInuse                int64 // at the end, from /metrics
	requests                 int   // light-traffic requests sent
}

// retainedMemory starts a fresh model service in its default
// configuration, sends it one batch of c.memoryRows records, then light
// traffic (single records at c.memoryRate a second) for c.memorySettle, and
// reads its resident set size before, after the batch and at the end. A
// service whose pools keep what the batch grew them to stays hundreds of
// megabytes large.
func retainedMemory(ctx context.Context, c config, port int) (memoryResult, error) {
	var r memoryResult
	t := &target{name: "model-service memory", addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if err := t.start(ctx, c, []string{c.bin}); err != nil {
		return r, err
	}
	defer func() {
		t.stop()
		os.Remove(t.log)
		os.Remove(t.counts)
	}()
	pid := t.cmd.Process.Pid // taskset execs the service: the same process
	url := "http://" + t.addr + "/predict"
	post := func(body []byte) error {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /predict (%d bytes) answered %s: %.300s", len(body), resp.Status, b)
		}
		return nil
	}
	// A little traffic first, so that the start figure is a service that
	// has served, not one that has only loaded.
	for range 10 {
		if err := post([]byte(perfdata.Single)); err != nil {
			return r, err
		}
	}
	var err error
	if r.start, err = rss(pid); err != nil {
		return r, err
	}
	if err := post(perfdata.RawBatch(c.memoryRows)); err != nil {
		return r, err
	}
	if r.afterBatch, err = rss(pid); err != nil {
		return r, err
	}
	tick := time.NewTicker(time.Second / time.Duration(c.memoryRate))
	defer tick.Stop()
	end := time.After(c.memorySettle)
	for settled := false; !settled; {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-end:
			settled = true
		case <-tick.C:
			if err := post([]byte(perfdata.Single)); err != nil {
				return r, err
			}
			r.requests++
		}
	}
	if r.after, err = rss(pid); err != nil {
		return r, err
	}
	heap, err := metricSum(t.addr, "go_memstats_heap_inuse_bytes")
	r.heapInuse = int64(heap)
	return r, err
}

// rss reads a process's resident set size from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the service's resident set size: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func reportMemory(w io.Writer, c config, m memoryResult) {
	mb := func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB" }
	fmt.Fprintf(w, "\nretained memory, default configuration: RSS %s after start-up, %s after one %d-row batch, %s after %s of light traffic (%d requests; heap in use %s) (target < %s: %s)\n",
		mb(m.start), mb(m.afterBatch), c.memoryRows, mb(m.after), c.memorySettle, m.requests, mb(m.heapInuse),
		mb(retainedMemoryTarget), verdict(m.after < retainedMemoryTarget))
}
