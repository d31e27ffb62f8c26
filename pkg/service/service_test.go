package service

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

type testConfig struct {
	Addr     string        `envconfig:"TEST_ADDR" default:":8080"`
	Password string        `envconfig:"TEST_PASSWORD" secret:"true"`
	Limit    ByteSize      `envconfig:"TEST_LIMIT" default:"8MiB"`
	Wait     time.Duration `envconfig:"TEST_WAIT" default:"1s"`
	Upstream string        `envconfig:"TEST_UPSTREAM"`
	Proxies  IPRanges      `envconfig:"TEST_TRUSTED_PROXIES"`
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("TEST_PASSWORD", "hunter2")
	t.Setenv("TEST_LIMIT", "64KiB")
	t.Setenv("TEST_UPSTREAM", "https://user:hunter3@up.example:8443/api")
	t.Setenv("TEST_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,fd00::/8")
	var c testConfig
	if err := LoadConfig("TEST", &c); err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.Limit != 64<<10 || c.Wait != time.Second || c.Password != "hunter2" {
		t.Errorf("config = %+v", c)
	}
	fields := ConfigFields(&c)
	if fields["TEST_PASSWORD"] != "****" || fields["TEST_LIMIT"] != "64KiB" || fields["TEST_ADDR"] != ":8080" ||
		fields["TEST_UPSTREAM"] != "https://redacted@up.example:8443/api" || fields["TEST_TRUSTED_PROXIES"] != "10.0.0.0/8,192.0.2.7/32,fd00::/8" {
		t.Errorf("fields = %v", fields)
	}
	for env, want := range map[string]string{
		"TEST_WAIT=soon":                        "TEST_WAIT",
		"TEST_LIMIT=-1":                         "TEST_LIMIT",
		"TEST_LIMIT=8MB":                        "TEST_LIMIT",
		"TEST_ADRR=:9090":                       "unknown variable TEST_ADRR",
		"TEST_TRUSTED_PROXIES=10.0.0.0/33":      "TEST_TRUSTED_PROXIES",
		"TEST_TRUSTED_PROXIES=10.0.0.0/8,proxy": "TEST_TRUSTED_PROXIES",
		"ADDR=nonsense":                         "", // the bare name is not read
	} {
		t.Run(env, func(t *testing.T) {
			k, v, _ := strings.Cut(env, "=")
			t.Setenv(k, v)
			var c testConfig
			err := LoadConfig("TEST", &c)
			if want == "" {
				if err != nil || c.Addr != ":8080" {
					t.Errorf("%s changed the config: %v, %+v", env, err, c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to name %s", err, want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:secret@model:8080":       "http://redacted@model:8080",
		"http://user@model:8080/p?q=1":        "http://redacted@model:8080/p?q=1",
		"http://us er:sec%zz@model:8080/x":    "http://redacted@model:8080/x", // unparsable
		"postgres://app:pw@db/penguins":       "postgres://redacted@db/penguins",
		"http://model:8080":                   "http://model:8080",
		":8080":                               ":8080",
		"mailto:someone@example.com":          "mailto:someone@example.com",
		"http://model:8080/path@with-at-sign": "http://model:8080/path@with-at-sign",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"512": 512, "512B": 512, "64KiB": 64 << 10, "8MiB": 8 << 20, "1GiB": 1 << 30} {
		var b ByteSize
		if err := b.Decode(in); err != nil || b != want {
			t.Errorf("%q = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5", "8mb", "1.5MiB", "MiB", "17179869192GiB", "99999999999GiB"} {
		var b ByteSize
		if err := b.Decode(in); err == nil {
			t.Errorf("%q accepted as %d", in, b)
		}
	}
	if s := ByteSize(8 << 20).String(); s != "8MiB" {
		t.Errorf("String = %q", s)
	}
}

func TestProbeURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080": "http://127.0.0.1:8080/readyz", "0.0.0.0:9000": "http://127.0.0.1:9000/readyz",
		"127.0.0.2:80": "http://127.0.0.2:80/readyz", "[::]:8080": "http://127.0.0.1:8080/readyz",
	} {
		if got, err := ProbeURL(addr, "/readyz"); err != nil || got != want {
			t.Errorf("ProbeURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := ProbeURL("8080", "/readyz"); err == nil {
		t.Error("address without a port accepted")
	}
}

// TestServeDrains checks the shutdown sequence: readiness hook first, new
// connections refused, the in-flight request finished, nil returned.
func TestServeDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	drained := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, zaptest.NewLogger(t), NewServer(mux, Timeouts{time.Second, 5 * time.Second, 5 * time.Second, time.Second}),
			ln, 0, 5*time.Second, func() { close(drained) })
	}()
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			body <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body <- string(b)
	}()
	<-started
	cancel()
	<-drained
	// The listener closes right after the readiness hook; poll for it.
	if !refusedWithin(ln.Addr().String(), 5*time.Second) {
		t.Error("connections still accepted 5s into the drain")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v before the in-flight request finished", err)
	default:
	}
	close(release)
	if got := <-body; got != "done" {
		t.Errorf("in-flight request got %q", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v after a clean drain", err)
	}
}

// TestServeDrainDelay checks the pause between readiness turning false
// and the listener closing: a request on a new connection that arrives in
// it is served, and the drain proceeds after it.
func TestServeDrainDelay(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	notReady := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, zaptest.NewLogger(t), NewServer(mux, Timeouts{time.Second, 5 * time.Second, 5 * time.Second, time.Second}),
			ln, 2*time.Second, 5*time.Second, func() { close(notReady) })
	}()
	cancel()
	<-notReady
	// Readiness is false now; a new connection (no keep-alive to ride on)
	// must still be accepted and answered.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + ln.Addr().String() + "/ping")
	if err != nil {
		t.Fatalf("a request arriving during the drain delay: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "pong" {
		t.Errorf("a request arriving during the drain delay got %d %q", resp.StatusCode, b)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v during its drain delay", err)
	default:
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v after the delay and a clean drain", err)
	}
	if !refusedWithin(ln.Addr().String(), 5*time.Second) {
		t.Error("connections still accepted after Serve returned")
	}
}

func TestServeDrainDeadline(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) { close(started); <-block })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, zaptest.NewLogger(t), NewServer(mux, Timeouts{time.Second, time.Second, time.Minute, time.Second}), ln, 0, 200*time.Millisecond, nil)
	}()
	go http.Get("http://" + ln.Addr().String() + "/stuck")
	<-started
	cancel()
	if err := <-served; err == nil || !strings.Contains(err.Error(), "did not finish within 200ms") {
		t.Errorf("Serve = %v, want a drain deadline error", err)
	}
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
