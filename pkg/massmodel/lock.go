package massmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockFile is the store-wide lock that alias changes hold: <store>/.promote.lock.
// Hidden, so readers of the store never see it.
const LockFile = ".promote.lock"

// StaleLockAge is how old a lock must be before it is broken whoever holds
// it. A promotion holds the lock for milliseconds; one this old is dead or
// hung.
const StaleLockAge = 10 * time.Minute

// ErrLocked is wrapped when another promotion holds the store's lock.
var ErrLocked = errors.New("another promotion holds the store's lock")

type lockHolder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

// lock takes the store's lock: a file created with O_EXCL, holding who took
// it and when. A lock is stale, and broken, when its holder is a process on
// this host that no longer runs, or when it is older than StaleLockAge
// (a holder on another host cannot be checked). Two promotions breaking the
// same stale lock at the same instant could both proceed; the window is the
// few microseconds between reading a dead lock and removing it.
func (s Store) lock(now time.Time) (unlock func(), err error) {
	path := filepath.Join(s.Dir, LockFile)
	host, _ := os.Hostname()
	me := lockHolder{PID: os.Getpid(), Host: host, Since: now.UTC()}
	body, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			if err := finish(f, body); err != nil {
				os.Remove(path)
				return nil, fmt.Errorf("model store: taking the lock: %w", err)
			}
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("model store: taking the lock: %w", err)
		}
		held, stale, why := readLock(path, host, now)
		if !stale || attempt > 0 {
			return nil, fmt.Errorf("model store: %w since %s (%s); if no promotion is running, remove %s",
				ErrLocked, held.Since.Format(time.RFC3339), why, path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("model store: breaking a stale lock (%s): %w", why, err)
		}
	}
}

// readLock reads the holder of the lock at path and judges whether it is
// stale. A lock file that cannot be read or decoded (its holder died
// between creating and writing it) is judged by its modification time.
func readLock(path, host string, now time.Time) (h lockHolder, stale bool, why string) {
	body, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(body, &h)
	}
	if err != nil {
		st, serr := os.Stat(path)
		if serr != nil {
			return h, true, "lock vanished"
		}
		h.Since = st.ModTime().UTC()
		return h, now.Sub(h.Since) > StaleLockAge, "holder unknown"
	}
	why = fmt.Sprintf("pid %d on %s", h.PID, h.Host)
	if now.Sub(h.Since) > StaleLockAge {
		return h, true, why + ", older than " + StaleLockAge.String()
	}
	if h.Host == host && h.PID > 0 && !alive(h.PID) {
		return h, true, why + ", no longer running"
	}
	return h, false, why
}

// alive reports whether a process with the pid runs on this host.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
