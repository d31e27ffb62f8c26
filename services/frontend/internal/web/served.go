package web

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// versionRecheck is how often at most a link naming a version other than
// the one last heard of makes the frontend ask the model service which
// version it serves.
const versionRecheck = time.Second

// servedVersion is the version the model service serves, as the frontend
// last heard it: from any answer that names it, or from asking. Chart
// links name a version; a link naming another one is answered from this,
// so that varying the name cannot make the frontend call the model
// service for each request.
type servedVersion struct {
	mu      sync.Mutex
	version string
	checked time.Time // when version was last heard, or asked for

	ask singleflight.Group
}

// note records that the model service answered as version v, now.
func (s *servedVersion) note(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	s.version, s.checked = v, time.Now()
	s.mu.Unlock()
}

func (s *servedVersion) get() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.checked
}

// asking records an attempt to ask, so that a model service that does not
// answer is not asked again within versionRecheck either.
func (s *servedVersion) asking() {
	s.mu.Lock()
	s.checked = time.Now()
	s.mu.Unlock()
}

// isServed reports whether v is the version the model service serves. A
// v other than the one last heard of makes it ask the model service, at
// most once per versionRecheck whatever the number of requests: concurrent
// ones wait for one answer, later ones within the interval get the last.
func (a *App) isServed(ctx context.Context, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	cur, checked := a.served.get()
	if v == cur {
		return true, nil
	}
	if time.Since(checked) < versionRecheck {
		return false, nil
	}
	res, err, _ := a.served.ask.Do("ready", func() (any, error) {
		if cur, checked := a.served.get(); time.Since(checked) < versionRecheck {
			return cur, nil // asked for by a request just before
		}
		a.served.asking()
		// Not the caller's context: the answer serves every waiter.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.ModelBudget)
		defer cancel()
		h, err := a.api.Ready(actx)
		if err != nil {
			return "", err
		}
		a.served.note(h.Version)
		return h.Version, nil
	})
	if err != nil {
		return false, err
	}
	return v == res.(string), nil
}
