// Package reload keeps the model service serving its store's current
// target: it watches the store for changes (file events, with polling as a
// fallback), and when the target moves it loads and verifies the new
// version, then swaps it in. A target that fails to load or verify is
// refused and the current model keeps serving.
package reload

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/services/model/internal/api"
)

// Target names the version the service should serve now.
type Target func() (version string, err error)

// Newest is the target "the newest version of the model in the store".
func Newest(s massmodel.Store, name string) Target {
	return func() (string, error) {
		vs, err := s.Versions(name)
		if err != nil {
			return "", err
		}
		if len(vs) == 0 {
			return "", fmt.Errorf("%w: %s", massmodel.ErrNoVersions, filepath.Join(s.Dir, name))
		}
		return vs[len(vs)-1], nil
	}
}

// Swapper is what the watcher needs of the API server: swap in a verified
// model atomically. *api.Server is one.
type Swapper interface {
	SetModel(ctx context.Context, l api.Loaded) error
}

// Options configure a Watcher.
type Options struct {
	Store  massmodel.Store
	Name   string // the model's name; its directory in Store is watched
	Target Target
	// Loaded is the template for every swap: From, Pinned and Data are
	// copied; Artifact, Model and Store are filled in.
	Loaded api.Loaded
	// Interval is how often the target is checked whatever the file
	// events say; 0 turns polling off.
	Interval time.Duration
	// NoEvents turns file events off, leaving polling alone (for volumes
	// where events do not arrive, and for tests of the fallback).
	NoEvents bool
	// Debounce is how long the watcher waits after a file event for the
	// burst to end before it checks; 0 means DefaultDebounce.
	Debounce time.Duration
	// Role names what the watcher keeps current in its metrics: "" for the
	// served model (model_reloads_total, ...), "shadow" for the shadow's
	// challenger (model_shadow_reloads_total, ...).
	Role string
	// OnRefuse, when set, is told of each refused target in place of the
	// watcher's own log line (the refusal is still counted): the shadow
	// says it differently.
	OnRefuse func(version string, err error)
}

// DefaultDebounce gathers the events of one store write (a staging
// directory created, filled and renamed) into one check.
const DefaultDebounce = 100 * time.Millisecond

// Watcher reloads the served model when its store's target changes.
type Watcher struct {
	log  *zap.Logger
	opts Options
	srv  Swapper

	reloads  prometheus.Counter
	failures prometheus.Counter

	current string // the served version
	refused string // the last target and error refused: reported once, until the target serves or fails otherwise
}

// New returns a Watcher that keeps srv serving opts.Target, which is
// current now, and registers its counters with reg.
func New(log *zap.Logger, reg prometheus.Registerer, srv Swapper, current string, opts Options) *Watcher {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	prefix, what := "model_", "the served model kept serving"
	if opts.Role != "" {
		prefix, what = "model_"+opts.Role+"_", "the "+opts.Role+" model, if any, kept its place"
	}
	w := &Watcher{
		log: log, opts: opts, srv: srv, current: current,
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: prefix + "reloads_total", Help: "Times a new target version was loaded, verified and swapped in without a restart.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: prefix + "reload_failures_total", Help: "Reload targets refused (unresolvable, missing, corrupt or failing verification); " + what + ".",
		}),
	}
	reg.MustRegister(w.reloads, w.failures)
	return w
}

// Run watches until ctx ends. It checks once at the start, so a change
// made between the first load and the watch starting is not missed.
func (w *Watcher) Run(ctx context.Context) {
	dir := filepath.Join(w.opts.Store.Dir, w.opts.Name)
	var events <-chan fsnotify.Event
	var errs <-chan error
	if !w.opts.NoEvents {
		fw, err := fsnotify.NewWatcher()
		if err == nil {
			err = fw.Add(dir)
		}
		if err != nil {
			w.log.Warn("model reload: file events unavailable; polling only", zap.String("dir", dir),
				zap.Duration("interval", w.opts.Interval), zap.Error(err))
		} else {
			defer fw.Close()
			events, errs = fw.Events, fw.Errors
		}
	}
	var tick <-chan time.Time
	if w.opts.Interval > 0 {
		t := time.NewTicker(w.opts.Interval)
		defer t.Stop()
		tick = t.C
	}
	w.log.Info("model reload watching", zap.String("dir", dir), zap.Bool("file_events", events != nil),
		zap.Duration("poll_interval", w.opts.Interval))

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	w.Check(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			// Any event may change the target: a version directory renamed
			// into place, an alias file replaced. Wait for the burst to end.
			debounce.Reset(w.opts.Debounce)
		case err := <-errs:
			w.log.Warn("model reload: file event error", zap.Error(err))
		case <-debounce.C:
			w.Check(ctx)
		case <-tick:
			w.Check(ctx)
		}
	}
}

// Check resolves the target and, if it is not what is served, loads,
// verifies and swaps it in. It reports whether it swapped.
func (w *Watcher) Check(ctx context.Context) bool {
	version, err := w.opts.Target()
	if err != nil {
		w.refuse("", fmt.Errorf("resolving the target: %w", err))
		return false
	}
	if version == w.current {
		w.refused = ""
		return false
	}
	l := w.opts.Loaded
	l.Store = &w.opts.Store
	l.Artifact, l.Model, err = w.opts.Store.Load(w.opts.Name, version)
	if err == nil {
		err = w.srv.SetModel(ctx, l)
	}
	if err != nil {
		w.refuse(version, err)
		return false
	}
	w.reloads.Inc()
	w.log.Info("model reloaded", zap.String("role", cmp.Or(w.opts.Role, "served")), zap.String("from", w.current), zap.String("to", version))
	w.current, w.refused = version, ""
	return true
}

// refuse counts and logs a refused target once: neither polling nor a
// file event repeats the same refusal (a poll and the event of one change
// both see it), until the target serves or fails in another way.
func (w *Watcher) refuse(version string, err error) {
	key := version + "\x00" + err.Error()
	if key == w.refused {
		return
	}
	w.refused = key
	w.failures.Inc()
	if w.opts.OnRefuse != nil {
		w.opts.OnRefuse(version, err)
		return
	}
	level := w.log.Error
	if errors.Is(err, massmodel.ErrNoVersions) {
		level = w.log.Warn
	}
	level("model reload refused; the current model keeps serving",
		zap.String("serving", w.current), zap.String("target", version), zap.Error(err))
}
