package main

import (
	"os"
	"strings"
	"testing"

	"github.com/palmerops/penguins/pkg/service"
)

// TestConfigPrefix checks that model-data and the model service can share a
// shell: model-data ignores MODEL_ variables, rejects PENGUINS_DB_ ones it
// does not know, and points the old MODEL_DATABASE_URL at its new name.
func TestConfigPrefix(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MODEL_") || strings.HasPrefix(name, envPrefix+"_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	load := func(t *testing.T, env ...string) (Config, error) {
		for _, kv := range env {
			name, value, _ := strings.Cut(kv, "=")
			t.Setenv(name, value)
		}
		var cfg Config
		if err := service.LoadConfig(envPrefix, &cfg); err != nil {
			return cfg, err
		}
		_, err := cfg.database()
		return cfg, err
	}
	t.Run("beside the model service's variables", func(t *testing.T) {
		cfg, err := load(t, "PENGUINS_DB_URL=postgres://db/penguins", "MODEL_STORE=./models", "MODEL_ADDR=127.0.0.1:8080")
		if err != nil || cfg.URL != "postgres://db/penguins" {
			t.Errorf("got %+v, %v", cfg, err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := load(t, "PENGUINS_DB_URL=postgres://db/penguins", "PENGUINS_DB_SSLMODE=disable")
		if err == nil || !strings.Contains(err.Error(), "unknown variable PENGUINS_DB_SSLMODE") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("old name", func(t *testing.T) {
		_, err := load(t, "MODEL_DATABASE_URL=postgres://db/penguins")
		if err == nil || !strings.Contains(err.Error(), "PENGUINS_DB_URL is required; MODEL_DATABASE_URL is its old name") {
			t.Errorf("got %v", err)
		}
	})
}
