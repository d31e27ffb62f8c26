package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// These tests run the real binary as a process: configuration, start-up,
// subcommands and signal handling.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "model-service-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "model-service")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building model-service: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type proc struct {
	cmd    *exec.Cmd
	addr   string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func start(t *testing.T, env ...string) *proc {
	t.Helper()
	p := &proc{addr: freeAddr(t), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(binary)
	p.cmd.Env = append(cleanEnv(), append([]string{"MODEL_ADDR=" + p.addr}, env...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	})
	return p
}

// cleanEnv is the test's environment without MODEL_ variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MODEL_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// waitLog waits until the running service has logged want at least n
// times (lines reach stdout in batches, a tenth of a second apart at
// most), and returns its output so far.
func (p *proc) waitLog(t *testing.T, want string, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs := p.stdout.String()
		if strings.Count(logs, want) >= n {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the service has logged %q %d times, want %d", want, strings.Count(logs, want), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("exited before ready: %v\n%s", err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("not ready within 10s")
}

// inFlight reads the service's http_requests_in_flight gauge.
func (p *proc) inFlight(t *testing.T) float64 {
	t.Helper()
	return p.metric(t, "http_requests_in_flight")
}

// metric reads an unlabelled metric from the service's /metrics.
func (p *proc) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", name, v, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// refusedWithin polls addr until a connection is refused, for up to d.
func refusedWithin(addr string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
	}
	return false
}

// stop sends SIGTERM, fails the test unless the service drains to exit 0,
// and returns its output: every line, since a stop flushes the log.
func (p *proc) stop(t *testing.T) string {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.stderr)
	}
	return p.stdout.String()
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(15 * time.Second):
		t.Fatal("process did not exit")
		return -1
	}
}

func TestZeroConfigServesAndDrainsOnSIGTERM(t *testing.T) {
	p := start(t, "MODEL_SHUTDOWN_TIMEOUT=5s")
	p.waitReady(t)

	// Start a request whose body arrives slowly, then send SIGTERM while it
	// is in flight: it must complete, and the process must exit 0.
	idle := p.inFlight(t) // 1 if the scrape counts itself
	pr, pw := io.Pipe()
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Post(p.url("/predict"), "application/json", pr)
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{status: resp.StatusCode, body: string(b)}
	}()
	io.WriteString(pw, `{"bill_length_mm": 45, `)
	// The request is in flight once the service counts it.
	for deadline := time.Now().Add(5 * time.Second); p.inFlight(t) <= idle; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow request was not in flight within 5s")
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused while draining: soon after SIGTERM, and
	// while the slow request still holds the process up.
	if !refusedWithin(p.addr, 5*time.Second) {
		t.Error("new connections still accepted 5s after SIGTERM")
	}
	io.WriteString(pw, `"species": "Gentoo", "sex": "male"}`)
	pw.Close()
	r := <-res
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"predict":[5275.66`) {
		t.Fatalf("in-flight request: %+v", r)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	logs := p.stdout.String()
	for _, want := range []string{`"msg":"service started"`, `"MODEL_ADDR":"` + p.addr + `"`, `"msg":"model loaded"`, `"msg":"shutdown started"`, `"msg":"shutdown complete"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

func TestBadConfigFailsNamingTheVariable(t *testing.T) {
	cases := map[string]string{
		"MODEL_MAX_ROWS=abc":                          "MODEL_MAX_ROWS",
		"MODEL_MAX_ROWS=0":                            "MODEL_MAX_ROWS",
		"MODEL_MAX_BODY_BYTES=lots":                   "MODEL_MAX_BODY_BYTES",
		"MODEL_MAX_BODY_BYTES=9999999GiB":             "MODEL_MAX_BODY_BYTES: want at least 1KiB and at most 64MiB, got 9999999GiB",
		"MODEL_MAX_BODY_BYTES=65MiB":                  "MODEL_MAX_BODY_BYTES: want at least 1KiB and at most 64MiB",
		"MODEL_MAX_ROWS=1000001":                      "MODEL_MAX_ROWS: want 1 to 1000000, got 1000001",
		"MODEL_PREDICTION_LOG_MAX_BYTES=2GiB":         "MODEL_PREDICTION_LOG_MAX_BYTES: want at least 4KiB and at most 1GiB",
		"MODEL_READ_TIMEOUT=9999h":                    "MODEL_READ_TIMEOUT: want at most 10m0s, got 9999h0m0s",
		"MODEL_SHUTDOWN_TIMEOUT=11m":                  "MODEL_SHUTDOWN_TIMEOUT: want at most 10m0s",
		"MODEL_SHUTDOWN_TIMEOUT=soon":                 "MODEL_SHUTDOWN_TIMEOUT",
		"MODEL_DRAIN_DELAY=later":                     "MODEL_DRAIN_DELAY",
		"MODEL_DRAIN_DELAY=-1s":                       "MODEL_DRAIN_DELAY: want 0 (off) to 1m0s",
		"MODEL_DRAIN_DELAY=90s":                       "MODEL_DRAIN_DELAY: want 0 (off) to 1m0s",
		"MODEL_LOG_LEVEL=loud":                        "MODEL_LOG_LEVEL",
		"MODEL_ENV=qa":                                "MODEL_ENV",
		"MODEL_MAXROWS=10":                            "unknown variable MODEL_MAXROWS",
		"MODEL_TRUSTED_PROXIES=10.0.0.0/33":           "MODEL_TRUSTED_PROXIES",
		"MODEL_TRUSTED_PROXIES=proxy.internal":        "MODEL_TRUSTED_PROXIES",
		"MODEL_DRIFT_WINDOW=many":                     "MODEL_DRIFT_WINDOW",
		"MODEL_DRIFT_WINDOW=0":                        "MODEL_DRIFT_WINDOW: want 1 to",
		"MODEL_DRIFT_MIN=5000":                        "MODEL_DRIFT_MIN: want 1 to MODEL_DRIFT_WINDOW (1000)",
		"MODEL_DRIFT_ENABLED=maybe":                   "MODEL_DRIFT_ENABLED",
		"MODEL_PREDICTION_LOG_MAX_BYTES=big":          "MODEL_PREDICTION_LOG_MAX_BYTES",
		"MODEL_PREDICTION_LOG_MAX_BYTES=100":          "MODEL_PREDICTION_LOG_MAX_BYTES: want at least 4KiB",
		"MODEL_VERSION=20260101T000000Z-0123456789ab": "MODEL_VERSION: pins a version but MODEL_STORE is not set",
		"MODEL_ALIAS=champion":                        "MODEL_ALIAS: names an alias but MODEL_STORE is not set",
		"MODEL_ALIAS=Champion":                        "MODEL_ALIAS: \"Champion\" is not an alias name",
		"MODEL_ALIAS=champion MODEL_VERSION=20260101T000000Z-0123456789ab":          "MODEL_ALIAS: and MODEL_VERSION are both set",
		"MODEL_RELOAD_INTERVAL=often":                                               "MODEL_RELOAD_INTERVAL",
		"MODEL_RELOAD_INTERVAL=10ms":                                                "MODEL_RELOAD_INTERVAL: want 0 (polling off) or at least 100ms",
		"MODEL_SHADOW_SAMPLE=some":                                                  "MODEL_SHADOW_SAMPLE",
		"MODEL_SHADOW_SAMPLE=1.5":                                                   "MODEL_SHADOW_SAMPLE: want a share of records from 0 to 1, got 1.5",
		"MODEL_SHADOW_SAMPLE=-0.1":                                                  "MODEL_SHADOW_SAMPLE: want a share of records from 0 to 1, got -0.1",
		"MODEL_SHADOW_SAMPLE=NaN":                                                   "MODEL_SHADOW_SAMPLE: want a share of records from 0 to 1, got NaN",
		"MODEL_SHADOW_ALIAS=challenger":                                             "MODEL_SHADOW_ALIAS: names an alias but MODEL_STORE is not set",
		"MODEL_SHADOW_ALIAS=Challenger MODEL_STORE=/nonexistent":                    "MODEL_SHADOW_ALIAS: \"Challenger\" is not an alias name",
		"MODEL_SHADOW_ALIAS=champion MODEL_ALIAS=champion MODEL_STORE=/nonexistent": "MODEL_SHADOW_ALIAS: \"champion\" is also MODEL_ALIAS",
		"MODEL_ENV=prod":                                                            "MODEL_API_KEYS_FILE: is required when MODEL_ENV=prod",
		"MODEL_ENV=staging":                                                         "MODEL_API_KEYS_FILE: is required when MODEL_ENV=staging",
		"MODEL_API_KEYS_FILE=/nonexistent/keys":                                     "MODEL_API_KEYS_FILE: keys file: open /nonexistent/keys",
		"MODEL_RATE_LIMIT=-1":                                                       "MODEL_RATE_LIMIT: want 0 (no limit) to",
		"MODEL_RATE_LIMIT=fast":                                                     "MODEL_RATE_LIMIT",
		"MODEL_RATE_BURST=0":                                                        "MODEL_RATE_BURST: want 1 to",
		"MODEL_CORS_ORIGINS=*":                                                      "MODEL_CORS_ORIGINS: want comma-separated origins",
		"MODEL_CORS_ORIGINS=https://a.example/app":                                  "MODEL_CORS_ORIGINS: want comma-separated origins",
		"MODEL_METRICS_ADDR=nonsense":                                               "MODEL_METRICS_ADDR: want empty or host:port",
	}
	for env, want := range cases {
		t.Run(env, func(t *testing.T) {
			p := start(t, strings.Fields(env)...)
			if code := p.wait(t); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(p.stderr.String(), want) {
				t.Errorf("stderr %q lacks %q", p.stderr.String(), want)
			}
		})
	}
}

// TestConfigUpperBoundsAccepted: the upper bounds themselves are
// accepted (the values just past them are refused above).
func TestConfigUpperBoundsAccepted(t *testing.T) {
	for k, v := range map[string]string{
		"MODEL_MAX_BODY_BYTES": "64MiB", "MODEL_MAX_ROWS": "1000000", "MODEL_PREDICTION_LOG_MAX_BYTES": "1GiB",
		"MODEL_READ_TIMEOUT": "10m", "MODEL_SHUTDOWN_TIMEOUT": "10m",
	} {
		t.Setenv(k, v)
	}
	if _, err := loadConfig(); err != nil {
		t.Fatal(err)
	}
}

func TestTrainStorePinAndRefuseCorrupt(t *testing.T) {
	store := t.TempDir()
	out, err := exec.Command(binary, "train", "-store", store).CombinedOutput()
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	vs, err := massmodel.Store{Dir: store}.Versions(massmodel.Name)
	if err != nil || len(vs) != 1 || !strings.Contains(string(out), vs[0]) {
		t.Fatalf("versions %v (%v); output %s", vs, err, out)
	}
	version := vs[0]

	p := start(t, "MODEL_STORE="+store, "MODEL_VERSION="+version)
	p.waitReady(t)
	resp, err := http.Get(p.url("/metadata"))
	if err != nil {
		t.Fatal(err)
	}
	var md modelapi.Metadata
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md.Version != version || !md.Serving.Pinned || md.Serving.LoadedFrom != "store:"+store {
		t.Errorf("metadata version %s pinned %v from %q", md.Version, md.Serving.Pinned, md.Serving.LoadedFrom)
	}
	resp, err = http.Get(p.url("/diagnostics"))
	if err != nil {
		t.Fatal(err)
	}
	var diag modelapi.Diagnostics
	json.NewDecoder(resp.Body).Decode(&diag)
	resp.Body.Close()
	if !diag.Available || diag.Source != modelapi.DiagnosticsFromArtifact || diag.Version != version || len(diag.Rows) != 333 {
		t.Errorf("diagnostics: available %v from %q for %s, %d rows (%s)", diag.Available, diag.Source, diag.Version, len(diag.Rows), diag.Reason)
	}
	// healthcheck subcommand against the running instance, and against nothing.
	hc := exec.Command(binary, "healthcheck")
	hc.Env = append(cleanEnv(), "MODEL_ADDR="+p.addr)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("healthcheck on a ready instance: %v %s", err, out)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d after SIGINT", code)
	}
	hc = exec.Command(binary, "healthcheck", "-url", "http://"+freeAddr(t)+"/readyz", "-timeout", "500ms")
	if err := hc.Run(); err == nil {
		t.Error("healthcheck with nothing listening exited 0")
	}

	// A corrupted artifact is refused at start-up: exit 1, a clear reason.
	path := filepath.Join(store, massmodel.Name, version, massmodel.ArtifactFile)
	body, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(body, []byte(`"estimate": 32.`), []byte(`"estimate": 33.`), 1), 0o644)
	bad := start(t, "MODEL_STORE="+store)
	if code := bad.wait(t); code != 1 {
		t.Errorf("corrupt artifact: exit code %d, want 1", code)
	}
	if !strings.Contains(bad.stdout.String(), "content hash mismatch") {
		t.Errorf("corrupt artifact: logs lack the reason:\n%s", bad.stdout)
	}
	// An empty store is an error, not a silent retrain.
	empty := start(t, "MODEL_STORE="+t.TempDir())
	if code := empty.wait(t); code != 1 || !strings.Contains(empty.stdout.String(), "no versions") {
		t.Errorf("empty store: exit %d, logs %s", code, empty.stdout)
	}
}
