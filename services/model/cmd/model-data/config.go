package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/palmerops/penguins/services/model/internal/pgdata"
)

// envPrefix is model-data's own: it names the penguins database, not a
// service. It cannot be MODEL, whose unknown variables the model service
// rejects, so that one shell can export the database settings and run both
// programs (the README's PostgreSQL section); nor can it sit under MODEL_
// (MODEL_DATA_PATH is the model service's) or libpq's PG.
const envPrefix = "PENGUINS_DB"

// Config is model-data's configuration, from PENGUINS_DB_* variables. The
// URL is masked in logs like the password: it may carry one.
type Config struct {
	URL          string `envconfig:"PENGUINS_DB_URL" secret:"true"`
	Password     string `envconfig:"PENGUINS_DB_PASSWORD" secret:"true"`
	PasswordFile string `envconfig:"PENGUINS_DB_PASSWORD_FILE"`
}

// database returns the database settings, reading the password from its
// file when one is configured.
func (c Config) database() (pgdata.Config, error) {
	cfg := pgdata.Config{URL: c.URL, Password: c.Password}
	switch {
	case c.URL == "" && os.Getenv("MODEL_DATABASE_URL") != "":
		return cfg, errors.New("config: PENGUINS_DB_URL is required; MODEL_DATABASE_URL is its old name, which the model service rejects")
	case c.URL == "":
		return cfg, errors.New("config: PENGUINS_DB_URL is required (a PostgreSQL connection string)")
	case c.Password != "" && c.PasswordFile != "":
		return cfg, errors.New("config: PENGUINS_DB_PASSWORD and PENGUINS_DB_PASSWORD_FILE are both set; set one of them")
	case c.PasswordFile != "":
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return cfg, fmt.Errorf("config: PENGUINS_DB_PASSWORD_FILE: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	return cfg, nil
}
