package deploy

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
)

// envFile reads KEY=VALUE lines, skipping comments.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: malformed line %q", path, line)
		}
		out[k] = v
	}
	return out
}

// TestEnvironments checks what each environment must hold: prod pins a
// released model version that is on the board and verifies; every
// environment names itself and keeps the drain deadline below compose's
// 20 s stop_grace_period.
func TestEnvironments(t *testing.T) {
	for _, env := range []string{"dev", "staging", "prod"} {
		model := envFile(t, filepath.Join("env", env, "model.env"))
		front := envFile(t, filepath.Join("env", env, "frontend.env"))
		if model["MODEL_ENV"] != env || front["FRONTEND_ENV"] != env {
			t.Errorf("%s: MODEL_ENV=%q FRONTEND_ENV=%q", env, model["MODEL_ENV"], front["FRONTEND_ENV"])
		}
		for _, d := range []string{model["MODEL_SHUTDOWN_TIMEOUT"], front["FRONTEND_SHUTDOWN_TIMEOUT"]} {
			if d != "10s" {
				t.Errorf("%s: drain deadline %q, want 10s (below the 20s stop_grace_period)", env, d)
			}
		}
	}
	prod := envFile(t, filepath.Join("env", "prod", "model.env"))
	if prod["MODEL_STORE"] != "/board" || prod["MODEL_VERSION"] == "" {
		t.Fatalf("prod must pin a version from the board: %v", prod)
	}
	a, m, err := massmodel.Store{Dir: "models"}.Load(massmodel.Name, prod["MODEL_VERSION"])
	if err != nil {
		t.Fatalf("prod's pinned model does not load and verify: %v", err)
	}
	// Released before artifacts stored their training rows, it gets its
	// diagnostics from the data compiled into the service, which is the
	// data it was trained on.
	if d, err := massmodel.Diagnose(context.Background(), a, m, penguins.Embedded{}); err != nil || len(d.Rows) != 333 {
		t.Errorf("prod's pinned model has no diagnostics: %v", err)
	}
	if a.Data.TrainingRows != 333 {
		t.Errorf("pinned model trained on %d rows", a.Data.TrainingRows)
	}
	if prod["MODEL_LOG_LEVEL"] == envFile(t, filepath.Join("env", "dev", "model.env"))["MODEL_LOG_LEVEL"] {
		t.Error("prod logs at dev's level")
	}
}
