package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/palmerops/penguins/pkg/modelapi"
)

// TestBrowserEndToEnd drives Debian's chromium against both services, built
// and started by the test: a prediction with and without JavaScript equals
// the model API's answer, the pages survive the model service going away,
// and recover when it returns. It saves a screenshot of every page in
// $E2E_SCREENSHOTS (default: a temporary directory, logged).
func TestBrowserEndToEnd(t *testing.T) {
	chrome := findChromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	dir := t.TempDir()
	modelBin, frontBin := filepath.Join(dir, "model-service"), filepath.Join(dir, "frontend-service")
	for bin, pkg := range map[string]string{modelBin: "../model", frontBin: "."} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "penguins-screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	// A model store with metrics pinned by evaluate, so that the Monitoring
	// page has ground truth to chart, and the trained version promoted to
	// champion, so that the Status page has an alias and a history to show.
	store := filepath.Join(dir, "models")
	modelCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(modelBin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "USER=e2e"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("model-service %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}
	train := func() string {
		t.Helper()
		trained := regexp.MustCompile(` version (\S+) `).FindStringSubmatch(modelCmd("train", "-store", store))
		if trained == nil {
			t.Fatal("model-service train did not name the version it trained")
		}
		return trained[1]
	}
	// A challenger first, then (a second later: versions are named by the
	// second) the version served, the newest, which scores in its shadow.
	challenger := train()
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	version := train()
	modelCmd("evaluate", "-store", store, "-data", "../../pkg/penguins/penguins.csv", "-date-column", "year", "-period", "year")
	modelCmd("promote", "-store", store, "-alias", "challenger", "-reason", "try it", challenger)
	modelCmd("promote", "-store", store, "-alias", "champion", "-reason", "first release", version)

	modelAddr, frontAddr := freePort(t), freePort(t)
	model := startProc(t, modelBin, "MODEL_ADDR="+modelAddr, "MODEL_STORE="+store, "MODEL_ALIAS=champion", "MODEL_SHADOW_ALIAS=challenger", "MODEL_SHADOW_SAMPLE=1")
	waitReady(t, "http://"+modelAddr+"/readyz")
	startProc(t, frontBin, "FRONTEND_ADDR="+frontAddr, "FRONTEND_MODEL_URL=http://"+modelAddr, "FRONTEND_MODEL_TIMEOUT=1s", "FRONTEND_MODEL_RETRIES=1")
	front := "http://" + frontAddr
	waitReady(t, front+"/readyz")

	api, err := modelapi.NewClient(modelapi.ClientOptions{BaseURL: "http://" + modelAddr})
	if err != nil {
		t.Fatal(err)
	}
	want := func(bill float64) string {
		resp, err := api.Predict(context.Background(), []modelapi.Record{{BillLengthMM: bill, Species: "Gentoo", Sex: "male"}}, modelapi.PredictOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatFloat(float64(int(resp.Predict[0]+0.5)), 'f', 0, 64)
	}

	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))...)
	defer cancel()
	browser, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel := context.WithTimeout(browser, 2*time.Minute)
	defer cancel()

	shoot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, t)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	// massText waits for the prediction and reads it; while the script
	// fetches a new result the element can be there but still empty, or
	// be replaced between finding it and reading it ("No node with given
	// id found"), so it polls until the text is read and not empty (up to
	// 10 s).
	massText := func(ctx context.Context) string {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.WaitVisible(css("[data-testid=mass]"))); err != nil {
			t.Fatalf("waiting for the prediction: %v", err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			m, err := chromedp.Run(ctx, chromedp.Text(css("[data-testid=mass]")))
			if err == nil && m != "" {
				return m
			}
			if time.Now().After(deadline) {
				if err != nil {
					t.Fatalf("reading the prediction: %v", err)
				}
				return m
			}
		}
	}
	location := func(ctx context.Context) string {
		u, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	// Every page, with JavaScript.
	for _, page := range []string{"", "explore", "model", "status"} {
		name := page
		if name == "" {
			name = "overview"
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(front+"/"+page), chromedp.WaitVisible(css("main h1")), shoot(name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// The Status page shows the promotion made with the real binary: the
	// alias, its target marked as served, and the history.
	if err := chromedp.Do(ctx, chromedp.Navigate(front+"/status"), chromedp.WaitVisible(css("[data-testid=promotions-table]"))); err != nil {
		t.Fatalf("status: the promotion history is not visible: %v", err)
	}
	if row, err := chromedp.Run(ctx, chromedp.Text(css("[data-testid=alias-row][data-alias=champion]"))); err != nil ||
		!strings.Contains(row, version) || !strings.Contains(row, "served now") {
		t.Errorf("status: champion row %q (%v), want %s marked as served", row, err, version)
	}
	if row, err := chromedp.Run(ctx, chromedp.Text(css("[data-testid=promotion-row]"))); err != nil ||
		!strings.Contains(row, "champion") || !strings.Contains(row, version) || !strings.Contains(row, "e2e") || !strings.Contains(row, "first release") {
		t.Errorf("status: promotion row %q (%v), want champion → %s by e2e for \"first release\"", row, err, version)
	}

	// The Model page's diagnostic plots, drawn from the model service's
	// /diagnostics, load as images.
	if err := chromedp.Do(ctx, chromedp.Navigate(front+"/model"),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("[data-testid=residuals], [data-testid=predicted-observed]")]`+
			`.filter(i => i.complete && i.naturalWidth > 0).length === 2`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the Model page's diagnostic plots did not load: %v", err)
	}

	// Monitoring before any traffic: the window is empty, and the page
	// says so.
	if err := chromedp.Do(ctx, chromedp.Navigate(front+"/monitoring"), chromedp.WaitVisible(css("[data-testid=notice]")), shoot("monitoring-empty")); err != nil {
		t.Fatal(err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Text(css("[data-testid=notice]"))); err != nil || !strings.Contains(n, "Not enough traffic yet") {
		t.Errorf("monitoring with an empty window: notice %q (%v)", n, err)
	}
	// Shifted traffic straight to the model API, mostly Gentoo with long
	// bills: the page shows what the model service reports, with a chart
	// per feature drawn in the page.
	var shifted []modelapi.Record
	for i := range 150 {
		r := modelapi.Record{BillLengthMM: 50 + float64(i%80)/10, Species: "Gentoo", Sex: []string{"male", "female"}[i%2]}
		if i%10 == 0 {
			r.Species = "Adelie"
		}
		shifted = append(shifted, r)
	}
	if _, err := api.Predict(context.Background(), shifted, modelapi.PredictOptions{}); err != nil {
		t.Fatal(err)
	}
	// The shadow scores them off the response path: the page is loaded
	// once it has (or after 10 s, and the shadow's check below says so).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if sh, err := api.Shadow(context.Background()); err == nil && sh.Records >= uint64(len(shifted)) {
			break
		}
	}
	drift, err := api.Drift(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx, chromedp.Navigate(front+"/monitoring"), chromedp.WaitVisible(css("[data-testid=drift-table]")), shoot("monitoring"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("[data-testid=drift-table] tbody tr")]`+
		`.map(tr => tr.dataset.feature + " " + tr.dataset.status + " " + tr.querySelector(".psi").textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	var wantRows []string
	for _, f := range drift.Features {
		psi := "–"
		if f.PSI != nil {
			psi = strconv.FormatFloat(*f.PSI, 'f', 3, 64)
			if *f.PSI > 0 && *f.PSI < 0.0005 {
				psi = "< 0.001"
			}
		}
		wantRows = append(wantRows, f.Feature+" "+f.Status+" "+psi)
	}
	if strings.Join(rows, "; ") != strings.Join(wantRows, "; ") {
		t.Errorf("monitoring table %q, the model API says %q", rows, wantRows)
	}
	if len(drift.Features) == 0 || drift.Features[0].Status != modelapi.DriftAlert {
		t.Errorf("shifted bill lengths: drift %+v, want bill_length_mm first, in alert", drift.Features)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`[...document.querySelectorAll("[data-testid=drift-chart] svg")]`+
		`.filter(s => s.getBoundingClientRect().width > 300 && s.getBoundingClientRect().height > 150).length === 4`,
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("the Monitoring page does not show four charts: %v", err)
	}

	// Champion against challenger: the challenger scored every record in
	// the shadow, and the page shows the two versions and the distribution
	// of their differences as a chart.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css("[data-testid=shadow-chart] svg")), shoot("monitoring-shadow")); err != nil {
		t.Errorf("the Monitoring page does not show the shadow's chart: %v", err)
	} else {
		champ, _ := chromedp.Run(ctx, chromedp.Text(css("[data-testid=shadow-champion]")))
		chall, _ := chromedp.Run(ctx, chromedp.Text(css("[data-testid=shadow-challenger]")))
		mean, _ := chromedp.Run(ctx, chromedp.Text(css("[data-testid=shadow-mean]")))
		if champ != version || chall != challenger || mean != "0.0 g" {
			t.Errorf("shadow: champion %q, challenger %q, mean difference %q; want %s, %s and 0.0 g (both fitted to the same data)", champ, chall, mean, version, challenger)
		}
	}

	// Model performance: the metrics evaluate pinned for 2007, 2008 and
	// 2009, as charts.
	perf, perfErr := api.Performance(context.Background(), "")
	if perfErr != nil || len(perf.Metrics) == 0 {
		t.Fatalf("performance: %+v, %v; want the pinned metrics", perf, perfErr)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(css("[data-testid=performance]")), shoot("monitoring-performance")); err != nil {
		t.Fatal(err)
	}
	if perf != nil && len(perf.Metrics) > 0 {
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`[...document.querySelectorAll("[data-testid=performance-chart] svg")]`+
			`.filter(s => s.getBoundingClientRect().width > 300 && s.getBoundingClientRect().height > 150).length >= 1`,
			chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Errorf("the Monitoring page does not show the performance charts: %v", err)
		}
	} else {
		n, err := chromedp.Run(ctx, chromedp.Text(css("[data-testid=performance-notice]")))
		if err != nil || !strings.Contains(n, "No ground truth yet") {
			t.Errorf("performance with nothing pinned (%v): notice %q (%v)", perfErr, n, err)
		}
	}

	// A chart opened on its own renders under the same CSP.
	if err := chromedp.Do(ctx, chromedp.Navigate(front+"/charts/explore-scatter.svg"), shoot("chart-direct")); err != nil {
		t.Fatal(err)
	}

	// Predict with JavaScript: the script fetches the result in place.
	err = chromedp.Do(ctx,
		chromedp.Navigate(front+"/predict"),
		chromedp.WaitVisible(css("[data-testid=predict-form]")),
		chromedp.SetValue(css("#bill_length_mm"), "45"),
		chromedp.SetValue(css("#species"), "Gentoo"),
		chromedp.SetValue(css("#sex"), "male"),
		chromedp.Click(css("[data-testid=predict-button]")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if mass := massText(ctx); mass != want(45) {
		t.Errorf("with JavaScript: mass %q, model API says %q", mass, want(45))
	}
	if url := location(ctx); !strings.Contains(url, "bill_length_mm=45&species=Gentoo&sex=male") {
		t.Errorf("the address is not a shareable link: %s", url)
	}
	if err := chromedp.Do(ctx, shoot("predict")); err != nil {
		t.Fatal(err)
	}
	// Moving the slider updates the prediction.
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(() => { const r = document.getElementById("bill-range"); r.value = "50"; r.dispatchEvent(new Event("input")); })()`),
	)
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("[data-testid=mass]") !== null && document.querySelector("[data-testid=mass]").textContent === `+strconv.Quote(want(50)),
			chromedp.WithPollingTimeout(10*time.Second)))
	}
	if err != nil {
		t.Errorf("slider did not update the prediction to %s: %v", want(50), err)
	}
	if err := chromedp.Do(ctx, shoot("predict-slider")); err != nil {
		t.Fatal(err)
	}

	// A 55 mm Adelie: inside the pooled range, far outside the Adelie data.
	// The page warns with both reasons, and the chart shades the Adelie
	// training range and dashes the curve beyond it (issue 16).
	adelie := front + "/predict?bill_length_mm=55&species=Adelie&sex=male"
	if err := chromedp.Do(ctx, chromedp.Navigate(adelie), chromedp.WaitVisible(css("[data-testid=notice]"))); err != nil {
		t.Fatalf("55 mm Adelie: %v", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Text(css("[data-testid=notice]"))); err != nil ||
		!strings.Contains(n, "outside the Adelie training range [32.1, 46]") || !strings.Contains(n, "the largest in the training data") {
		t.Errorf("55 mm Adelie: warning %q (%v), want the species range and the leverage", n, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const i = document.querySelector("[data-testid=curve]"); return i !== null && i.complete && i.naturalWidth > 0; })()`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("55 mm Adelie: the chart did not load: %v", err)
	}
	src, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("[data-testid=curve]").src`))
	if err != nil {
		t.Fatal(err)
	}
	svg := httpGet(t, src)
	for _, w := range []string{"Adelie training range, 32.1 to 46, is shaded", "Prediction, extrapolated", "stroke-dasharray"} {
		if !strings.Contains(svg, w) {
			t.Errorf("55 mm Adelie: the chart lacks %q", w)
		}
	}
	if err := chromedp.Do(ctx, shoot("predict-extrapolation")); err != nil {
		t.Fatal(err)
	}

	// An invalid value typed with JavaScript on: the messages appear next
	// to the field, on the whole page.
	err = chromedp.Do(ctx,
		chromedp.SetValue(css("#bill_length_mm"), "70"),
		chromedp.Click(css("[data-testid=predict-button]")),
		chromedp.WaitVisible(css("[data-testid=error-bill_length_mm]")),
		shoot("predict-invalid"),
	)
	if err != nil {
		t.Errorf("no field message for 70 mm with JavaScript on: %v", err)
	}

	// Predict with JavaScript disabled: a plain GET form.
	noJS, cancelNoJS := chromedp.NewContext(browser)
	defer cancelNoJS()
	noJS, cancelT := context.WithTimeout(noJS, time.Minute)
	defer cancelT()
	err = chromedp.Do(noJS,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}),
		chromedp.Navigate(front+"/predict"),
		chromedp.WaitVisible(css("[data-testid=predict-form]")),
		chromedp.Clear(css("#bill_length_mm")),
		chromedp.SendKeys(css("#bill_length_mm"), "45"),
		chromedp.SetValue(css("#species"), "Gentoo"),
		chromedp.SetValue(css("#sex"), "male"),
		chromedp.Click(css("[data-testid=predict-button]")),
	)
	if err != nil {
		t.Fatal(err)
	}
	mass, url := massText(noJS), location(noJS)
	if mass != want(45) || !strings.Contains(url, "/predict?bill_length_mm=45&species=Gentoo&sex=male") {
		t.Errorf("without JavaScript: mass %q at %s, model API says %q", mass, url, want(45))
	}
	if err := chromedp.Do(noJS, shoot("predict-nojs")); err != nil {
		t.Fatal(err)
	}
	// Monitoring needs no script either.
	if err := chromedp.Do(noJS, chromedp.Navigate(front+"/monitoring"), chromedp.WaitVisible(css("[data-testid=drift-chart] svg"))); err != nil {
		t.Errorf("monitoring without JavaScript: %v", err)
	}

	// The model service goes away: the page says so, and the data pages
	// still render.
	model.stop(t)
	err = chromedp.Do(ctx,
		chromedp.Navigate(front+"/predict?bill_length_mm=45&species=Gentoo&sex=male"),
		chromedp.WaitVisible(css("[data-testid=notice]")),
		shoot("predict-unavailable"),
	)
	if err != nil {
		t.Fatal(err)
	}
	notice, err := chromedp.Run(ctx, chromedp.Text(css("[data-testid=notice]")))
	if err != nil || !strings.Contains(notice, "Prediction service unavailable") {
		t.Errorf("model service down: notice %q (%v)", notice, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(front+"/model"),
		chromedp.WaitVisible(css("[data-testid=notice]")),
		shoot("model-unavailable"),
		chromedp.Navigate(front+"/monitoring"),
		chromedp.WaitVisible(css("[data-testid=notice]")),
		shoot("monitoring-unavailable"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Text(css("[data-testid=notice]"))); err != nil || !strings.Contains(n, "Prediction service unavailable") {
		t.Errorf("monitoring with the model service down: notice %q (%v)", n, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(front+"/explore"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if h1, err := chromedp.Run(ctx, chromedp.Text(css("main h1"))); err != nil || h1 != "Explore the penguins" {
		t.Errorf("explore with the model service down: h1 %q (%v)", h1, err)
	}

	// It comes back on the same address: the frontend recovers by itself.
	startProc(t, modelBin, "MODEL_ADDR="+modelAddr, "MODEL_STORE="+store, "MODEL_ALIAS=champion")
	waitReady(t, "http://"+modelAddr+"/readyz")
	if err := chromedp.Do(ctx, chromedp.Navigate(front+"/predict?bill_length_mm=45&species=Gentoo&sex=male")); err != nil {
		t.Fatal(err)
	}
	if mass := massText(ctx); mass != want(45) {
		t.Errorf("after the model service returned: mass %q, want %s", mass, want(45))
	}

	// A promotion while both run: the model service swaps without a
	// restart, and every page of the frontend follows it.
	modelCmd("promote", "-store", store, "-alias", "champion", "-reason", "e2e swap", challenger)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(httpGet(t, "http://"+modelAddr+"/readyz"), challenger); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the model service did not swap to %s", challenger)
		}
	}
	for path, testid := range map[string]string{
		"/status": "status-model-version", "/model": "model-version", "/": "model-version",
		"/predict?bill_length_mm=45&species=Gentoo&sex=male": "result-version",
	} {
		m := regexp.MustCompile(`data-testid="` + testid + `">(?:<code>)?([^<]+)<`).FindStringSubmatch(httpGet(t, front+path))
		if m == nil || m[1] != challenger {
			t.Errorf("%s after the promotion: %s %v, want %s", path, testid, m, challenger)
		}
	}

	// The frontend's metrics saw both the good calls and the outage.
	resp, err := http.Get(front + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`model_api_calls_total{op="predict",outcome="ok"}`, `model_api_calls_total{op="predict",outcome="unavailable"}`,
		`http_requests_total{code="503",method="GET",route="/predict"}`,
		`model_api_calls_total{op="drift",outcome="ok"}`, `model_api_calls_total{op="drift",outcome="unavailable"}`,
		`model_api_calls_total{op="performance",outcome="unavailable"}`,
		`http_requests_total{code="503",method="GET",route="/monitoring"}`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// findChromium returns the browser to drive. Outside CI a missing browser
// skips the test; in CI (where .ci/run installs it) it is a failure.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium not installed (apt-get install chromium)")
	return ""
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type proc struct {
	cmd  *exec.Cmd
	done chan error
}

func startProc(t *testing.T, bin string, env ...string) *proc {
	t.Helper()
	return startProcLog(t, bin, filepath.Join(t.TempDir(), filepath.Base(bin)+".log"), env...)
}

// startProcLog is startProc with the process's output in the file logPath.
func startProcLog(t *testing.T, bin, logPath string, env ...string) *proc {
	t.Helper()
	var clean []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MODEL_") && !strings.HasPrefix(kv, "FRONTEND_") {
			clean = append(clean, kv)
		}
	}
	p := &proc{cmd: exec.Command(bin), done: make(chan error, 1)}
	p.cmd.Env = append(clean, env...)
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", filepath.Base(bin), b)
		}
	})
	return p
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", filepath.Base(p.cmd.Path), err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not stop", filepath.Base(p.cmd.Path))
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 20s", url)
}

// httpGet returns the body of a 200 answer to GET url.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
