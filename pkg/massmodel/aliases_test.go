package massmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// variant stores a copy of a created at another time, changed by mutate,
// with its content hash and version recomputed so that it verifies.
func variant(t *testing.T, s Store, a *Artifact, created time.Time, mutate func(*Artifact)) string {
	t.Helper()
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var v Artifact
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	v.Created = created.UTC().Truncate(time.Millisecond)
	if mutate != nil {
		mutate(&v)
	}
	v.ContentSHA256 = v.digest()
	v.Version = v.Created.Format("20060102T150405Z") + "-" + v.ContentSHA256[:12]
	if _, err := s.Write(&v); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(Name, v.Version); err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// treeHash hashes every path, mode and file content under dir, so a test
// can show that a refused change left the store exactly as it was.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(p + "\x00" + st.Mode().String() + "\x00"))
		if st.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

var testOpt = PromoteOptions{Actor: "tester", Reason: "test", MaxRegression: DefaultMaxRegression}

func pin(t *testing.T, s Store, v string, rmse ...float64) {
	t.Helper()
	var ms []PeriodMetric
	for i, r := range rmse {
		ms = append(ms, PeriodMetric{PeriodStart: time.Date(2007+i, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), Period: "year", N: 100, Metric: "rmse", Estimate: r})
	}
	if _, err := s.PinMetrics(Name, v, ms, true, testNow); err != nil {
		t.Fatal(err)
	}
}

func TestPromoteRollbackAndHistory(t *testing.T) {
	s, a, _ := storedModel(t)
	v1 := a.Version
	v2 := variant(t, s, a, testNow.Add(time.Hour), nil)
	v3 := variant(t, s, a, testNow.Add(2*time.Hour), nil)

	if m, err := s.Aliases(Name); err != nil || len(m) != 0 {
		t.Fatalf("no alias file: %v, %v", m, err)
	}
	for i, v := range []string{v1, v2, v3} {
		p, err := s.Promote(Name, Champion, v, testOpt, testNow.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if p.To != v {
			t.Fatalf("promotion %d: %+v", i, p)
		}
	}
	if _, err := s.Promote(Name, "challenger", v1, testOpt, testNow); err != nil {
		t.Fatal(err)
	}
	// Promoting to the current target changes nothing.
	before := treeHash(t, s.Dir)
	if p, err := s.Promote(Name, Champion, v3, testOpt, testNow); err != nil || p.From != v3 {
		t.Fatalf("same target: %+v %v", p, err)
	}
	if treeHash(t, s.Dir) != before {
		t.Fatal("promoting to the current target changed the store")
	}

	if got, err := s.Alias(Name, Champion); err != nil || got != v3 {
		t.Fatalf("champion = %q, %v", got, err)
	}
	// Each rollback steps back once; none is left after the first target.
	for _, want := range []string{v2, v1} {
		p, err := s.Rollback(Name, Champion, PromoteOptions{Actor: "tester"}, testNow)
		if err != nil || p.To != want || !p.Rollback {
			t.Fatalf("rollback to %s: %+v %v", want, p, err)
		}
		if got, _ := s.Alias(Name, Champion); got != want {
			t.Fatalf("after rollback champion = %s, want %s", got, want)
		}
	}
	before = treeHash(t, s.Dir)
	if _, err := s.Rollback(Name, Champion, testOpt, testNow); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("third rollback: %v", err)
	}
	if treeHash(t, s.Dir) != before {
		t.Fatal("a refused rollback changed the store")
	}
	if m, _ := s.Aliases(Name); m["challenger"] != v1 || m[Champion] != v1 {
		t.Fatalf("aliases = %v", m)
	}

	h, err := s.History(Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 6 {
		t.Fatalf("history has %d entries, want 6: %+v", len(h), h)
	}
	if h[1].From != v1 || h[1].To != v2 || h[1].Actor != "tester" || h[1].Reason != "test" || h[0].From != "" {
		t.Errorf("history = %+v", h)
	}
	// The history is JSON Lines with the fields named in the contract.
	raw, err := os.ReadFile(filepath.Join(s.Dir, Name, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(raw), "\n", 2)[0]
	var fields map[string]any
	if err := json.Unmarshal([]byte(first), &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "alias", "from", "to", "actor", "reason", "forced"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("history line lacks %q: %s", k, first)
		}
	}
	// Nothing but the two files and no leftover temp or lock files.
	for _, p := range []string{filepath.Join(s.Dir, LockFile)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir, Name))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}

func TestGate(t *testing.T) {
	s, a, _ := storedModel(t)
	champ := a.Version
	better := variant(t, s, a, testNow.Add(time.Hour), nil)
	worse := variant(t, s, a, testNow.Add(2*time.Hour), nil)
	inCM := variant(t, s, a, testNow.Add(3*time.Hour), func(v *Artifact) { v.Schema.Inputs[0].Unit = "cm" })
	moreSpecies := variant(t, s, a, testNow.Add(4*time.Hour), func(v *Artifact) {
		v.Schema.Inputs[1].Levels = append(v.Schema.Inputs[1].Levels, "Emperor")
	})
	pin(t, s, champ, 300, 310)
	pin(t, s, better, 290, 320) // 2007 better, 2008 worse by 3.2%: allowed at 5%
	pin(t, s, worse, 330, 300)  // 2007 worse by 10%
	if _, err := s.Promote(Name, Champion, champ, testOpt, testNow); err != nil {
		t.Fatal(err)
	}

	refuse := func(v string, opt PromoteOptions, want ...string) {
		t.Helper()
		before := treeHash(t, s.Dir)
		_, err := s.Promote(Name, Champion, v, opt, testNow)
		if err == nil {
			t.Fatalf("%s promoted", v)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q: %v", w, err)
			}
		}
		if treeHash(t, s.Dir) != before {
			t.Errorf("refusing %s changed the store", v)
		}
	}
	refuse(worse, testOpt, "year 2007-01-01: RMSE 330.0000 against the champion's 300.0000 (+10.0%)", "more than 5.0%", "-force")
	refuse(inCM, PromoteOptions{Force: true, MaxRegression: 0.05}, "input schema differs", `bill_length_mm in unit "cm", not "mm"`)
	refuse(moreSpecies, PromoteOptions{Force: true}, "levels [Adelie, Chinstrap, Gentoo, Emperor]")
	refuse(worse, PromoteOptions{MaxRegression: 0.02}, "more than 2.0%", "(+10.0%)")

	// A looser limit passes; a non-champion alias has no gate.
	if _, err := s.Promote(Name, "challenger", worse, testOpt, testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Promote(Name, Champion, better, testOpt, testNow); err != nil {
		t.Fatalf("better: %v", err)
	}
	p, err := s.Promote(Name, Champion, worse, PromoteOptions{Force: true, MaxRegression: 0.05, Reason: "known bad year"}, testNow)
	if err != nil || !p.Forced {
		t.Fatalf("forced: %+v %v", p, err)
	}
	h, _ := s.History(Name)
	if last := h[len(h)-1]; !last.Forced || last.To != worse {
		t.Errorf("history does not record the forced promotion: %+v", last)
	}
	// Without a regression, -force records nothing forced.
	if p, err := s.Promote(Name, Champion, champ, PromoteOptions{Force: true, MaxRegression: 0.05}, testNow); err != nil || p.Forced {
		t.Errorf("force without need: %+v %v", p, err)
	}
}

func TestPromoteBadInputAndFaults(t *testing.T) {
	s, a, _ := storedModel(t)
	v2 := variant(t, s, a, testNow.Add(time.Hour), nil)
	if _, err := s.Promote(Name, Champion, a.Version, testOpt, testNow); err != nil {
		t.Fatal(err)
	}
	aliasPath := filepath.Join(s.Dir, Name, AliasesFile)
	good, err := os.ReadFile(aliasPath)
	if err != nil {
		t.Fatal(err)
	}

	check := func(what string, want error, wantText string, f func() error) {
		t.Helper()
		before := treeHash(t, s.Dir)
		err := f()
		if err == nil || (want != nil && !errors.Is(err, want)) || !strings.Contains(err.Error(), wantText) {
			t.Errorf("%s: err = %v, want %v containing %q", what, err, want, wantText)
		}
		if treeHash(t, s.Dir) != before {
			t.Errorf("%s changed the store", what)
		}
	}
	promote := func(alias, v string) func() error {
		return func() error { _, err := s.Promote(Name, alias, v, testOpt, testNow); return err }
	}
	check("unknown version", nil, "fails verification", promote(Champion, "20990101T000000Z-0123456789ab"))
	check("not a version", nil, "not a version id", promote(Champion, "latest"))
	check("unknown alias", ErrUnknownAlias, `"staging"`, func() error { _, err := s.Alias(Name, "staging"); return err })
	check("rollback unknown alias", ErrUnknownAlias, `"staging"`, func() error { _, err := s.Rollback(Name, "staging", testOpt, testNow); return err })
	for _, bad := range []string{"Champion", "1st", "-x", "a_b", "", "a/b"} {
		check("alias "+bad, ErrBadAlias, "lowercase letter", promote(bad, v2))
		check("resolve "+bad, ErrBadAlias, "lowercase letter", func() error { _, err := s.Alias(Name, bad); return err })
	}

	// A live holder of the lock (this process) blocks; the error says since when.
	unlock, err := s.lock(testNow)
	if err != nil {
		t.Fatal(err)
	}
	check("locked", ErrLocked, "since "+testNow.UTC().Format(time.RFC3339), promote(Champion, v2))
	check("locked rollback", ErrLocked, "pid", func() error { _, err := s.Rollback(Name, Champion, testOpt, testNow); return err })
	unlock()

	// A stale lock (a dead holder, or one too old) is broken, and released after.
	lockPath := filepath.Join(s.Dir, LockFile)
	host, _ := os.Hostname()
	for _, h := range []lockHolder{
		{PID: 1 << 30, Host: host, Since: testNow},                            // no such process
		{PID: os.Getpid(), Host: "elsewhere", Since: testNow.Add(-time.Hour)}, // too old
	} {
		b, _ := json.Marshal(h)
		if err := os.WriteFile(lockPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Promote(Name, "stale", v2, testOpt, testNow); err != nil {
			t.Errorf("stale lock %+v: %v", h, err)
		}
		if _, err := os.Stat(lockPath); err == nil {
			t.Errorf("lock left behind after breaking %+v", h)
		}
	}
	// A fresh lock on another host cannot be judged: it blocks.
	b, _ := json.Marshal(lockHolder{PID: 1, Host: "elsewhere", Since: testNow})
	os.WriteFile(lockPath, b, 0o644)
	check("held elsewhere", ErrLocked, "pid 1 on elsewhere", promote(Champion, v2))
	os.Remove(lockPath)

	// Corrupt, truncated and edited alias files are errors, never empty.
	for name, body := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"empty":     {},
		"garbage":   []byte("not json"),
		"edited":    []byte(strings.Replace(string(good), a.Version, v2, 1)),
	} {
		if err := os.WriteFile(aliasPath, body, 0o644); err != nil {
			t.Fatal(err)
		}
		want := "corrupt or truncated"
		if name == "edited" {
			want = "content hash mismatch"
		}
		check(name+" alias file: Alias", nil, want, func() error { _, err := s.Alias(Name, Champion); return err })
		check(name+" alias file: Aliases", nil, want, func() error { _, err := s.Aliases(Name); return err })
		check(name+" alias file: Promote", nil, want, promote(Champion, v2))
		check(name+" alias file: Rollback", nil, want, func() error { _, err := s.Rollback(Name, Champion, testOpt, testNow); return err })
	}
	if err := os.WriteFile(aliasPath, good, 0o644); err != nil {
		t.Fatal(err)
	}

	// A corrupt history line is an error naming the line.
	hist := filepath.Join(s.Dir, Name, HistoryFile)
	orig, _ := os.ReadFile(hist)
	os.WriteFile(hist, append(append([]byte{}, orig...), []byte("{\"time\":\n")...), 0o644)
	check("corrupt history", nil, "line", func() error { _, err := s.History(Name); return err })
	os.WriteFile(hist, orig, 0o644)
}

// TestPromoteUnwritableStore covers a store that cannot be written. Tests
// run as root here, where a read-only mode does not stop writes, so the
// store's model directory is shadowed by making the place where the alias
// file's temp file would go impossible to create in: the lock path is a
// directory (lock fails) and, separately, the model path is read through a
// store whose root is a file.
func TestPromoteUnwritableStore(t *testing.T) {
	s, a, _ := storedModel(t)
	// A store whose lock cannot be created: a directory sits at its path
	// with an entry, so O_EXCL fails with EEXIST and the "holder" is
	// unreadable and fresh: a clear lock error, nothing changed.
	lockPath := filepath.Join(s.Dir, LockFile)
	if err := os.MkdirAll(filepath.Join(lockPath, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, s.Dir)
	_, err := s.Promote(Name, Champion, a.Version, testOpt, testNow)
	if !errors.Is(err, ErrLocked) {
		t.Errorf("lock path taken: %v", err)
	}
	if treeHash(t, s.Dir) != before {
		t.Error("store changed")
	}
	os.RemoveAll(lockPath)

	// A store path that is a file.
	file := filepath.Join(t.TempDir(), "store")
	os.WriteFile(file, []byte("x"), 0o644)
	if _, err := (Store{Dir: file}).Promote(Name, Champion, a.Version, testOpt, testNow); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("store is a file: %v", err)
	}

	// Read-only by mode: effective only when not root.
	if os.Geteuid() != 0 {
		dir := filepath.Join(s.Dir, Name)
		os.Chmod(dir, 0o555)
		os.Chmod(s.Dir, 0o555)
		defer os.Chmod(dir, 0o755)
		defer os.Chmod(s.Dir, 0o755)
		before := treeHash(t, s.Dir)
		if _, err := s.Promote(Name, Champion, a.Version, testOpt, testNow); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("read-only store: %v", err)
		}
		if treeHash(t, s.Dir) != before {
			t.Error("read-only store changed")
		}
	}
}

// TestPromoteReadOnlyFilesystem promotes into a store on a read-only bind
// mount: the whole store, then only the model's directory (so the lock is
// taken and the alias file's staging fails). It needs root and mount(8);
// elsewhere it is skipped, and TestPromoteUnwritableStore covers what it can.
func TestPromoteReadOnlyFilesystem(t *testing.T) {
	s, a, _ := storedModel(t)
	v2 := variant(t, s, a, testNow.Add(time.Hour), nil)
	for _, v := range []string{a.Version, v2} {
		if _, err := s.Promote(Name, "challenger", v, testOpt, testNow); err != nil {
			t.Fatal(err)
		}
	}
	for _, target := range []string{s.Dir, filepath.Join(s.Dir, Name)} {
		if err := exec.Command("mount", "--bind", target, target).Run(); err != nil {
			t.Skipf("cannot bind-mount (needs root and mount(8)): %v", err)
		}
		umount := func() { exec.Command("umount", target).Run() }
		if out, err := exec.Command("mount", "-o", "remount,ro,bind", target).CombinedOutput(); err != nil {
			umount()
			t.Skipf("cannot remount read-only: %v %s", err, out)
		}
		before := treeHash(t, s.Dir)
		_, err := s.Promote(Name, Champion, a.Version, testOpt, testNow)
		_, rerr := s.Rollback(Name, "challenger", testOpt, testNow)
		after := treeHash(t, s.Dir)
		umount()
		if err == nil || !strings.Contains(err.Error(), "read-only file system") {
			t.Errorf("%s read-only: promote: %v", target, err)
		}
		if rerr == nil || !strings.Contains(rerr.Error(), "read-only file system") {
			t.Errorf("%s read-only: rollback: %v", target, rerr)
		}
		if after != before {
			t.Errorf("%s read-only: store changed", target)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, LockFile)); err == nil {
			t.Errorf("%s read-only: lock left behind", target)
		}
	}
	if _, err := s.Promote(Name, Champion, a.Version, testOpt, testNow); err != nil {
		t.Errorf("writable again: %v", err)
	}
}

// IfUnset sets a new alias, and leaves one already set where it is, with
// nothing written.
func TestPromoteIfUnset(t *testing.T) {
	s, a, _ := storedModel(t)
	v1 := a.Version
	v2 := variant(t, s, a, testNow.Add(time.Hour), nil)
	opt := PromoteOptions{Actor: "seed", IfUnset: true}
	p, err := s.Promote(Name, Champion, v1, opt, testNow)
	if err != nil || p.From != "" || p.To != v1 {
		t.Fatalf("unset alias: %+v %v", p, err)
	}
	before := treeHash(t, s.Dir)
	p, err = s.Promote(Name, Champion, v2, opt, testNow)
	if err != nil || p.From != v1 || p.To != v1 {
		t.Fatalf("set alias: %+v %v", p, err)
	}
	if treeHash(t, s.Dir) != before {
		t.Fatal("IfUnset on a set alias changed the store")
	}
	if h, _ := s.History(Name); len(h) != 1 {
		t.Fatalf("history has %d entries, want 1", len(h))
	}
	// Still refused like any promotion: a version that is not there.
	if _, err := s.Promote(Name, "challenger", "20200101T000000Z-000000000000", opt, testNow); err == nil {
		t.Fatal("IfUnset promoted a missing version")
	}
}
