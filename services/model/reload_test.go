package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// load is a load generator: keep-alive clients predicting in a loop,
// counting what a user would notice.
type load struct {
	sent, errors, dropped, dials atomic.Int64
	serverClosed                 atomic.Int64 // connections the server closed, or said it would
	mu                           sync.Mutex
	versions                     map[string]int // X-Model-Version of each 200

	stop atomic.Bool
	wg   sync.WaitGroup
}

func startLoad(t *testing.T, url string, clients int) *load {
	l := &load{versions: map[string]int{}}
	for range clients {
		// One connection per client, reused. A swap that closed
		// connections would show as connections the server closed
		// first: counting dials alone would also count the client's
		// own transport, which under load sometimes gives up on reusing
		// a connection whose request write it has not yet seen finish.
		dialer := &net.Dialer{Timeout: time.Second}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 1,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				l.dials.Add(1)
				c, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &watchedConn{Conn: c, load: l}, nil
			},
		}}
		l.wg.Go(func() {
			defer client.CloseIdleConnections()
			for !l.stop.Load() {
				l.sent.Add(1)
				resp, err := client.Post(url, "application/json",
					strings.NewReader(`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`))
				if err != nil {
					l.dropped.Add(1)
					t.Errorf("predict: %v", err)
					continue
				}
				if resp.Close { // the server said it closes the connection
					l.serverClosed.Add(1)
				}
				var b bytes.Buffer
				_, err = b.ReadFrom(resp.Body)
				resp.Body.Close()
				if err != nil {
					l.dropped.Add(1)
					t.Errorf("predict: reading the answer: %v", err)
					continue
				}
				if resp.StatusCode != http.StatusOK {
					l.errors.Add(1)
					t.Errorf("predict: status %d: %s", resp.StatusCode, b.String())
					continue
				}
				l.mu.Lock()
				l.versions[resp.Header.Get("X-Model-Version")]++
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *load) finish() { l.stop.Store(true); l.wg.Wait() }

// watchedConn counts its connection in serverClosed when a read finds it
// closed by the server before the client closed it.
type watchedConn struct {
	net.Conn
	load          *load
	closed, ended atomic.Bool
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && !c.closed.Load() && !c.ended.Swap(true) {
		c.load.serverClosed.Add(1)
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func (p *proc) servedVersion(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(p.url("/metadata"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md modelapi.Metadata
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	return md.Version
}

func (p *proc) waitServing(t *testing.T, version string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.servedVersion(t) != version {
		if time.Now().After(deadline) {
			t.Fatalf("not serving %s within 10s", version)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trainInto runs the binary's train subcommand and returns the new
// version. Version ids have one-second resolution, so it waits for the
// next second to get a version newer than any before.
func trainInto(t *testing.T, store string) string {
	t.Helper()
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	before, _ := massmodel.Store{Dir: store}.Versions(massmodel.Name)
	if out, err := exec.Command(binary, "train", "-store", store).CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	after, _ := massmodel.Store{Dir: store}.Versions(massmodel.Name)
	if len(after) != len(before)+1 {
		t.Fatalf("versions %v after training, before %v", after, before)
	}
	return after[len(after)-1]
}

// TestHotReloadUnderLoad runs the service on a store without a pinned
// version, trains new versions into the store with the binary, then
// retires the newest (a rollback of "newest"): the service follows each
// change without a restart while a load generator sees no error status and
// no dropped connection.
func TestHotReloadUnderLoad(t *testing.T) {
	store := t.TempDir()
	first := trainInto(t, store)
	// Polling is off (0): file events alone must carry the changes.
	p := start(t, "MODEL_STORE="+store, "MODEL_RELOAD_INTERVAL=0", "MODEL_SHUTDOWN_TIMEOUT=5s")
	p.waitReady(t)
	if v := p.servedVersion(t); v != first {
		t.Fatalf("serving %s, want %s", v, first)
	}

	const clients = 8
	l := startLoad(t, p.url("/predict"), clients)
	time.Sleep(200 * time.Millisecond)
	second := trainInto(t, store)
	p.waitServing(t, second)
	third := trainInto(t, store)
	p.waitServing(t, third)
	// Retire the newest version the way the store publishes one: by an
	// atomic rename (hidden names are not versions).
	if err := os.Rename(filepath.Join(store, massmodel.Name, third), filepath.Join(store, massmodel.Name, ".retired-"+third)); err != nil {
		t.Fatal(err)
	}
	p.waitServing(t, second)
	time.Sleep(200 * time.Millisecond)
	l.finish()

	const swaps = 3
	t.Logf("load: %d requests from %d keep-alive clients, %d error statuses, %d dropped connections, %d connections opened, %d closed by the server; %d swaps; answers by version %v",
		l.sent.Load(), clients, l.errors.Load(), l.dropped.Load(), l.dials.Load(), l.serverClosed.Load(), swaps, l.versions)
	if l.errors.Load() != 0 || l.dropped.Load() != 0 {
		t.Errorf("%d error statuses and %d dropped connections during the swaps", l.errors.Load(), l.dropped.Load())
	}
	if n := l.serverClosed.Load(); n != 0 {
		t.Errorf("the server closed %d of the %d connections of %d keep-alive clients during the swaps", n, l.dials.Load(), clients)
	}
	for _, v := range []string{first, second, third} {
		if l.versions[v] == 0 {
			t.Errorf("no answer named %s: %v", v, l.versions)
		}
	}
	if len(l.versions) != 3 {
		t.Errorf("answers named %d versions, want 3: %v", len(l.versions), l.versions)
	}
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"model_reloads_total 3", "model_reload_failures_total 0", `version="` + second + `"} 1`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if logs := p.waitLog(t, `"model reloaded"`, swaps); strings.Count(logs, `"model reloaded"`) != swaps || !strings.Contains(logs, `"from":"`+third+`","to":"`+second+`"`) {
		t.Errorf("logs lack the %d 'model reloaded' events with from and to", swaps)
	}
	p.stop(t)
}

// TestPinnedVersionDoesNotReload: MODEL_VERSION pins; a newer version in
// the store is not picked up.
func TestPinnedVersionDoesNotReload(t *testing.T) {
	store := t.TempDir()
	first := trainInto(t, store)
	p := start(t, "MODEL_STORE="+store, "MODEL_VERSION="+first, "MODEL_RELOAD_INTERVAL=100ms")
	p.waitReady(t)
	trainInto(t, store)
	time.Sleep(500 * time.Millisecond)
	if v := p.servedVersion(t); v != first {
		t.Errorf("pinned %s, serving %s", first, v)
	}
	if logs := p.stop(t); !strings.Contains(logs, `"msg":"shutdown complete"`) || strings.Contains(logs, "model reload watching") {
		t.Error("a pinned service watches its store, or its logs are incomplete")
	}
}
