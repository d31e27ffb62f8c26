package api

import (
	"runtime/debug"
	"sync"
	"time"
)

// releaseDelay is how long after the last request too large for the pools
// the service hands the memory it left back to the operating system.
const releaseDelay = time.Second

// memoryRelease returns the garbage of large requests to the operating
// system soon after they end. Without it, a 100,000-row batch leaves the
// process hundreds of megabytes large for minutes: the runtime's next
// collection waits for the heap to double from its size during the batch,
// which light traffic takes minutes to do, and memory goes back only after
// a collection.
type memoryRelease struct {
	mu    sync.Mutex
	timer *time.Timer
}

// released notes that a request grew a buffer or decoder past what the
// pools keep, and dropped it. Once no such request has come for
// releaseDelay, one collection returns what they left: a stream of large
// batches costs one, after it ends.
func (s *Server) released() {
	r := &s.release
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.timer = time.AfterFunc(releaseDelay, debug.FreeOSMemory)
		return
	}
	r.timer.Reset(releaseDelay)
}
