package deploy

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/palmerops/penguins/pkg/modelapi"
)

// TestCompose is the compose end-to-end test (`make compose-test`, which sets
// COMPOSE_TEST=1). It needs a Docker engine and no registry: the Go build
// image is imported from this machine's toolchain, modules are vendored into
// a throw-away copy of the tree (deploy/offline-context.sh), and the images
// are built FROM scratch.
//
// It runs once under each Compose implementation, as subtests v1 (Debian's
// docker-compose 1.29) and v2 (the docker compose plugin, what Docker
// Desktop and GitHub's runners ship). COMPOSE names the ones to run ("v1
// v2", "v2"), each of which must be installed; without it, every one that
// is installed runs, and a missing v2 fails in CI (CI set) and is skipped
// elsewhere.
func TestCompose(t *testing.T) {
	if os.Getenv("COMPOSE_TEST") == "" {
		t.Skip("set COMPOSE_TEST=1 (make compose-test) to run the compose end-to-end test")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("SKIPPED: no Docker engine reachable")
	}
	impls := composeImplementations(t)
	dir, images := buildContext(t)
	// Names of this run's own: two runs on one engine (from two trees)
	// must not take each other's images or projects.
	prefix := fmt.Sprintf("penguins-e2e-%d", os.Getpid())
	t.Cleanup(func() {
		for _, svc := range []string{"model-service", "frontend-service", "model-data"} {
			_ = exec.Command("docker", "image", "rm", prefix+"/"+svc+":e2e").Run()
		}
	})
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			if impl.cmd == nil {
				t.Skip(impl.missing)
			}
			testCompose(t, newCompose(t, impl, prefix, dir, images))
		})
	}
}

func testCompose(t *testing.T, c *compose) {
	// Every environment's configuration is valid.
	for _, env := range []string{"dev", "staging", "prod"} {
		c.run(t, []string{"PENGUINS_ENV=" + env}, "config", "-q")
	}
	// The db profile too (no PostgreSQL image can be pulled on a machine
	// without a registry, so the database path itself is tested against
	// Debian's PostgreSQL by the model module's tests).
	c.run(t, []string{"DB_PASSWORD_FILE=" + c.dbPassword}, "-f", "compose.yaml", "-f", "deploy/compose.db.yaml", "--profile", "db", "config", "-q")
	// And the monitoring profile (Prometheus and Grafana images need a
	// registry too; deploy/monitoring is tested with Debian's prometheus by
	// monitoring_test.go).
	c.run(t, nil, "-f", "compose.yaml", "-f", "deploy/compose.monitoring.yaml", "--profile", "monitoring", "config", "-q")
	t.Log("compose config valid for dev, staging, prod, the db profile and the monitoring profile")

	c.buildImages(t)

	// 1. up, and time until both services are healthy.
	start := time.Now()
	c.run(t, nil, "up", "-d")
	c.waitHealthy(t, "model-service", 90*time.Second)
	c.waitHealthy(t, "frontend-service", 90*time.Second)
	c.printf("up to healthy in %.1fs", time.Since(start).Seconds())

	// 2. The model API and the frontend agree.
	api, err := modelapi.NewClient(modelapi.ClientOptions{BaseURL: c.modelURL})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := api.Predict(context.Background(), []modelapi.Record{{BillLengthMM: 45, Species: "Gentoo", Sex: "male"}}, modelapi.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	direct := strconv.FormatFloat(math.Round(resp.Predict[0]), 'f', 0, 64)
	status, mass, _ := c.frontendPredict(t)
	if status != http.StatusOK || mass != direct {
		t.Fatalf("frontend says %q (status %d), the model API %s", mass, status, direct)
	}
	c.printf("model API and frontend agree: %s g for a 45 mm male Gentoo", mass)

	// 3. Stop the model service: it drains and exits 0; the frontend stays
	// healthy and says the prediction service is unavailable; then start it
	// again and the frontend recovers without a restart.
	frontStarted := c.inspect(t, "frontend-service", "{{.State.StartedAt}}")
	c.run(t, nil, "stop", "model-service")
	if code := c.inspect(t, "model-service", "{{.State.ExitCode}}"); code != "0" {
		t.Errorf("model-service exited with %s after stop, want 0 (a graceful drain)", code)
	}
	if status, _, notice := c.frontendPredict(t); status != http.StatusServiceUnavailable || !strings.Contains(notice, "Prediction service unavailable") {
		t.Errorf("with the model service stopped: status %d, notice %q", status, notice)
	}
	if r, err := http.Get(c.frontURL + "/readyz"); err != nil || r.StatusCode != 200 {
		t.Errorf("frontend not ready while the model service is stopped: %v", err)
	} else {
		r.Body.Close()
	}
	c.run(t, nil, "start", "model-service")
	c.waitHealthy(t, "model-service", 60*time.Second)
	if status, mass, _ := c.frontendPredict(t); status != http.StatusOK || mass != direct {
		t.Errorf("after the model service returned: status %d, mass %q", status, mass)
	}
	if c.inspect(t, "frontend-service", "{{.State.StartedAt}}") != frontStarted {
		t.Error("the frontend was restarted")
	}
	if h := c.inspect(t, "frontend-service", "{{.State.Health.Status}}"); h != "healthy" {
		t.Errorf("frontend health %s", h)
	}
	c.printf("model service stopped (exit 0) and started; the frontend stayed up and recovered by itself")

	// 4. Restart the model service under a steady stream of predictions
	// through the frontend.
	var sent, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := client.Get(fmt.Sprintf("%s/predict?bill_length_mm=%.1f&species=Adelie&sex=female", c.frontURL, 35+float64((w*97+i)%200)/10))
				sent.Add(1)
				if err != nil || r.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				if r != nil {
					r.Body.Close()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}(w)
	}
	time.Sleep(time.Second)
	restart := time.Now()
	c.run(t, nil, "restart", "model-service")
	c.waitHealthy(t, "model-service", 60*time.Second)
	took := time.Since(restart)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	c.printf("restart of model-service (%.1fs) under load: %d predictions through the frontend, %d failed",
		took.Seconds(), sent.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d predictions failed across a model-service restart; the frontend's retries (about 2.5 s) should cover it", failed.Load(), sent.Load())
	}

	// 5. Train, promote and roll back in the model store volume under
	// load, with the README's commands.
	testPromotionUnderLoad(t, c)

	// prod, on a fresh volume, serves the released board's champion, and
	// requires API keys: made with model-service keys into a directory laid
	// out like deploy/keys, which PENGUINS_KEYS points at. The frontend
	// calls with its own.
	keys, reader := makeKeys(t)
	prod := []string{"PENGUINS_ENV=prod", "PENGUINS_KEYS=" + keys}
	c.run(t, nil, "down", "-v")
	c.run(t, prod, "up", "-d")
	c.waitHealthy(t, "model-service", 60*time.Second)
	c.waitHealthy(t, "frontend-service", 60*time.Second)
	if _, err := api.Metadata(context.Background()); !modelapi.AuthFailed(err) {
		t.Errorf("prod answers a call without a key: %v", err)
	}
	api, err = modelapi.NewClient(modelapi.ClientOptions{BaseURL: c.modelURL, APIKey: reader})
	if err != nil {
		t.Fatal(err)
	}
	md, err := api.Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := boardChampion(t); md.Version != want || md.Serving.Pinned {
		t.Errorf("prod serves %s (pinned %v), want the board's champion %s, followed", md.Version, md.Serving.Pinned, want)
	}
	if status, mass, notice := c.frontendPredict(t); status != http.StatusOK || mass == "" {
		t.Errorf("prod frontend, calling with its key: status %d, mass %q, notice %q", status, mass, notice)
	}
	c.printf("prod on a fresh store serves the board's champion %s to keys only; the frontend calls with its own", md.Version)
}

// makeKeys makes a keys directory for compose (PENGUINS_KEYS), laid out
// as deploy/keys for prod: the model service's keys file, with a key for
// the frontend (predict, read) and a read-only one it returns for the test,
// and the frontend's key file; all readable by the containers' user.
func makeKeys(t *testing.T) (dir, reader string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{dir, filepath.Join(dir, "prod"), filepath.Join(dir, "prod", "model")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "prod", "model", "api-keys")
	add := func(name, scope string) string {
		out, err := exec.Command(binary(t, "model-service"), "keys", "add", "-file", file, "-name", name, "-scope", scope).Output()
		if err != nil {
			t.Fatalf("keys add %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	if err := os.WriteFile(filepath.Join(dir, "prod", "frontend-model-api-key"), []byte(add("frontend", "predict,read")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, add("e2e-reader", "read")
}

// implementation is one Compose implementation: its subtest's name and its
// command, or why it is missing.
type implementation struct {
	name    string
	cmd     []string
	missing string
}

// composeImplementations finds v1 and v2 and picks the ones to run (see
// TestCompose). A docker-compose binary that is Compose v2 standalone does
// not count as v1.
func composeImplementations(t *testing.T) []implementation {
	found := map[string]implementation{
		"v1": {name: "v1", missing: "Compose v1 is not installed (Debian: apt-get install docker-compose)"},
		"v2": {name: "v2", missing: "Compose v2 is not installed (`docker compose version` fails; .ci/run installs it)"},
	}
	if out, err := exec.Command("docker-compose", "version").CombinedOutput(); err == nil && strings.HasPrefix(string(out), "docker-compose version 1.") {
		found["v1"] = implementation{name: "v1", cmd: []string{"docker-compose"}}
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		found["v2"] = implementation{name: "v2", cmd: []string{"docker", "compose"}}
	}
	var impls []implementation
	if want := strings.Fields(strings.ReplaceAll(os.Getenv("COMPOSE"), ",", " ")); len(want) > 0 {
		for _, name := range want {
			impl, ok := found[name]
			switch {
			case !ok:
				t.Fatalf("COMPOSE=%q: want v1, v2 or both", os.Getenv("COMPOSE"))
			case impl.cmd == nil:
				t.Fatalf("COMPOSE asks for %s: %s", name, impl.missing)
			}
			impls = append(impls, impl)
		}
		return impls
	}
	if found["v2"].cmd == nil && os.Getenv("CI") != "" {
		t.Fatal(found["v2"].missing)
	}
	if found["v1"].cmd == nil && found["v2"].cmd == nil {
		t.Fatal("neither Compose v1 (docker-compose) nor v2 (docker compose) is installed")
	}
	return []implementation{found["v1"], found["v2"]}
}

// buildContext returns the directory compose builds from and the build
// image settings. By default, the same preparation as `make compose-up`: a
// Go build image imported from this machine, a vendored copy of the tree,
// and images FROM scratch. With COMPOSE_IMAGES=defaults (CI runners that can
// pull), the tree itself with the Dockerfiles' default images.
func buildContext(t *testing.T) (dir string, images []string) {
	if os.Getenv("COMPOSE_IMAGES") == "defaults" {
		root, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		return root, nil
	}
	dir = t.TempDir()
	prep := exec.Command("./offline-context.sh", dir)
	var stderr bytes.Buffer
	prep.Stderr = &stderr
	out, err := prep.Output()
	if err != nil {
		t.Fatalf("offline-context.sh: %v\n%s", err, stderr.String())
	}
	return dir, []string{"BUILD_IMAGE=" + strings.TrimSpace(string(out)), "RUNTIME_IMAGE=scratch"}
}

// compose runs one Compose implementation on the build context, as its own
// project.
type compose struct {
	name       string // v1 or v2
	cmd        []string
	prefix     string // of the image names
	project    string
	dbPassword string // a password file for the db profile; never used to connect
	dir        string
	env        []string
	modelURL   string
	frontURL   string
}

func newCompose(t *testing.T, impl implementation, prefix, dir string, images []string) *compose {
	c := &compose{name: impl.name, cmd: impl.cmd, dir: dir, prefix: prefix, project: prefix + "-" + impl.name}
	out, _ := exec.Command(c.cmd[0], append(c.cmd[1:], "version")...).CombinedOutput()
	t.Logf("using %s: %s", strings.Join(c.cmd, " "), firstLine(out))

	c.dbPassword = filepath.Join(t.TempDir(), "db_password")
	if err := os.WriteFile(c.dbPassword, []byte("unused\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	modelPort, frontPort := freePort(t), freePort(t)
	c.modelURL, c.frontURL = "http://127.0.0.1:"+modelPort, "http://127.0.0.1:"+frontPort
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	c.env = append(append([]string{}, images...),
		"COMPOSE_PROJECT_NAME="+c.project,
		"VERSION=e2e", "COMMIT="+strings.TrimSpace(string(commit)), "IMAGE_PREFIX="+prefix,
		"MODEL_PORT="+modelPort, "FRONTEND_PORT="+frontPort, "BIND_ADDR=127.0.0.1",
	)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.output([]string{}, "logs", "--no-color", "--tail", "200")
			t.Logf("container logs:\n%s", out)
		}
		if out, err := c.output(nil, "down", "-v", "--remove-orphans"); err != nil {
			t.Logf("down -v: %v\n%s", err, out)
		}
	})
	return c
}

// printf prints a result line, named after the implementation.
func (c *compose) printf(format string, args ...any) {
	fmt.Printf("compose %s: %s\n", c.name, fmt.Sprintf(format, args...))
}

func (c *compose) output(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(c.cmd[0], append(c.cmd[1:], args...)...)
	cmd.Dir = c.dir
	cmd.Env = append(append(os.Environ(), c.env...), env...)
	return cmd.CombinedOutput()
}

func (c *compose) run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := c.output(env, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", strings.Join(c.cmd, " "), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildImages builds the three images and prints their sizes (target ≤ 20 MB).
func (c *compose) buildImages(t *testing.T) {
	start := time.Now()
	c.run(t, nil, "build")
	// model-data, the db profile's job image, too.
	c.run(t, []string{"DB_PASSWORD_FILE=" + c.dbPassword}, "-f", "compose.yaml", "-f", "deploy/compose.db.yaml", "--profile", "db", "build", "seed")
	c.printf("images built in %.0fs", time.Since(start).Seconds())
	for _, svc := range []string{"model-service", "frontend-service", "model-data"} {
		image := c.prefix + "/" + svc + ":e2e"
		out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", image).Output()
		if err != nil {
			t.Fatalf("inspecting %s: %v", image, err)
		}
		size, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		mb := float64(size) / 1e6
		c.printf("image %s: %.1f MB (target ≤ 20 MB)", image, mb)
		if mb > 20 {
			t.Errorf("image %s is %.1f MB, over 20 MB", image, mb)
		}
		user, _ := exec.Command("docker", "image", "inspect", "--format", "{{.Config.User}}", image).Output()
		if strings.TrimSpace(string(user)) != "65532:65532" {
			t.Errorf("image %s runs as %q, want the numeric non-root 65532:65532", image, user)
		}
	}
}

// container returns the id of svc's container, running or not: v2's ps
// lists only running containers unless -a, which v1 accepts too.
func (c *compose) container(t *testing.T, svc string) string {
	t.Helper()
	ids := strings.Fields(c.run(t, nil, "ps", "-a", "-q", svc))
	if len(ids) != 1 {
		t.Fatalf("%d containers for %s, want one: %v", len(ids), svc, ids)
	}
	return ids[0]
}

func (c *compose) inspect(t *testing.T, svc, format string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", format, c.container(t, svc)).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", svc, err)
	}
	return strings.TrimSpace(string(out))
}

// waitHealthy polls svc's health until it is healthy or within has passed.
// A container that is momentarily missing or not running (being created,
// restarted, between stop and start) is polled again, not a failure; the
// last state seen is reported at the deadline.
func (c *compose) waitHealthy(t *testing.T, svc string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := "not yet inspected"
	for time.Now().Before(deadline) {
		out, err := c.output(nil, "ps", "-a", "-q", svc)
		ids := strings.Fields(string(out))
		switch {
		case err != nil:
			last = fmt.Sprintf("ps: %v: %s", err, out)
		case len(ids) != 1:
			last = fmt.Sprintf("%d containers", len(ids))
		default:
			state, err := exec.Command("docker", "inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", ids[0]).Output()
			last = strings.TrimSpace(string(state))
			if err != nil {
				last = fmt.Sprintf("inspect: %v", err)
			} else if strings.HasSuffix(last, " healthy") {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not healthy within %s (last seen: %s)", svc, within, last)
}

// frontendPredict asks the frontend's Predict page for a 45 mm male Gentoo
// and returns the status, the mass shown and any notice.
func (c *compose) frontendPredict(t *testing.T) (int, string, string) {
	t.Helper()
	resp, err := http.Get(c.frontURL + "/predict?bill_length_mm=45&species=Gentoo&sex=male")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, doc.Find("[data-testid=mass]").Text(), doc.Find("[data-testid=notice]").Text()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
