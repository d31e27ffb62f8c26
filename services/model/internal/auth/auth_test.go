package auth

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var now = time.Date(2026, 12, 1, 6, 40, 0, 0, time.UTC)

// keysFile writes a keys file with a key per name (scopes "predict,read"
// unless given as name=scopes) and returns its path and the keys.
func keysFile(t *testing.T, specs ...string) (string, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api-keys")
	keys := map[string]string{}
	for _, spec := range specs {
		name, scopes, ok := strings.Cut(spec, "=")
		if !ok {
			scopes = "predict,read"
		}
		sc, err := ParseScopes(scopes)
		if err != nil {
			t.Fatal(err)
		}
		if keys[name], err = Add(path, name, sc, "", now); err != nil {
			t.Fatal(err)
		}
	}
	return path, keys
}

func newAuth(t *testing.T, path string, limits Limits) (*Authenticator, *observer.ObservedLogs, *prometheus.Registry) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	reg := prometheus.NewRegistry()
	a, err := New(zap.New(core), reg, path, limits)
	if err != nil {
		t.Fatal(err)
	}
	return a, logs, reg
}

func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

func TestAddListRevokeRoundTrip(t *testing.T) {
	path, keys := keysFile(t, "frontend", "dashboard=read", "batch=predict")
	entries, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[1].Name != "dashboard" || entries[1].ScopeList() != "read" || !entries[1].Created.Equal(now) {
		t.Fatalf("entries %+v", entries)
	}
	data, _ := os.ReadFile(path)
	for name, k := range keys {
		if len(k) < MinKeyLength || CheckKey(k) != nil {
			t.Errorf("%s: generated key %q is not a valid key", name, k)
		}
		if strings.Contains(string(data), k) {
			t.Errorf("the file holds the key of %s itself", name)
		}
		if !strings.Contains(string(data), fmt.Sprintf("sha256:%x", HashKey(k))) {
			t.Errorf("the file lacks the hash of %s's key", name)
		}
	}
	if keys["frontend"] == keys["dashboard"] {
		t.Error("two generated keys are equal")
	}
	if _, err := Add(path, "frontend", []Scope{Read}, "", now); err == nil || !strings.Contains(err.Error(), `"frontend" exists`) {
		t.Errorf("adding a second frontend: %v", err)
	}
	if _, err := Add(path, "again", []Scope{Read}, keys["batch"], now); err == nil || !strings.Contains(err.Error(), `already in the file, as "batch"`) {
		t.Errorf("adding batch's key again: %v", err)
	}
	if _, err := Add(path, "short", []Scope{Read}, "abc", now); err == nil || !strings.Contains(err.Error(), "shorter than the minimum 32") {
		t.Errorf("adding a short key: %v", err)
	}
	if err := Revoke(path, "dashboard"); err != nil {
		t.Fatal(err)
	}
	if err := Revoke(path, "dashboard"); err == nil || !strings.Contains(err.Error(), `no key named "dashboard"`) {
		t.Errorf("revoking twice: %v", err)
	}
	entries, _ = Load(path)
	if len(entries) != 2 || entries[0].Name != "frontend" || entries[1].Name != "batch" {
		t.Errorf("after revoke: %+v", entries)
	}
	if err := Revoke(filepath.Join(t.TempDir(), "none"), "x"); err == nil {
		t.Error("revoking in a missing file succeeded")
	}
}

// Concurrent adds queue on the lock: none loses another's entry.
func TestConcurrentAddsKeepEveryEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-keys")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := Add(path, fmt.Sprintf("k%02d", i), []Scope{Predict}, "", now); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	entries, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Errorf("%d entries after %d concurrent adds", len(entries), n)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-*")); len(left) > 0 {
		t.Errorf("staging files left behind: %v", left)
	}
}

func TestParseRefusesNamingTheLine(t *testing.T) {
	h := fmt.Sprintf("sha256:%x", HashKey(strings.Repeat("k", 40)))
	h2 := fmt.Sprintf("sha256:%x", HashKey(strings.Repeat("j", 40)))
	ok := "a " + h + " predict 2026-12-01T06:40:00Z\n"
	for _, tc := range []struct{ name, file, want string }{
		{"malformed", "# comment\n\nfrontend " + h + " predict\n", "line 3: want 4 fields"},
		{"duplicate name", ok + "a " + h2 + " read 2026-12-01T06:40:00Z\n", `line 2: duplicate name "a" (first on line 1)`},
		{"duplicate key", ok + "b " + h + " read 2026-12-01T06:40:00Z\n", "line 2: the same key as line 1"},
		{"unknown scope", "a " + h + " predict,admin 2026-12-01T06:40:00Z\n", `line 1: unknown scope "admin"`},
		{"repeated scope", "a " + h + " read,read 2026-12-01T06:40:00Z\n", `line 1: scope "read" given twice`},
		{"bad hash", "a sha256:abc predict 2026-12-01T06:40:00Z\n", "line 1: the hash field (10 characters)"},
		{"a key where its hash belongs", "a " + strings.Repeat("k", 64) + " predict 2026-12-01T06:40:00Z\n", "line 1: the hash field (64 characters)"},
		{"bad name", "Front!end " + h + " predict 2026-12-01T06:40:00Z\n", `line 1: name "Front!end"`},
		{"bad time", "a " + h + " predict yesterday\n", `line 1: created "yesterday"`},
	} {
		_, err := Parse("F", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), "keys file F "+tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, "keys file F "+tc.want)
		}
	}
	// A key pasted where its hash belongs is not quoted back: the error
	// goes to the logs.
	if _, err := Parse("F", []byte("a kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk predict 2026-12-01T06:40:00Z\n")); err == nil || strings.Contains(err.Error(), "kkkk") {
		t.Errorf("a key in the hash field: %v, want an error that does not show it", err)
	}
	entries, err := Parse("F", []byte("# only comments\n\n"+ok))
	if err != nil || len(entries) != 1 {
		t.Errorf("a valid file: %v, %+v", err, entries)
	}
	path := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(path, []byte("a b c\n"), 0o644)
	if _, err := New(zap.NewNop(), prometheus.NewRegistry(), path, Limits{}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("New with a bad file: %v", err)
	}
	if _, err := New(zap.NewNop(), prometheus.NewRegistry(), path+".missing", Limits{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("New with a missing file: %v", err)
	}
}

func TestCheck(t *testing.T) {
	path, keys := keysFile(t, "all", "reader=read", "scorer=predict")
	a, _, reg := newAuth(t, path, Limits{FailureBurst: 100})
	for _, tc := range []struct {
		name  string
		h     http.Header
		scope Scope
		want  Outcome
		key   string
	}{
		{"bearer", bearer(keys["all"]), Predict, OK, "all"},
		{"lowercase scheme", http.Header{"Authorization": {"bearer " + keys["all"]}}, Read, OK, "all"},
		{"X-API-Key", http.Header{"X-Api-Key": {keys["reader"]}}, Read, OK, "reader"},
		{"missing scope", bearer(keys["reader"]), Predict, Forbidden, "reader"},
		{"missing read", http.Header{"X-Api-Key": {keys["scorer"]}}, Read, Forbidden, "scorer"},
		{"no key", http.Header{}, Read, Unauthorized, ""},
		{"unknown key", bearer(NewKey()), Read, Unauthorized, ""},
		{"the hash as the key", bearer(fmt.Sprintf("%x", HashKey(keys["all"]))), Read, Unauthorized, ""},
		{"the key with a byte more", bearer(keys["all"] + "x"), Read, Unauthorized, ""},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, Read, Unauthorized, ""},
		{"bare bearer", http.Header{"Authorization": {"Bearer"}}, Read, Unauthorized, ""},
		{"basic", http.Header{"Authorization": {"Basic " + keys["all"]}}, Read, Unauthorized, ""},
		{"two bearers", http.Header{"Authorization": {"Bearer " + keys["all"], "Bearer " + keys["all"]}}, Read, Unauthorized, ""},
		{"both headers", http.Header{"Authorization": {"Bearer " + keys["all"]}, "X-Api-Key": {keys["all"]}}, Read, Unauthorized, ""},
		{"non-ASCII", bearer(keys["all"][:40] + "é"), Read, Unauthorized, ""},
		{"control character", bearer(keys["all"] + "\x01"), Read, Unauthorized, ""},
	} {
		d := a.Check(tc.h, "192.0.2.1", tc.scope)
		if d.Outcome != tc.want || d.Key != tc.key {
			t.Errorf("%s: got %+v, want outcome %d key %q", tc.name, d, tc.want, tc.key)
		}
		if d.Outcome != OK && d.Reason == "" {
			t.Errorf("%s: refused without a reason", tc.name)
		}
		for _, k := range keys {
			if strings.Contains(d.Reason, k) {
				t.Errorf("%s: the reason %q carries a key", tc.name, d.Reason)
			}
		}
	}
	if got := testutil.ToFloat64(a.refused.WithLabelValues("malformed")); got != 7 {
		t.Errorf("malformed refusals counted %v, want 7", got)
	}
	if got := testutil.ToFloat64(a.requests.WithLabelValues("reader", "forbidden")); got != 1 {
		t.Errorf("reader's forbidden requests counted %v", got)
	}
	if n, err := testutil.GatherAndCount(reg, "model_api_key_requests_total"); err != nil || n < 4 {
		t.Errorf("model_api_key_requests_total has %d series: %v", n, err)
	}
}

func TestRateLimitPerKey(t *testing.T) {
	path, keys := keysFile(t, "a", "b")
	// A bucket of 3 that refills at one a day: the test never sees a refill.
	a, _, _ := newAuth(t, path, Limits{Rate: 1.0 / 86400, Burst: 3})
	for i := range 3 {
		if d := a.Check(bearer(keys["a"]), "192.0.2.1", Read); d.Outcome != OK {
			t.Fatalf("request %d of the burst: %+v", i+1, d)
		}
	}
	d := a.Check(bearer(keys["a"]), "192.0.2.1", Read)
	if d.Outcome != Limited || d.Key != "a" || d.RetryAfter < time.Hour {
		t.Errorf("over the burst: %+v, want Limited with a retry after hours", d)
	}
	if d := a.Check(bearer(keys["b"]), "192.0.2.1", Read); d.Outcome != OK {
		t.Errorf("key b is limited by key a's use: %+v", d)
	}
	// A reload that keeps the key keeps its bucket.
	if _, err := Add(path, "c", []Scope{Read}, "", now); err != nil {
		t.Fatal(err)
	}
	if !a.Reload() {
		t.Fatal("the changed file was not reloaded")
	}
	if d := a.Check(bearer(keys["a"]), "192.0.2.1", Read); d.Outcome != Limited {
		t.Errorf("a reload refilled key a's bucket: %+v", d)
	}
	// Rate 0: no limit.
	u, _, _ := newAuth(t, path, Limits{Rate: 0, Burst: 1})
	for i := range 50 {
		if d := u.Check(bearer(keys["a"]), "192.0.2.1", Read); d.Outcome != OK {
			t.Fatalf("request %d without a limit: %+v", i, d)
		}
	}
}

func TestFailuresLimitedPerAddress(t *testing.T) {
	path, keys := keysFile(t, "a")
	a, _, _ := newAuth(t, path, Limits{FailureRate: 1.0 / 86400, FailureBurst: 3})
	for i := range 3 {
		if d := a.Check(bearer("wrong-"+NewKey()), "198.51.100.7", Read); d.Outcome != Unauthorized {
			t.Fatalf("failure %d: %+v", i+1, d)
		}
	}
	// The address is now refused before its key is looked at, even a
	// valid one, so guessing gets no answer.
	for _, h := range []http.Header{bearer(NewKey()), bearer(keys["a"])} {
		if d := a.Check(h, "198.51.100.7", Read); d.Outcome != Limited || d.Key != "" || d.RetryAfter < time.Hour {
			t.Errorf("after the failures: %+v, want Limited before the key is checked", d)
		}
	}
	if got := testutil.ToFloat64(a.refused.WithLabelValues("address_limited")); got != 2 {
		t.Errorf("address_limited counted %v", got)
	}
	// Another address is not affected.
	if d := a.Check(bearer(keys["a"]), "2001:db8::1", Read); d.Outcome != OK {
		t.Errorf("another address: %+v", d)
	}
}

func TestAddressMapIsBounded(t *testing.T) {
	l := newAddrLimiter(1, 2, 100)
	t0 := now
	for i := range 1000 {
		l.fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if n := l.size(); n > 100 {
		t.Errorf("%d addresses remembered, bound 100", n)
	}
	// The newest failure is remembered: one more spends its burst of 2.
	last := "10.0.3.231"
	l.fail(last, t0.Add(999*time.Millisecond))
	if l.blocked(last, t0.Add(999*time.Millisecond)) == 0 {
		t.Error("the newest address was forgotten")
	}
	// ...and once everyone's bucket has refilled, a new address sweeps
	// the idle ones away.
	l.fail("192.0.2.9", t0.Add(time.Hour))
	if n := l.size(); n != 1 {
		t.Errorf("%d addresses remembered after all went idle, want 1", n)
	}
}

// A reload that fails keeps the previous keys in force, says why once and
// counts it; a later good file is taken.
func TestReloadFailureKeepsPreviousKeys(t *testing.T) {
	path, keys := keysFile(t, "a", "b")
	a, logs, _ := newAuth(t, path, Limits{})
	good, _ := os.ReadFile(path)
	bad := string(good) + "c sha256:00 predict 2026-12-01T06:40:00Z\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if a.Reload() {
			t.Fatal("a bad file was taken")
		}
	}
	if d := a.Check(bearer(keys["b"]), "192.0.2.1", Read); d.Outcome != OK {
		t.Errorf("after a failed reload, key b: %+v", d)
	}
	refused := logs.FilterMessage("keys file refused; the previous keys stay in force").All()
	if len(refused) != 1 || !strings.Contains(refused[0].ContextMap()["error"].(string), "line 7: the hash field") {
		t.Errorf("refusal logged %d times: %v", len(refused), refused)
	}
	if got := testutil.ToFloat64(a.reloadFailure); got != 1 {
		t.Errorf("reload failures counted %v, want 1", got)
	}
	os.Remove(path)
	if a.Reload() || a.Check(bearer(keys["a"]), "192.0.2.1", Read).Outcome != OK {
		t.Error("a deleted file dropped the keys")
	}
	if err := Revoke(path+".none", "a"); err == nil {
		t.Error("revoke in a missing file")
	}
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Revoke(path, "a"); err != nil {
		t.Fatal(err)
	}
	if !a.Reload() || a.Check(bearer(keys["a"]), "192.0.2.1", Read).Outcome != Unauthorized {
		t.Error("the revocation was not taken")
	}
	if got := testutil.ToFloat64(a.reloads); got != 1 {
		t.Errorf("reloads counted %v, want 1", got)
	}
}

// Watch notices a revocation without being asked, by file events and by
// polling alone.
func TestWatchRevokes(t *testing.T) {
	for _, tc := range []struct {
		name string
		poll time.Duration
	}{{"events", 0}, {"polling", 50 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			path, keys := keysFile(t, "a", "b")
			a, _, _ := newAuth(t, path, Limits{FailureBurst: 1000})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { a.Watch(ctx, tc.poll); close(done) }()
			t.Cleanup(func() { cancel(); <-done })
			if err := Revoke(path, "a"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for a.Check(bearer(keys["a"]), "192.0.2.1", Read).Outcome != Unauthorized {
				if time.Now().After(deadline) {
					t.Fatal("the revoked key still works after 10s")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if d := a.Check(bearer(keys["b"]), "192.0.2.1", Read); d.Outcome != OK {
				t.Errorf("key b after a's revocation: %+v", d)
			}
		})
	}
}

// BenchmarkCheck: a key matching the first entry, the last, or none costs
// the same comparisons (every entry is compared, in constant time).
func BenchmarkCheck(b *testing.B) {
	path := filepath.Join(b.TempDir(), "keys")
	var first, last string
	for i := range 10 {
		k, err := Add(path, fmt.Sprintf("k%d", i), []Scope{Predict, Read}, "", now)
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = k
		}
		last = k
	}
	a, err := New(zap.NewNop(), prometheus.NewRegistry(), path, Limits{Rate: 1e9, Burst: 1e9, FailureRate: 1e9, FailureBurst: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	for name, k := range map[string]string{"first": first, "last": last, "none": NewKey()} {
		h := bearer(k)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				a.Check(h, "192.0.2.1", Predict)
			}
		})
	}
}
