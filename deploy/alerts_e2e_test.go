package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestAlertsEndToEnd runs the real Prometheus (Debian's package) with the
// project's prometheus.yml and alerts.yml, scraping the real services every
// second with every `for:` cut to 2s. Training-like traffic from
// model-traffic leaves ModelInputDrift quiet; a shift makes it fire. Then
// the model API stops (ModelAPIDown; from the frontend, which keeps being
// asked for predictions, ModelAPIUnreachableFromFrontend and its 5xx share)
// and the frontend stops (FrontendDown). Every rule evaluates without error
// throughout.
func TestAlertsEndToEnd(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (apt-get install prometheus; .ci/run does)")
	}
	if testing.Short() {
		t.Skip("end-to-end alert test skipped in -short mode")
	}
	start := time.Now()
	const window = 500
	s := startServices(t, window)
	prom := startPrometheus(t, promBin, s)
	t.Logf("services and Prometheus up in %.1fs", time.Since(start).Seconds())

	prom.waitFor(t, "both targets scraped and up", func() bool {
		return len(prom.query(t, `up == 1`)) == 2
	})

	// 1. Training-like traffic fills the window: PSI everywhere ok, and
	// ModelInputDrift inactive through evaluations longer than its `for:`.
	t.Log(s.traffic(t, "-shift", "none", "-rate", "100", "-batch", "20", "-duration", "1s"))
	prom.waitScraped(t, s)
	psi := prom.query(t, `model_feature_drift_psi`)
	if len(psi) != 4 {
		t.Fatalf("Prometheus has %d PSI series after training-like traffic, want 4 (bill_length_mm, species, sex, prediction): %v", len(psi), psi)
	}
	for _, r := range psi {
		t.Logf("training-like: PSI %s = %.3f", r.Metric["feature"], r.value(t))
		if r.value(t) >= 0.1 {
			t.Errorf("training-like traffic: PSI of %s is %.3f, want ok (below 0.1)", r.Metric["feature"], r.value(t))
		}
	}
	prom.waitEvaluated(t, "ModelInputDrift", time.Now().Add(3*time.Second))
	if r := prom.rule(t, "ModelInputDrift"); r.State != "inactive" {
		t.Errorf("ModelInputDrift is %s after training-like traffic, want inactive", r.State)
	}
	if a := prom.alerts(t, "ModelInputDrift"); len(a) > 0 {
		t.Errorf("ModelInputDrift active after training-like traffic: %+v", a)
	}

	// 2. A shift: ModelInputDrift fires for the features it moves.
	shifted := time.Now()
	t.Log(s.traffic(t, "-shift", "gentoo-long-bills", "-rate", "100", "-batch", "20", "-duration", "1s"))
	var firing []string
	prom.waitFor(t, "ModelInputDrift firing for species and bill_length_mm", func() bool {
		firing = firing[:0]
		for _, a := range prom.alerts(t, "ModelInputDrift") {
			if a.State == "firing" {
				firing = append(firing, a.Labels["feature"])
			}
		}
		return slices.Contains(firing, "species") && slices.Contains(firing, "bill_length_mm")
	})
	t.Logf("ModelInputDrift firing for %v, %.1fs after the shift began", firing, time.Since(shifted).Seconds())

	// 3. The model API stops while people keep asking the frontend for
	// predictions.
	s.model.stop(t)
	ctx, stopAsking := context.WithCancel(context.Background())
	var asking sync.WaitGroup
	asking.Add(1)
	go func() {
		defer asking.Done()
		for ctx.Err() == nil {
			if resp, err := http.Get(s.front.url("/predict?bill_length_mm=45&species=Gentoo&sex=male")); err == nil {
				resp.Body.Close()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	prom.waitFiring(t, "ModelAPIDown", map[string]string{"job": "model-service", "instance": s.model.addr})
	prom.waitFiring(t, "ModelAPIUnreachableFromFrontend", map[string]string{"job": "frontend-service", "instance": s.front.addr})
	prom.waitFiring(t, "HighServerErrorRate", map[string]string{"job": "frontend-service"})
	stopAsking()
	asking.Wait()

	// 4. The frontend stops.
	s.front.stop(t)
	prom.waitFiring(t, "FrontendDown", map[string]string{"job": "frontend-service", "instance": s.front.addr})

	for _, g := range prom.groups(t) {
		for _, r := range g.Rules {
			if r.Health != "ok" || r.LastError != "" {
				t.Errorf("rule %s: health %s, error %q", r.Name, r.Health, r.LastError)
			}
		}
	}
	t.Logf("end to end in %.1fs", time.Since(start).Seconds())
}

// prometheus is a running Prometheus and its HTTP API.
type prometheus struct{ *proc }

// startPrometheus starts Prometheus with prometheus.yml's jobs pointed at
// the services and a copy of alerts.yml whose `for:` durations are 2s,
// scraping and evaluating every second, on a free 127.0.0.1 port with its
// own storage.
func startPrometheus(t *testing.T, bin string, s *services) *prometheus {
	t.Helper()
	dir := t.TempDir()

	var cfg map[string]any
	unmarshalFile(t, filepath.Join(monitoringDir, "prometheus.yml"), &cfg)
	cfg["global"] = map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
	targets := map[string]string{"model-service:8080": s.model.addr, "frontend-service:8000": s.front.addr}
	for _, sc := range cfg["scrape_configs"].([]any) {
		for _, st := range sc.(map[string]any)["static_configs"].([]any) {
			ts := st.(map[string]any)["targets"].([]any)
			for i, tg := range ts {
				addr, ok := targets[tg.(string)]
				if !ok {
					t.Fatalf("prometheus.yml scrapes %v, which this test does not run", tg)
				}
				ts[i] = addr
			}
		}
	}
	writeJSON(t, filepath.Join(dir, "prometheus.yml"), cfg)

	var rules map[string]any
	unmarshalFile(t, filepath.Join(monitoringDir, "alerts.yml"), &rules)
	for _, g := range rules["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if _, ok := r.(map[string]any)["for"]; ok {
				r.(map[string]any)["for"] = "2s"
			}
		}
	}
	writeJSON(t, filepath.Join(dir, "alerts.yml"), rules)

	addr := "127.0.0.1:" + freePort(t)
	p := startProc(t, "prometheus", addr, bin, []string{
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}, nil)
	p.waitOK(t, "/-/ready")
	return &prometheus{p}
}

func unmarshalFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// writeJSON writes v as JSON, which Prometheus reads as the YAML it is.
func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// api GETs a Prometheus API path and decodes its data.
func (p *prometheus) api(t *testing.T, path string, data any) {
	t.Helper()
	resp, err := http.Get(p.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if body.Status != "success" {
		t.Fatalf("%s: %s %s", path, body.Status, body.Error)
	}
	if err := json.Unmarshal(body.Data, data); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value(t *testing.T) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
	if err != nil {
		t.Fatalf("sample %v: %v", s, err)
	}
	return v
}

func (p *prometheus) query(t *testing.T, q string) []sample {
	t.Helper()
	var data struct {
		Result []sample `json:"result"`
	}
	p.api(t, "/api/v1/query?query="+url.QueryEscape(q), &data)
	return data.Result
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"` // pending or firing
}

// alerts returns the active (pending or firing) alerts of one name.
func (p *prometheus) alerts(t *testing.T, name string) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	p.api(t, "/api/v1/alerts", &data)
	var out []promAlert
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

type promRule struct {
	Name           string    `json:"name"`
	State          string    `json:"state"` // inactive, pending or firing
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

func (p *prometheus) groups(t *testing.T) []struct{ Rules []promRule } {
	t.Helper()
	var data struct {
		Groups []struct{ Rules []promRule } `json:"groups"`
	}
	p.api(t, "/api/v1/rules?type=alert", &data)
	return data.Groups
}

func (p *prometheus) rule(t *testing.T, name string) promRule {
	t.Helper()
	for _, g := range p.groups(t) {
		for _, r := range g.Rules {
			if r.Name == name {
				return r
			}
		}
	}
	t.Fatalf("Prometheus has no rule %s", name)
	return promRule{}
}

// waitFor polls cond every 200ms for 30s.
func (p *prometheus) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitScraped waits until Prometheus has scraped the model API after its
// last prediction: it counts as many predictions as the service does.
func (p *prometheus) waitScraped(t *testing.T, s *services) {
	t.Helper()
	resp, err := http.Get(s.model.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^model_predictions_total\{endpoint="predict"\} (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no model_predictions_total in the model API's /metrics")
	}
	q := fmt.Sprintf(`model_predictions_total{job="model-service",endpoint="predict"} >= %s`, m[1])
	p.waitFor(t, "Prometheus scraped the last predictions", func() bool { return len(p.query(t, q)) == 1 })
}

// waitEvaluated waits until the rule was last evaluated after at.
func (p *prometheus) waitEvaluated(t *testing.T, name string, at time.Time) {
	t.Helper()
	p.waitFor(t, name+" evaluated", func() bool { return p.rule(t, name).LastEvaluation.After(at) })
}

// waitFiring waits for the alert to fire with the given labels.
func (p *prometheus) waitFiring(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	since := time.Now()
	p.waitFor(t, fmt.Sprintf("%s%v firing", name, labels), func() bool {
	alerts:
		for _, a := range p.alerts(t, name) {
			if a.State != "firing" {
				continue
			}
			for k, v := range labels {
				if a.Labels[k] != v {
					continue alerts
				}
			}
			return true
		}
		return false
	})
	t.Logf("%s firing after %.1fs", name, time.Since(since).Seconds())
}
