package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/services/frontend/internal/web"
)

// The load benchmarks drive the frontend over real loopback TCP with
// concurrent clients and report throughput and tail latency: `make
// loadtest`. The Predict round trip goes through the real model service,
// built and started here.

func BenchmarkLoadExplore(b *testing.B) {
	app, err := web.New(zap.NewNop(), nil, nil, web.Options{Build: buildinfo.Info{Version: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	load(b, ts.URL+"/explore", func(int) string { return "" })
}

func BenchmarkLoadPredict(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "model-service")
	if out, err := exec.Command("go", "build", "-o", bin, "../model").CombinedOutput(); err != nil {
		b.Fatalf("building the model service: %v\n%s", err, out)
	}
	addr := freePort(b)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "MODEL_ADDR="+addr, "MODEL_LOG_LEVEL=warn")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("model service not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	client, err := modelapi.NewClient(modelapi.ClientOptions{BaseURL: "http://" + addr})
	if err != nil {
		b.Fatal(err)
	}
	app, err := web.New(zap.NewNop(), client, nil, web.Options{Build: buildinfo.Info{Version: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	species := []string{"Adelie", "Chinstrap", "Gentoo"}
	load(b, ts.URL, func(i int) string {
		return fmt.Sprintf("/predict?bill_length_mm=%.1f&species=%s&sex=male", 30+float64(i%300)/10, species[i%3])
	})
}

// load sends b.N GET requests from 4 × GOMAXPROCS concurrent clients and
// reports req/s and latency percentiles.
func load(b *testing.B, base string, path func(i int) string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var lat []time.Duration
	var next int
	b.SetParallelism(4) // 4 × GOMAXPROCS clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			mu.Lock()
			i := next
			next++
			mu.Unlock()
			t0 := time.Now()
			resp, err := client.Get(base + path(i))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
}
