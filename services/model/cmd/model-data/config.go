package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/palmerops/penguins/services/model/internal/pgdata"
)

const envPrefix = "MODEL"

// Config is model-data's configuration, from MODEL_* variables. The URL is
// masked in logs like the password: it may carry one.
type Config struct {
	DatabaseURL          string `envconfig:"MODEL_DATABASE_URL" secret:"true"`
	DatabasePassword     string `envconfig:"MODEL_DATABASE_PASSWORD" secret:"true"`
	DatabasePasswordFile string `envconfig:"MODEL_DATABASE_PASSWORD_FILE"`
	Store                string `envconfig:"MODEL_STORE"`
}

// database returns the database settings, reading the password from its
// file when one is configured.
func (c Config) database() (pgdata.Config, error) {
	cfg := pgdata.Config{URL: c.DatabaseURL, Password: c.DatabasePassword}
	switch {
	case c.DatabaseURL == "":
		return cfg, errors.New("config: MODEL_DATABASE_URL is required (a PostgreSQL connection string)")
	case c.DatabasePassword != "" && c.DatabasePasswordFile != "":
		return cfg, errors.New("config: MODEL_DATABASE_PASSWORD and MODEL_DATABASE_PASSWORD_FILE are both set; set one of them")
	case c.DatabasePasswordFile != "":
		b, err := os.ReadFile(c.DatabasePasswordFile)
		if err != nil {
			return cfg, fmt.Errorf("config: %s_DATABASE_PASSWORD_FILE: %w", envPrefix, err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	return cfg, nil
}
