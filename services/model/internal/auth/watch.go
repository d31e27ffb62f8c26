package auth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// DefaultPoll is how often Watch re-reads the keys file whatever the file
// events say: events do not arrive through every mount (some bind mounts,
// network filesystems), and a revoked key must stop working within
// seconds.
const DefaultPoll = 2 * time.Second

// debounce gathers the events of one edit (a staged file written, then
// renamed; Kubernetes swapping its ..data link) into one re-read.
const debounce = 50 * time.Millisecond

// Watch re-reads the keys file when its directory reports a change, and
// every poll besides (0: file events only), until ctx ends. The directory
// is watched, not the file: edits replace the file by renaming.
func (a *Authenticator) Watch(ctx context.Context, poll time.Duration) {
	dir := filepath.Dir(a.path)
	var events <-chan fsnotify.Event
	var errs <-chan error
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		err = fw.Add(dir)
	}
	if err != nil {
		a.log.Warn("keys file: file events unavailable; polling only", zap.String("dir", dir), zap.Duration("interval", poll), zap.Error(err))
	} else {
		defer fw.Close()
		events, errs = fw.Events, fw.Errors
	}
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	a.log.Info("keys file watching", zap.String("file", a.path), zap.Bool("file_events", events != nil), zap.Duration("poll_interval", poll))
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	a.Reload()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			wait.Reset(debounce)
		case err := <-errs:
			a.log.Warn("keys file: file event error", zap.Error(err))
		case <-wait.C:
			a.Reload()
		case <-tick:
			a.Reload()
		}
	}
}

// Reload re-reads the keys file and, if it changed, puts the new keys in
// force. A file that cannot be read or parsed is refused: the previous
// keys stay in force, and the refusal is logged (once per content) and
// counted. It reports whether the keys changed.
func (a *Authenticator) Reload() bool {
	data, err := os.ReadFile(a.path)
	cur := a.set.Load()
	if err == nil && bytes.Equal(data, cur.data) {
		a.refusedReload = ""
		return false
	}
	var set *keySet
	if err == nil {
		set, err = a.parse(data)
	}
	if err != nil {
		if err.Error() != a.refusedReload {
			a.refusedReload = err.Error()
			a.reloadFailure.Inc()
			a.log.Error("keys file refused; the previous keys stay in force", zap.String("file", a.path),
				zap.Int("keys", len(cur.keys)), zap.Error(err))
		}
		return false
	}
	a.refusedReload = ""
	a.install(set)
	a.reloads.Inc()
	a.log.Info("keys file reloaded", zap.String("file", a.path), zap.Strings("keys", a.Keys()))
	return true
}
