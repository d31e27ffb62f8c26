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

// TestEnvironments checks what each environment must hold: every one
// serves the champion of the model store at /store (the volume seeded from
// the released board) and pins no version; the board's champion loads and
// verifies; every environment names itself and keeps the drain deadline
// below compose's 20 s stop_grace_period.
func TestEnvironments(t *testing.T) {
	for _, env := range []string{"dev", "staging", "prod"} {
		model := envFile(t, filepath.Join("env", env, "model.env"))
		front := envFile(t, filepath.Join("env", env, "frontend.env"))
		if model["MODEL_ENV"] != env || front["FRONTEND_ENV"] != env {
			t.Errorf("%s: MODEL_ENV=%q FRONTEND_ENV=%q", env, model["MODEL_ENV"], front["FRONTEND_ENV"])
		}
		if model["MODEL_STORE"] != storePath || model["MODEL_ALIAS"] != massmodel.Champion || model["MODEL_VERSION"] != "" {
			t.Errorf("%s: MODEL_STORE=%q MODEL_ALIAS=%q MODEL_VERSION=%q, want the champion of %s, followed",
				env, model["MODEL_STORE"], model["MODEL_ALIAS"], model["MODEL_VERSION"], storePath)
		}
		for _, d := range []string{model["MODEL_SHUTDOWN_TIMEOUT"], front["FRONTEND_SHUTDOWN_TIMEOUT"]} {
			if d != "10s" {
				t.Errorf("%s: drain deadline %q, want 10s (below the 20s stop_grace_period)", env, d)
			}
		}
	}
	board := massmodel.Store{Dir: "models"}
	champion := boardChampion(t)
	a, m, err := board.Load(massmodel.Name, champion)
	if err != nil {
		t.Fatalf("the board's champion does not load and verify: %v", err)
	}
	// Released before artifacts stored their training rows, it gets its
	// diagnostics from the data compiled into the service, which is the
	// data it was trained on.
	if d, err := massmodel.Diagnose(context.Background(), a, m, penguins.Embedded{}); err != nil || len(d.Rows) != 333 {
		t.Errorf("the board's champion has no diagnostics: %v", err)
	}
	if a.Data.TrainingRows != 333 {
		t.Errorf("the board's champion trained on %d rows", a.Data.TrainingRows)
	}
	// Every version on the board verifies: seed-store refuses a board
	// with one that does not.
	vs, err := board.Versions(massmodel.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if _, _, err := board.Load(massmodel.Name, v); err != nil {
			t.Errorf("board version %s: %v", v, err)
		}
	}
	prod := envFile(t, filepath.Join("env", "prod", "model.env"))
	if prod["MODEL_LOG_LEVEL"] == envFile(t, filepath.Join("env", "dev", "model.env"))["MODEL_LOG_LEVEL"] {
		t.Error("prod logs at dev's level")
	}
}

// storePath is where the model store is mounted, in compose and Kubernetes.
const storePath = "/store"
