package service

import (
	"errors"
	"runtime"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
)

// logWriter is the logger's output. Lines are appended to a buffer in
// memory and written out by a goroutine of its own, interval after the
// first of them at the latest or as soon as size bytes wait, so a write
// that blocks (a file whose pages the kernel is busy with, a pipe its
// reader drains slowly) stalls no request: with zap's
// BufferedWriteSyncer, the request whose line filled the buffer wrote it
// out, holding the lock every other request's lines wait on, and that wait
// was the service's p99 latency (see make perf). The buffer is bounded:
// with max bytes waiting, Write waits for the writer goroutine rather than
// drop a line.
type logWriter struct {
	out       zapcore.WriteSyncer
	size, max int

	mu      sync.Mutex
	taken   *sync.Cond // signalled when the writer goroutine takes the buffer
	buf     []byte     // lines not yet taken
	spare   []byte     // the other buffer, while the writer goroutine is not using it
	stopped bool

	// wmu is held from taking the buffer to the end of writing it, so
	// batches reach out in the order their lines were logged, whoever
	// (the writer goroutine, Sync) takes them.
	wmu sync.Mutex

	first chan struct{} // a line went into the empty buffer
	full  chan struct{} // size bytes wait
	stop  chan struct{}
	done  chan struct{}
}

func newLogWriter(out zapcore.WriteSyncer, size int, interval time.Duration) *logWriter {
	w := &logWriter{
		out: out, size: size, max: 8 * size,
		buf:   make([]byte, 0, size),
		first: make(chan struct{}, 1), full: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	w.taken = sync.NewCond(&w.mu)
	go w.run(interval)
	return w
}

// run writes a batch interval after its first line, or as soon as size
// bytes wait. An idle service costs no wake-ups. A signal left over from a
// batch that Sync took costs one empty flush at most.
func (w *logWriter) run(interval time.Duration) {
	defer close(w.done)
	t := time.NewTimer(interval)
	t.Stop()
	for {
		select {
		case <-w.first:
		case <-w.stop:
			return
		}
		t.Reset(interval)
		select {
		case <-t.C:
		case <-w.full:
			t.Stop()
		case <-w.stop:
			return // Stop writes what is left
		}
		w.flush()
	}
}

// Write appends one line (zap writes whole entries). It waits only when max
// bytes are already waiting for the writer goroutine; after Stop it writes
// the line itself.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.buf) > 0 && len(w.buf)+len(p) > w.max && !w.stopped {
		w.taken.Wait()
	}
	first := len(w.buf) == 0
	w.buf = append(w.buf, p...)
	full, stopped := len(w.buf) >= w.size, w.stopped
	w.mu.Unlock()
	if stopped {
		return len(p), w.flush()
	}
	if first {
		notify(w.first)
	}
	if full {
		notify(w.full)
		// Let the writer goroutine take the buffer now: with one P
		// (GOMAXPROCS=1, as in a container with one CPU) it would
		// otherwise wait until this goroutine blocks, at max bytes,
		// and the lines of eight buffers would pass through the cache.
		runtime.Gosched()
	}
	return len(p), nil
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default: // already signalled
	}
}

// flush writes out every line appended so far.
func (w *logWriter) flush() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.taken.Broadcast()
	w.mu.Unlock()
	if len(b) == 0 {
		w.mu.Lock()
		w.spare = b
		w.mu.Unlock()
		return nil
	}
	_, err := w.out.Write(b)
	w.mu.Lock()
	w.spare = b[:0] // at most max bytes and a line: kept, as a burst comes again
	w.mu.Unlock()
	return err
}

// Sync writes out every line appended so far, then syncs out. Stdout is
// most often a pipe or a terminal, which cannot be synced: the lines are
// with the kernel once written, and that error is no failure.
func (w *logWriter) Sync() error {
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.out.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}

// Stop stops the writer goroutine and writes out what is left; lines
// logged later are written at once.
func (w *logWriter) Stop() error {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return nil
	}
	w.stopped = true
	w.taken.Broadcast()
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return w.Sync()
}
