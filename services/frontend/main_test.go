package main

import (
	"bytes"
	"io"
	"net/http"
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

// keyFile writes content to a key file and returns its path.
func keyFile(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "key")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}

func TestBadConfigFailsNamingTheVariable(t *testing.T) {
	bin := buildFrontend(t)
	for env, want := range map[string]string{
		"FRONTEND_MODEL_URL=ftp://model":                       "FRONTEND_MODEL_URL",
		"FRONTEND_MODEL_TIMEOUT=fast":                          "FRONTEND_MODEL_TIMEOUT",
		"FRONTEND_MODEL_RETRIES=-1":                            "FRONTEND_MODEL_RETRIES",
		"FRONTEND_ALERT_RULES_URL=alerts.yml":                  "FRONTEND_ALERT_RULES_URL",
		"FRONTEND_ENV=test":                                    "FRONTEND_ENV",
		"FRONTEND_ADDR=nonsense":                               "FRONTEND_ADDR",
		"FRONTEND_MODELURL=http://x:8080":                      "unknown variable FRONTEND_MODELURL",
		"FRONTEND_TRUSTED_PROXIES=10.0.0.0/33":                 "FRONTEND_TRUSTED_PROXIES",
		"FRONTEND_TRUSTED_PROXIES=lb.internal":                 "FRONTEND_TRUSTED_PROXIES",
		"FRONTEND_MODEL_TIMEOUT=2h":                            "FRONTEND_MODEL_TIMEOUT: want at most 1m0s",
		"FRONTEND_MODEL_BUDGET=9999h":                          "FRONTEND_MODEL_BUDGET: want at most 2m0s",
		"FRONTEND_READ_TIMEOUT=30000s":                         "FRONTEND_READ_TIMEOUT: want at most 10m0s",
		"FRONTEND_WRITE_TIMEOUT=1000h":                         "FRONTEND_WRITE_TIMEOUT: want at most 10m0s",
		"FRONTEND_IDLE_TIMEOUT=48h":                            "FRONTEND_IDLE_TIMEOUT: want at most 1h0m0s",
		"FRONTEND_SHUTDOWN_TIMEOUT=1h":                         "FRONTEND_SHUTDOWN_TIMEOUT: want at most 10m0s",
		"FRONTEND_READ_HEADER_TIMEOUT=5m":                      "FRONTEND_READ_HEADER_TIMEOUT: want at most 1m0s",
		"FRONTEND_DRAIN_DELAY=-1s":                             "FRONTEND_DRAIN_DELAY: want 0 (off) to 1m0s",
		"FRONTEND_DRAIN_DELAY=2m":                              "FRONTEND_DRAIN_DELAY: want 0 (off) to 1m0s",
		"FRONTEND_MODEL_API_KEY_FILE=/nonexistent/key":         "FRONTEND_MODEL_API_KEY_FILE: open /nonexistent/key",
		"FRONTEND_MODEL_API_KEY_FILE=" + keyFile(t, "short\n"): "shorter than the minimum 32",
		"FRONTEND_MODEL_API_KEY_FILE=" + keyFile(t, "\n"):      "is empty",
		"FRONTEND_MODEL_API_KEY_FILE=" + keyFile(t, strings.Repeat("k", 40)+"\n"+strings.Repeat("j", 40)): "more than one line",
		"FRONTEND_MODEL_API_KEY_FILE=" + keyFile(t, strings.Repeat("k", 40)+"\x01"):                       "outside printable ASCII",
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

// TestModelURLCredentialsStayOutOfTheLogs: a model URL with a user and
// password is refused or logged with both redacted, never as given.
func TestModelURLCredentialsStayOutOfTheLogs(t *testing.T) {
	bin := buildFrontend(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "FRONTEND_ADDR=127.0.0.1:0", "FRONTEND_MODEL_URL=ftp://penguin:hunter2@model:8080")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FRONTEND_MODEL_URL") || strings.Contains(string(out), "hunter2") || strings.Contains(string(out), "penguin:") {
		t.Errorf("bad URL with credentials: %v, output %q", err, out)
	}

	addr := freePort(t)
	logf := filepath.Join(t.TempDir(), "frontend.log")
	p := startProcLog(t, bin, logf, "FRONTEND_ADDR="+addr, "FRONTEND_MODEL_URL=http://penguin:hunter2@"+freePort(t))
	waitReady(t, "http://"+addr+"/readyz")
	for _, path := range []string{"/", "/status"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "hunter2") || strings.Contains(string(body), "penguin:") || !strings.Contains(string(body), "http://redacted@127.0.0.1:") {
			t.Errorf("%s shows the model URL's credentials, or no redacted URL", path)
		}
	}
	p.stop(t)
	log, _ := os.ReadFile(logf)
	if !strings.Contains(string(log), `"FRONTEND_MODEL_URL":"http://redacted@127.0.0.1:`) || strings.Contains(string(log), "hunter2") || strings.Contains(string(log), "penguin:") {
		t.Errorf("the log shows the credentials, or no redacted URL:\n%s", log)
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
