package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func buildFrontend(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "frontend-service")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBadConfigFailsNamingTheVariable(t *testing.T) {
	bin := buildFrontend(t)
	for env, want := range map[string]string{
		"FRONTEND_MODEL_URL=ftp://model":      "FRONTEND_MODEL_URL",
		"FRONTEND_MODEL_TIMEOUT=fast":         "FRONTEND_MODEL_TIMEOUT",
		"FRONTEND_MODEL_RETRIES=-1":           "FRONTEND_MODEL_RETRIES",
		"FRONTEND_ALERT_RULES_URL=alerts.yml": "FRONTEND_ALERT_RULES_URL",
		"FRONTEND_ENV=test":                   "FRONTEND_ENV",
		"FRONTEND_ADDR=nonsense":              "FRONTEND_ADDR",
		"FRONTEND_MODELURL=http://x:8080":     "unknown variable FRONTEND_MODELURL",
	} {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "FRONTEND_ADDR=127.0.0.1:0", env)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: %v, stderr %q; want exit 1 naming %s", env, err, stderr.String(), want)
		}
	}
}

// TestServesWithoutTheModelServiceAndDrains starts the frontend with no
// model service anywhere: it is ready (its readiness does not depend on the
// model API), and SIGTERM drains it to exit 0.
func TestServesWithoutTheModelServiceAndDrains(t *testing.T) {
	bin := buildFrontend(t)
	addr := freePort(t)
	p := startProc(t, bin, "FRONTEND_ADDR="+addr, "FRONTEND_MODEL_URL=http://"+freePort(t))
	waitReady(t, "http://"+addr+"/readyz")
	hc := exec.Command(bin, "healthcheck")
	hc.Env = append(os.Environ(), "FRONTEND_ADDR="+addr)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("healthcheck: %v %s", err, out)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}
