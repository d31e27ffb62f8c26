package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
)

// countingAPI counts the model calls of each operation.
type countingAPI struct {
	*fakeAPI
	mu  sync.Mutex
	ops map[string]int
}

func counting(f *fakeAPI) *countingAPI {
	c := &countingAPI{fakeAPI: f, ops: map[string]int{}}
	wrap := func(op string) { c.mu.Lock(); c.ops[op]++; c.mu.Unlock() }
	predict, diagnostics, ready, metadata := f.predict, f.diagnostics, f.ready, f.metadata
	f.predict = func(ctx context.Context, recs []modelapi.Record, opts modelapi.PredictOptions) (*modelapi.PredictResponse, error) {
		wrap("predict")
		return predict(ctx, recs, opts)
	}
	f.diagnostics = func(ctx context.Context) (*modelapi.Diagnostics, error) { wrap("diagnostics"); return diagnostics(ctx) }
	f.ready = func(ctx context.Context) (*modelapi.Health, error) { wrap("ready"); return ready(ctx) }
	f.metadata = func(ctx context.Context) (*modelapi.Metadata, error) { wrap("metadata"); return metadata(ctx) }
	return c
}

func (c *countingAPI) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.ops {
		out[k] = v
	}
	return out
}

// burst sends n requests for path(i), 8 at a time, and returns their
// status codes by count.
func burst(t *testing.T, ts *httptest.Server, n int, path func(i int) string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				resp, err := ts.Client().Get(ts.URL + path(i))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes
}

// TestChartCacheCannotBeBypassed reproduces the cache-busting attack:
// bursts of chart requests with made-up, missing and varying parameters.
// Before, every request with a wrong or missing v made a 62-row model call
// and every made-up model version a diagnostics call. Now the model calls
// of the whole burst are: one curve per species and sex that a real link
// names, and at most one "which version is served?" call per second.
func TestChartCacheCannotBeBypassed(t *testing.T) {
	f, art := upAPI(t)
	api := counting(f)
	ts := newTestApp(t, api)
	_, doc := get(t, ts, "/predict?bill_length_mm=45&species=Gentoo&sex=male")
	link := doc.Find("[data-testid=curve]").AttrOr("src", "")
	if !strings.Contains(link, "v="+art.Version) {
		t.Fatalf("chart link %q does not name the version", link)
	}
	start, before := time.Now(), api.counts()
	const n = 200
	q := "/charts/predict.svg?bill_length_mm=45.0&species=Gentoo&sex=male"
	wrongV := burst(t, ts, n, func(i int) string { return fmt.Sprintf("%s&v=%d", q, i) })
	noV := burst(t, ts, n, func(int) string { return q })
	// Every length the form accepts, on the real link's curve: drawn, not
	// fetched, one by one.
	bills := burst(t, ts, n, func(i int) string {
		return fmt.Sprintf("/charts/predict.svg?bill_length_mm=%.1f&species=Gentoo&sex=male&v=%s", 30+float64(i%301)/10, art.Version)
	})
	modelCharts := burst(t, ts, n, func(i int) string {
		return fmt.Sprintf("/charts/model/20200101T0000%02dZ-%012d/residuals.svg", i%60, i)
	})
	elapsed := time.Since(start)
	after := api.counts()
	calls := map[string]int{}
	for op, c := range after {
		calls[op] = c - before[op]
	}
	t.Logf("%d chart requests in %s: model calls %v; statuses: wrong v %v, no v %v, lengths %v, model charts %v",
		4*n, elapsed.Round(time.Millisecond), calls, wrongV, noV, bills, modelCharts)
	if wrongV[http.StatusNotFound] != n || noV[http.StatusBadRequest] != n || bills[http.StatusOK] != n || modelCharts[http.StatusNotFound] != n {
		t.Errorf("statuses: wrong v %v (want 404s), no v %v (want 400s), lengths %v (want 200s), model charts %v (want 404s)", wrongV, noV, bills, modelCharts)
	}
	// The page's own prediction already named the served version: the
	// curve costs one prediction call and one metadata call (the species'
	// training range), and a version check at most one a second.
	maxReady := 1 + int(elapsed/versionRecheck)
	if calls["predict"] > 1 || calls["diagnostics"] > 0 || calls["metadata"] > 1 || calls["ready"] > maxReady {
		t.Errorf("a burst of %d chart requests made model calls %v; want at most 1 predict and 1 metadata, no diagnostics, at most %d ready", 4*n, calls, maxReady)
	}
}

// TestConcurrentChartMissesShareOneCall: a cold cache hit by many requests
// at once asks the model service once.
func TestConcurrentChartMissesShareOneCall(t *testing.T) {
	f, art := upAPI(t)
	release := make(chan struct{})
	predict := f.predict
	f.predict = func(ctx context.Context, recs []modelapi.Record, opts modelapi.PredictOptions) (*modelapi.PredictResponse, error) {
		<-release
		return predict(ctx, recs, opts)
	}
	api := counting(f)
	ts := newTestApp(t, api)
	get(t, ts, "/model") // hears the served version
	done := make(chan map[int]int)
	go func() {
		done <- burst(t, ts, 16, func(i int) string {
			return fmt.Sprintf("/charts/predict.svg?bill_length_mm=%.1f&species=Adelie&sex=female&v=%s", 40+float64(i)/10, art.Version)
		})
	}()
	time.Sleep(200 * time.Millisecond) // let them queue; the assertion does not depend on it
	close(release)
	if codes := <-done; codes[http.StatusOK] != 16 {
		t.Errorf("statuses %v", codes)
	}
	if n := api.counts()["predict"]; n != 1 {
		t.Errorf("%d predict calls for one curve, want 1", n)
	}
}

// TestHeadAnswersLikeGet: every GET route answers HEAD, static files
// included, with GET's status and headers and no body. Before, 405.
func TestHeadAnswersLikeGet(t *testing.T) {
	api, _ := upAPI(t)
	app, err := New(zap.NewNop(), api, nil, Options{Build: buildinfo.Info{Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if missing := service.GetWithoutHead(app.echo); len(missing) > 0 {
		t.Errorf("GET routes without HEAD: %v", missing)
	}
	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	for _, path := range []string{"/", "/explore", "/model", "/predict", "/monitoring", "/status", "/static/style.css", "/static/app.js",
		app.assets.url("style.css"), "/charts/explore-scatter.svg", "/healthz", "/readyz", "/version", "/metrics", "/nope"} {
		g, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, g.Body)
		g.Body.Close()
		h, err := ts.Client().Head(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(h.Body)
		h.Body.Close()
		if h.StatusCode != g.StatusCode || len(body) != 0 || h.Header.Get("Content-Type") != g.Header.Get("Content-Type") ||
			h.Header.Get("Cache-Control") != g.Header.Get("Cache-Control") || h.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("HEAD %s: %d with %d body bytes, Content-Type %q, Cache-Control %q; GET: %d, %q, %q", path,
				h.StatusCode, len(body), h.Header.Get("Content-Type"), h.Header.Get("Cache-Control"), g.StatusCode, g.Header.Get("Content-Type"), g.Header.Get("Cache-Control"))
		}
	}
}

// TestCachingHeaders: pages are revalidated every time; the stylesheet and
// script they link have hashed names cached for a year; the plain names
// are revalidated with an ETag.
func TestCachingHeaders(t *testing.T) {
	api, _ := upAPI(t)
	ts := newTestApp(t, api)
	for _, path := range []string{"/", "/explore", "/model", "/predict", "/predict?bill_length_mm=x", "/monitoring", "/status", "/nope"} {
		resp, doc := get(t, ts, path)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", path, cc)
		}
		for _, sel := range []string{"link[rel=stylesheet]", "script[src]"} {
			ref := doc.Find(sel).AttrOr("href", doc.Find(sel).AttrOr("src", ""))
			if !regexp.MustCompile(`^/static/(style|app)\.[0-9a-f]{12}\.(css|js)$`).MatchString(ref) {
				t.Errorf("%s: %s links %q, not a hashed name", path, sel, ref)
			}
		}
	}
	_, doc := get(t, ts, "/")
	for _, ref := range []string{doc.Find("link[rel=stylesheet]").AttrOr("href", ""), doc.Find("script[src]").AttrOr("src", "")} {
		plain := regexp.MustCompile(`\.[0-9a-f]{12}\.`).ReplaceAllString(ref, ".")
		var bodies [2][]byte
		for i, p := range []string{ref, plain} {
			resp, err := ts.Client().Get(ts.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			bodies[i], _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			etag, cc := resp.Header.Get("ETag"), resp.Header.Get("Cache-Control")
			want := "no-cache"
			if i == 0 {
				want = "public, max-age=31536000, immutable"
			}
			if resp.StatusCode != 200 || etag == "" || cc != want {
				t.Errorf("%s: %d, ETag %q, Cache-Control %q; want 200, an ETag, %q", p, resp.StatusCode, etag, cc, want)
			}
			req, _ := http.NewRequest(http.MethodGet, ts.URL+p, nil)
			req.Header.Set("If-None-Match", etag)
			again, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("%s with If-None-Match: %d, want 304", p, again.StatusCode)
			}
		}
		if len(bodies[0]) == 0 || !bytes.Equal(bodies[0], bodies[1]) {
			t.Errorf("%s and %s differ", ref, plain)
		}
	}
	if status, _ := chartText(t, ts, "/static/style.000000000000.css"); status != 404 {
		t.Errorf("a made-up hashed name: %d, want 404", status)
	}
}

// lineLog is a JSON logger into a buffer, as in production, to measure
// lines.
type lineLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lineLog) Sync() error { return nil }

func (l *lineLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.buf.String()), "\n")
}

// TestLongInputIsNotReflected: a path or form value of tens of KiB makes
// neither a large page nor a large log line. Before, a 60 KiB path came
// back in the 404 page whole, and so did a 60 KiB bill length in the
// form.
func TestLongInputIsNotReflected(t *testing.T) {
	api, _ := upAPI(t)
	var ll lineLog
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), &ll, zapcore.DebugLevel))
	app, err := New(log, api, nil, Options{Build: buildinfo.Info{Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	long := strings.Repeat("A", 60<<10)
	for _, c := range []struct{ short, long string }{
		{"/nope", "/" + long},
		{"/predict?bill_length_mm=abc&species=Gentoo&sex=male", "/predict?bill_length_mm=" + long + "&species=Gentoo&sex=male"},
		{"/predict?bill_length_mm=abc&species=x&sex=x", "/predict?bill_length_mm=" + long + "&species=" + long + "&sex=" + long},
		{"/charts/predict.svg?bill_length_mm=x", "/charts/predict.svg?bill_length_mm=" + long + "&v=" + long},
		{"/charts/model/x/residuals.svg", "/charts/model/" + long + "/residuals.svg"},
	} {
		size := func(path string) int {
			resp, err := ts.Client().Get(ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return len(b)
		}
		base, got := size(c.short), size(c.long)
		if bound := base + 2*maxEchoed + 64; got > bound {
			t.Errorf("%.40s… (%d bytes): a %d-byte answer, want at most %d (the short request's %d plus a clipped echo)", c.long, len(c.long), got, bound, base)
		}
	}
	for _, l := range ll.lines() {
		if len(l) > 4<<10 {
			t.Errorf("a log line of %d bytes: %.200s…", len(l), l)
		}
	}
}

// TestStatusShowsNoInternals: the Status page shows neither the model
// URL's credentials nor Go's dial errors; the logs have the details.
func TestStatusShowsNoInternals(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ln := freeAddr(t) // nothing listens there
	calls := NewCallLog(50)
	client, err := modelapi.NewClient(modelapi.ClientOptions{BaseURL: "http://" + ln, Retries: -1, OnCall: calls.Observe})
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(zap.New(core), client, calls, Options{ModelURL: "http://penguin:hunter2@" + ln, Build: buildinfo.Info{Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	for _, path := range []string{"/", "/status", "/status"} {
		resp, doc := get(t, ts, path)
		html, _ := doc.Html()
		for _, leak := range []string{"hunter2", "penguin:", "dial tcp", "connection refused", ln} {
			if strings.Contains(html, leak) && !(leak == ln && strings.Contains(html, "http://redacted@"+ln)) {
				t.Errorf("%s (%d) shows %q", path, resp.StatusCode, leak)
			}
		}
		if path == "/status" && !strings.Contains(doc.Find("[data-testid=calls-table]").Text(), "no answer: the model service could not be reached") {
			t.Errorf("the calls table does not say what happened: %q", doc.Find("[data-testid=calls-table]").Text())
		}
	}
	if logs.FilterField(zap.String("op", "ready")).FilterMessage("HTTP error").Len() == 0 {
		t.Error("the failed call's details are not in the logs")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.NotFoundHandler())
	addr := ts.Listener.Addr().String()
	ts.Close()
	return addr
}

// TestAbandonedRequestIsTheClients: a browser that leaves while the page
// waits for the model service is logged at info as a 499, with no error
// line. Before, the page's 503 and the failed call were both errors.
func TestAbandonedRequestIsTheClients(t *testing.T) {
	api, _ := upAPI(t)
	entered := make(chan struct{})
	api.predict = func(ctx context.Context, _ []modelapi.Record, _ modelapi.PredictOptions) (*modelapi.PredictResponse, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	core, logs := observer.New(zapcore.DebugLevel)
	app, err := New(zap.New(core), api, nil, Options{Build: buildinfo.Info{Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/predict?bill_length_mm=45&species=Gentoo&sex=male", nil)
	go func() { <-entered; cancel() }()
	if _, err := ts.Client().Do(req); err == nil {
		t.Fatal("the request was not abandoned")
	}
	for deadline := time.Now().Add(10 * time.Second); logs.FilterMessage("request").Len() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	access := logs.FilterMessage("request").All()
	if len(access) != 1 || access[0].Level != zapcore.InfoLevel || access[0].ContextMap()["status"] != service.StatusClientClosedRequest {
		t.Errorf("access lines %v, want one at info with status 499", access)
	}
	for _, l := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
		t.Errorf("error line for an abandoned request: %s %v", l.Message, l.ContextMap())
	}
}

// TestClientAddressFromTrustedProxiesOnly: the access log names the peer,
// whatever X-Forwarded-For says, unless the peer is a trusted proxy.
func TestClientAddressFromTrustedProxiesOnly(t *testing.T) {
	api, _ := upAPI(t)
	var loopback service.IPRanges
	if err := loopback.Decode("127.0.0.0/8,::1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		trusted service.IPRanges
		want    string
	}{{nil, "127.0.0.1"}, {loopback, "198.51.100.7"}} {
		core, logs := observer.New(zapcore.InfoLevel)
		app, err := New(zap.New(core), api, nil, Options{TrustedProxies: c.trusted})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(app.Handler())
		get(t, ts, "/healthz", "X-Forwarded-For", "198.51.100.7", "X-Real-IP", "198.51.100.8")
		ts.Close()
		if got := logs.FilterMessage("request").All()[0].ContextMap()["remote"]; got != c.want {
			t.Errorf("trusting %v: remote %v, want %s", c.trusted, got, c.want)
		}
	}
}
