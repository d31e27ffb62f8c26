package deploy

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The monitoring tests run the real services, built once per test binary.

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary returns the path of a command of the repository (model-service,
// frontend-service or model-traffic), building all three on first use.
func binary(t *testing.T, name string) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "penguins-deploy-bin"); binErr != nil {
			return
		}
		for out, pkg := range map[string]string{
			"model-service":    "./services/model",
			"frontend-service": "./services/frontend",
			"model-traffic":    "./services/model/cmd/model-traffic",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, out), pkg)
			cmd.Dir = ".." // the workspace root
			if b, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, name)
}

// cleanEnv is the test's environment less its MODEL_ and FRONTEND_
// variables, which the services would read.
func cleanEnv() []string {
	var clean []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MODEL_") && !strings.HasPrefix(kv, "FRONTEND_") {
			clean = append(clean, kv)
		}
	}
	return clean
}

// proc is a running service (or Prometheus) whose output goes to a file,
// printed when the test fails.
type proc struct {
	name string
	addr string
	cmd  *exec.Cmd
	done chan error
}

// startProc starts bin with args and env added to the test's environment
// less its MODEL_ and FRONTEND_ variables.
func startProc(t *testing.T, name, addr, bin string, args, env []string) *proc {
	t.Helper()
	p := &proc{name: name, addr: addr, cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.cmd.Env = append(cleanEnv(), env...)
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
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
		<-p.done
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("%s log (end):\n%s", name, b)
		}
	})
	return p
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// waitOK waits until GET path answers 200, failing if the process exits.
func (p *proc) waitOK(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.url(path)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited before %s answered: %v", p.name, path, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s: %s not 200 within 20s", p.name, path)
}

// stop sends SIGTERM and waits for the process to exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not stop within 15s of SIGTERM", p.name)
	}
}

// services are the model API and the frontend, started on free 127.0.0.1
// ports.
type services struct {
	model, front *proc
}

// startServices starts both services, the model API with a drift window of
// window records (its minimum too) and modelEnv, both logging at warn.
func startServices(t *testing.T, window int, modelEnv ...string) *services {
	t.Helper()
	modelAddr := "127.0.0.1:" + freePort(t)
	model := startProc(t, "model-service", modelAddr, binary(t, "model-service"), nil, append([]string{
		"MODEL_ADDR=" + modelAddr, "MODEL_LOG_LEVEL=warn",
		fmt.Sprintf("MODEL_DRIFT_WINDOW=%d", window), fmt.Sprintf("MODEL_DRIFT_MIN=%d", window),
	}, modelEnv...))
	model.waitOK(t, "/readyz")
	frontAddr := "127.0.0.1:" + freePort(t)
	front := startProc(t, "frontend-service", frontAddr, binary(t, "frontend-service"), nil, []string{
		"FRONTEND_ADDR=" + frontAddr, "FRONTEND_MODEL_URL=" + model.url(""), "FRONTEND_LOG_LEVEL=warn",
		"FRONTEND_MODEL_TIMEOUT=500ms", "FRONTEND_MODEL_RETRIES=0",
	})
	front.waitOK(t, "/readyz")
	return &services{model: model, front: front}
}

// evaluatedStore trains a model store with the real model-service and pins
// the version's metrics by year on the penguins data, as the README does,
// so that the service serving it exports the performance gauges.
func evaluatedStore(t *testing.T) string {
	t.Helper()
	store := t.TempDir()
	for _, args := range [][]string{
		{"train", "-store", store},
		{"evaluate", "-store", store, "-data", filepath.Join("..", "pkg", "penguins", "penguins.csv"), "-date-column", "year", "-period", "year"},
	} {
		cmd := exec.Command(binary(t, "model-service"), args...)
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("model-service %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return store
}

// traffic runs the traffic generator against the model API and returns its
// summary.
func (s *services) traffic(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t, "model-traffic"), append([]string{"-url", s.model.url("")}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("model-traffic %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
