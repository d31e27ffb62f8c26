package deploy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The monitoring files (deploy/monitoring, deploy/compose.monitoring.yaml)
// are checked by Debian's promtool and prometheus (the `prometheus`
// package, which .ci/run installs) and against the real services.

const monitoringDir = "monitoring"

// promtool returns the path of promtool, skipping the test when it is not
// installed.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus; .ci/run does)")
	}
	return p
}

// runPromtool runs promtool in dir and fails the test with its output
// when it fails.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPrometheusConfig(t *testing.T) {
	out := runPromtool(t, monitoringDir, "check", "config", "prometheus.yml")
	t.Log(out)

	// It scrapes both services by their compose names and ports, as the
	// alert rules' job labels expect.
	cfg := readYAML[promConfig](t, filepath.Join(monitoringDir, "prometheus.yml"))
	want := map[string]string{"model-service": "model-service:8080", "frontend-service": "frontend-service:8000"}
	got := map[string]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			got[sc.JobName] = strings.Join(st.Targets, ",")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scrape jobs %v, want %v", got, want)
	}
	if !slices.Equal(cfg.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("rule_files %v, want [alerts.yml]", cfg.RuleFiles)
	}
}

func TestAlertRules(t *testing.T) {
	t.Log(runPromtool(t, monitoringDir, "check", "rules", "alerts.yml"))
	t.Log(runPromtool(t, monitoringDir, "test", "rules", "alerts_test.yml"))

	// The alerts the issue asks for, and nothing untested: every alert has
	// a unit test where it fires and one where it stays quiet.
	rules := readYAML[ruleFile](t, filepath.Join(monitoringDir, "alerts.yml"))
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule that is not an alert (%s)", g.Name, r.Record)
				continue
			}
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: want a severity label and summary and description annotations", r.Alert)
			}
		}
	}
	sort.Strings(alerts)
	want := []string{"FrontendDown", "HighLatencyP99", "HighServerErrorRate", "ModelAPIDown", "ModelAPIUnreachableFromFrontend", "ModelInputDrift", "ModelInputsOutOfRange", "ModelPerformanceDegraded", "ModelPredictionLogIncomplete"}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts %v, want %v", alerts, want)
	}
	tests := readYAML[ruleTests](t, filepath.Join(monitoringDir, "alerts_test.yml"))
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, a := range alerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("%s: alerts_test.yml has a case where it fires: %v, where it stays quiet: %v; want both", a, fires[a], quiet[a])
		}
	}
}

// TestAlertUnitTestsCanFail checks that promtool test rules fails on a
// broken rule, so that a green run means something: each alert's threshold
// moved in turn must fail its unit tests.
func TestAlertUnitTestsCanFail(t *testing.T) {
	promtool(t)
	orig, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(monitoringDir, "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ from, to string }{
		{"> 0.5\n", "> 0.2\n"},                                        // unreachable: the 1-in-4 near miss fires
		{"> 0.01\n", "> 0.004\n"},                                     // 5xx: the 0.5% near miss fires
		{"histogram_quantile(0.99", "histogram_quantile(0.5"},         // latency
		{"> 0.05\n", "> 0.03\n"},                                      // out of range: the 4% near miss fires
		{">= 0.25", ">= 0.5"},                                         // drift: 0.4 no longer fires
		{"for: 10m", "for: 5m"},                                       // drift: the 5-minute blip fires
		{"for: 1m", "for: 30s"},                                       // down: the 30-second blip fires
		{"> on (job, instance) 1.25 *", "> on (job, instance) 1.5 *"}, // performance: 1.3 times no longer fires
		{"> on (job, instance) 1.25 *", "> on (job, instance) 1.1 *"}, // performance: 1.2 times fires
		{"dropped_total[5m])) > 0", "dropped_total[5m])) > 100"},      // prediction log: 40 drops no longer fire
		{"dropped_total[5m]", "dropped_total[1m]"},                    // prediction log: the drops 1m45s back are missed
	} {
		if !strings.Contains(string(orig), m.from) {
			t.Fatalf("alerts.yml has no %q to change", m.from)
		}
		dir := t.TempDir()
		if err := errors.Join(
			os.WriteFile(filepath.Join(dir, "alerts.yml"), []byte(strings.Replace(string(orig), m.from, m.to, 1)), 0o644),
			os.WriteFile(filepath.Join(dir, "alerts_test.yml"), tests, 0o644),
		); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool(t), "test", "rules", "alerts_test.yml")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("alerts.yml with %q changed to %q still passes its unit tests:\n%s", m.from, m.to, out)
		}
	}
}

// TestDashboard checks the Grafana dashboard and its provisioning: every
// panel's queries parse as PromQL (promtool checks them as recording
// rules), use the provisioned data source, and the panels show what the
// issue asks for.
func TestDashboard(t *testing.T) {
	dash := readDashboard(t)
	ds := readYAML[struct {
		Datasources []struct{ Name, UID, Type, URL string }
	}](t, filepath.Join(monitoringDir, "grafana", "provisioning", "datasources", "prometheus.yml"))
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("data sources %+v, want one prometheus at http://prometheus:9090 (the compose service)", ds.Datasources)
	}
	uid := ds.Datasources[0].UID

	if dash.UID == "" || dash.Title == "" {
		t.Errorf("dashboard uid %q title %q", dash.UID, dash.Title)
	}
	ids := map[int]bool{}
	var cells [64][24]int // panel id by grid cell, to find overlaps
	var rules []map[string]string
	for _, p := range dash.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != uid {
			t.Errorf("panel %q: data source %q, want the provisioned %q", p.Title, p.Datasource.UID, uid)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 || g.Y+g.H > len(cells) {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
			continue
		}
		for y := g.Y; y < g.Y+g.H; y++ {
			for x := g.X; x < g.X+g.W; x++ {
				if other := cells[y][x]; other != 0 {
					t.Errorf("panel %q overlaps panel %d at (%d,%d)", p.Title, other, x, y)
				}
				cells[y][x] = p.ID
			}
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != uid || tg.RefID == "" || refs[tg.RefID] || tg.Expr == "" {
				t.Errorf("panel %q: query %+v: want the provisioned data source, a unique refId and an expr", p.Title, tg)
			}
			refs[tg.RefID] = true
			rules = append(rules, map[string]string{
				"record": fmt.Sprintf("dashboard:panel_%d_%s", p.ID, tg.RefID),
				"expr":   grafanaExpr(t, tg.Expr),
			})
		}
	}

	// promtool parses every query.
	b, err := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-rules.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(runPromtool(t, dir, "check", "rules", "dashboard-rules.yml"))

	// Traffic, errors, latency, the served version, predictions,
	// out-of-range inputs and PSI by feature.
	used := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		for _, n := range metricNames(q) {
			used[n] = true
		}
	}
	for _, m := range []string{"http_requests_total", "http_request_duration_seconds_bucket", "model_info", "model_predictions_total",
		"model_inputs_out_of_range_total", "model_feature_drift_psi", "model_api_calls_total", "up"} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}

	// The provider loads the dashboards from where compose mounts them.
	prov := readYAML[struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		}
	}](t, filepath.Join(monitoringDir, "grafana", "provisioning", "dashboards", "penguins.yml"))
	mounts := composeMounts(t, "grafana")
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || mounts[prov.Providers[0].Options.Path] != "./deploy/monitoring/grafana/dashboards" {
		t.Errorf("dashboard provider %+v; grafana's mounts %v", prov.Providers, mounts)
	}
}

// TestComposeMonitoringProfile checks deploy/compose.monitoring.yaml: its
// services run only in the monitoring profile, from pinned images,
// published on 127.0.0.1 only, with the files mounted that exist; and
// `config` accepts it with docker compose (v2) and docker-compose (1.29),
// whichever are installed.
func TestComposeMonitoringProfile(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Image    string
			Profiles []string
			Ports    []string
			Volumes  []string
		}
	}
	b, err := os.ReadFile("compose.monitoring.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`^\$\{[A-Z_]+:-(prom/prometheus|grafana/grafana):v?\d+\.\d+\.\d+\}$`)
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		if !slices.Equal(s.Profiles, []string{"monitoring"}) {
			t.Errorf("%s: profiles %v, want [monitoring]", name, s.Profiles)
		}
		if !pinned.MatchString(s.Image) {
			t.Errorf("%s: image %q, want an official image with a pinned x.y.z tag", name, s.Image)
		}
		if len(s.Ports) == 0 {
			t.Errorf("%s: no port published", name)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %q is not published on 127.0.0.1 only", name, p)
			}
		}
		for src := range composeMountsOf(s.Volumes) {
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	}

	ran := 0
	for _, cmd := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if exec.Command(cmd[0], append(cmd[1:], "version")...).Run() != nil {
			continue
		}
		ran++
		args := append(cmd[1:], "-f", "compose.yaml", "-f", "deploy/compose.monitoring.yaml", "--profile", "monitoring", "config", "-q")
		x := exec.Command(cmd[0], args...)
		x.Dir = ".."
		x.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME=penguins-config-check")
		if out, err := x.CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", strings.Join(cmd, " "), strings.Join(args, " "), err, out)
		}
	}
	if ran == 0 {
		t.Log("neither docker compose nor docker-compose is installed: config not checked")
	}
}

// TestMonitoringNamesExportedMetrics checks that the dashboard and the alert
// rules name only metrics the real services export (or Prometheus makes:
// up, ALERTS), read from their /metrics after some traffic, so that every
// labelled series exists.
func TestMonitoringNamesExportedMetrics(t *testing.T) {
	s := startServices(t, 50, "MODEL_STORE="+evaluatedStore(t), "MODEL_PREDICTION_LOG="+t.TempDir())
	s.traffic(t, "-rate", "50", "-batch", "10", "-duration", "300ms")
	s.traffic(t, "-shift", "out-of-range", "-rate", "20", "-duration", "100ms")
	for _, path := range []string{"/", "/predict?bill_length_mm=45&species=Gentoo&sex=male", "/model", "/status"} {
		resp, err := http.Get(s.front.url(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	exported := map[string]bool{"up": true, "ALERTS": true}
	for _, p := range []*proc{s.model, s.front} {
		for n := range exportedNames(t, p.url("/metrics")) {
			exported[n] = true
		}
	}
	for _, must := range []string{"model_feature_drift_psi", "model_drift_window_records", "model_api_calls_total", "model_info",
		"model_performance", "model_training_rmse", "model_prediction_log_dropped_total"} {
		if !exported[must] {
			t.Fatalf("the services do not export %s after traffic", must)
		}
	}

	queries := dashboardQueries(t)
	rules := readYAML[ruleFile](t, filepath.Join(monitoringDir, "alerts.yml"))
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			queries = append(queries, r.Expr)
		}
	}
	for _, q := range queries {
		names := metricNames(q)
		if len(names) == 0 {
			t.Errorf("no metric name found in %q", q)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%q names %s, which neither service exports", q, n)
			}
		}
	}
}

// exportedNames reads the metric names of a /metrics page: every family's
// name, and for histograms and summaries the series' suffixed names.
func exportedNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names[f[2]] = true
		switch f[3] {
		case "histogram":
			names[f[2]+"_bucket"], names[f[2]+"_sum"], names[f[2]+"_count"] = true, true, true
		case "summary":
			names[f[2]+"_sum"], names[f[2]+"_count"] = true, true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promToken    = regexp.MustCompile(`[0-9.][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true,
	}
)

// metricNames returns the metric names a PromQL expression selects, sorted.
// It is a small lexer, not a parser (promtool parses): it cuts out strings,
// label matchers, ranges and grouping label lists; what remains of the
// identifiers that are not keywords and not followed by "(" (functions,
// aggregations) are metric names.
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRanges.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	for _, loc := range promToken.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || tok[0] == '.' || promKeywords[tok] {
			continue
		}
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue
		}
		seen[tok] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`up{job="model-service"} == 0`: "up",
		`sum by (job, instance) (rate(model_api_calls_total{job="frontend-service", outcome="unavailable"}[5m])) / sum by (job, instance) (rate(model_api_calls_total{job="frontend-service"}[5m])) > 0.5`: "model_api_calls_total",
		`histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.25`:                                                                                               "http_request_duration_seconds_bucket",
		`sum by (feature) (rate(a_total[1m])) / ignoring (feature) group_left sum(rate(b_total[1m]))`:                                                                                                      "a_total b_total",
		`count(ALERTS{alertstate="firing"}) or vector(0)`:                                                                                                                                                  "ALERTS",
		`max(x offset 5m) unless on (job) y{a="by (z)"} and sum(z) without (w)`:                                                                                                                            "x y z",
		`rate(q[5m:30s]) * 1e3 + -Inf + nan + 0x1f`:                                                                                                                                                        "q",
		`sum(rate(m1[1m])) by (job) > bool 0.5`:                                                                                                                                                            "m1",
		`model_info`:                                                                                                                                                                                       "model_info",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// grafanaExpr replaces the Grafana variables of a panel query with values,
// so that promtool can parse it; a variable it does not know fails.
func grafanaExpr(t *testing.T, expr string) string {
	t.Helper()
	e := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h").Replace(expr)
	if strings.Contains(e, "$") {
		t.Errorf("query %q uses a Grafana variable this test does not know", expr)
	}
	return e
}

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			RefID      string `json:"refId"`
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir, "grafana", "dashboards", "penguins.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("penguins.json: %v", err)
	}
	return d
}

// dashboardQueries are the dashboard's queries with Grafana's variables
// replaced.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var qs []string
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			qs = append(qs, grafanaExpr(t, tg.Expr))
		}
	}
	return qs
}

// composeMounts returns the bind mounts of a service of
// compose.monitoring.yaml, source by target.
func composeMounts(t *testing.T, service string) map[string]string {
	t.Helper()
	var c struct {
		Services map[string]struct{ Volumes []string }
	}
	b, err := os.ReadFile("compose.monitoring.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	byTarget := map[string]string{}
	for src, dst := range composeMountsOf(c.Services[service].Volumes) {
		byTarget[dst] = src
	}
	return byTarget
}

// composeMountsOf maps the sources of short-syntax volumes to their targets.
func composeMountsOf(volumes []string) map[string]string {
	m := map[string]string{}
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			m[parts[0]] = parts[1]
		}
	}
	return m
}

type promConfig struct {
	RuleFiles     []string `json:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		StaticConfigs []struct {
			Targets []string `json:"targets"`
		} `json:"static_configs"`
	} `json:"scrape_configs"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type ruleTests struct {
	Tests []struct {
		Name           string `json:"name"`
		AlertRuleTests []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// readYAML decodes the fields of T from a YAML file.
func readYAML[T any](t *testing.T, path string) T {
	t.Helper()
	var v T
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}
