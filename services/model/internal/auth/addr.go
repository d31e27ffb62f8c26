package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxAddresses bounds the addresses whose failures are remembered.
const maxAddresses = 10000

// addrLimiter is a token bucket of failed attempts per client address, in
// a bounded map. An address whose bucket has refilled is forgotten: it is
// no different from one never seen.
type addrLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	addrs map[string]*addrEntry
}

type addrEntry struct {
	lim  *rate.Limiter
	last time.Time // the last failure
}

func newAddrLimiter(limit rate.Limit, burst, max int) *addrLimiter {
	return &addrLimiter{limit: limit, burst: burst, max: max, addrs: map[string]*addrEntry{}}
}

// idle is how long after its last failure an address's bucket is full
// again.
func (l *addrLimiter) idle() time.Duration {
	return time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
}

// blocked returns how long addr must wait before its next attempt: 0 when
// it has failures to spare.
func (l *addrLimiter) blocked(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.addrs[addr]
	if e == nil || e.lim.TokensAt(now) >= 1 {
		return 0
	}
	return untilToken(e.lim, now)
}

// fail spends one of addr's failures.
func (l *addrLimiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.addrs[addr]
	if e == nil {
		if len(l.addrs) >= l.max {
			l.evict(now)
		}
		e = &addrEntry{lim: rate.NewLimiter(l.limit, l.burst)}
		l.addrs[addr] = e
	}
	e.lim.AllowN(now, 1)
	e.last = now
}

// evict makes room: it forgets every address whose bucket has refilled,
// and if none has, the one that failed longest ago.
func (l *addrLimiter) evict(now time.Time) {
	idle := l.idle()
	var oldest string
	for addr, e := range l.addrs {
		if now.Sub(e.last) >= idle {
			delete(l.addrs, addr)
			continue
		}
		if oldest == "" || e.last.Before(l.addrs[oldest].last) {
			oldest = addr
		}
	}
	if len(l.addrs) >= l.max {
		delete(l.addrs, oldest)
	}
}

// size is how many addresses are remembered.
func (l *addrLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}
