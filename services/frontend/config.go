package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/palmerops/penguins/pkg/service"
)

// Config is the frontend's configuration, read once from FRONTEND_*
// environment variables.
type Config struct {
	Addr     string        `envconfig:"FRONTEND_ADDR" default:":8000"`
	Env      string        `envconfig:"FRONTEND_ENV" default:"dev"`
	LogLevel zapcore.Level `envconfig:"FRONTEND_LOG_LEVEL" default:"info"`

	// ModelURL is the model API's base URL.
	ModelURL string `envconfig:"FRONTEND_MODEL_URL" default:"http://localhost:8080"`
	// ModelAPIKeyFile is a file holding the frontend's key to the model
	// API (sent as a bearer token); empty sends none, for a model service
	// with auth off. The key needs the predict and read scopes.
	ModelAPIKeyFile string `envconfig:"FRONTEND_MODEL_API_KEY_FILE"`
	// ModelTimeout bounds one attempt of a call to the model API;
	// ModelRetries is how many more attempts a failed call gets.
	ModelTimeout time.Duration `envconfig:"FRONTEND_MODEL_TIMEOUT" default:"2s"`
	ModelRetries int           `envconfig:"FRONTEND_MODEL_RETRIES" default:"2"`
	// ModelBudget bounds all the model API calls of one page, retries
	// included.
	ModelBudget time.Duration `envconfig:"FRONTEND_MODEL_BUDGET" default:"5s"`
	// AlertRulesURL is where the Monitoring page links for the alert
	// rules: the rules file in the deployment's repository, or its
	// Prometheus's /alerts page. Empty: the page names the file only.
	AlertRulesURL string `envconfig:"FRONTEND_ALERT_RULES_URL"`

	// TrustedProxies are the proxies (CIDR ranges) whose X-Forwarded-For
	// and X-Real-IP name the client in the access log; from anyone else
	// the connection's peer is logged.
	TrustedProxies service.IPRanges `envconfig:"FRONTEND_TRUSTED_PROXIES"`

	ReadHeaderTimeout time.Duration `envconfig:"FRONTEND_READ_HEADER_TIMEOUT" default:"5s"`
	ReadTimeout       time.Duration `envconfig:"FRONTEND_READ_TIMEOUT" default:"15s"`
	WriteTimeout      time.Duration `envconfig:"FRONTEND_WRITE_TIMEOUT" default:"30s"`
	IdleTimeout       time.Duration `envconfig:"FRONTEND_IDLE_TIMEOUT" default:"120s"`
	// ShutdownTimeout bounds the drain on SIGTERM; keep it below the
	// orchestrator's grace period.
	ShutdownTimeout time.Duration `envconfig:"FRONTEND_SHUTDOWN_TIMEOUT" default:"10s"`
	// DrainDelay is how long the service goes on serving after SIGTERM,
	// already not ready, before it stops accepting: the time a load
	// balancer or Kubernetes takes to stop sending it requests. 0 stops
	// accepting at once (compose, local runs). Delay plus ShutdownTimeout
	// must stay below the grace period.
	DrainDelay time.Duration `envconfig:"FRONTEND_DRAIN_DELAY" default:"0s"`
}

const envPrefix = "FRONTEND"

// maxDrainDelay bounds FRONTEND_DRAIN_DELAY: endpoints update within seconds,
// and a longer pause only holds up every rollout.
const maxDrainDelay = time.Minute

// minAPIKeyLength is the model service's shortest key.
const minAPIKeyLength = 32

// readAPIKey reads the key from path: one line, surrounding whitespace
// ignored, at least minAPIKeyLength printable ASCII characters. Errors
// never quote the key.
func readAPIKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(b))
	switch {
	case key == "":
		return "", fmt.Errorf("%s is empty; want the key printed by model-service keys add", path)
	case strings.ContainsAny(key, "\n\r"):
		return "", fmt.Errorf("%s has more than one line; want one key", path)
	case len(key) < minAPIKeyLength:
		return "", fmt.Errorf("the key in %s is %d characters, shorter than the minimum %d", path, len(key), minAPIKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return "", fmt.Errorf("the key in %s has a character outside printable ASCII at byte %d", path, i)
		}
	}
	return key, nil
}

func loadConfig() (Config, error) {
	var c Config
	if err := service.LoadConfig(envPrefix, &c); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s_%s: %s", envPrefix, name, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.ModelURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("MODEL_URL", "want an http(s) URL such as http://localhost:8080, got %q", service.RedactURL(c.ModelURL))
	}
	if u, err := url.Parse(c.AlertRulesURL); c.AlertRulesURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		bad("ALERT_RULES_URL", "want empty or an http(s) URL such as https://github.com/OWNER/REPO/blob/main/deploy/monitoring/alerts.yml, got %q", service.RedactURL(c.AlertRulesURL))
	}
	if c.ModelAPIKeyFile != "" {
		if _, err := readAPIKey(c.ModelAPIKeyFile); err != nil {
			bad("MODEL_API_KEY_FILE", "%v", err)
		}
	}
	if c.ModelRetries < 0 || c.ModelRetries > 10 {
		bad("MODEL_RETRIES", "want 0 to 10, got %d", c.ModelRetries)
	}
	// Upper bounds: a typo such as 30000s or 9999h must not leave a
	// request, a page or a drain waiting for hours.
	for _, l := range []struct {
		name   string
		d, max time.Duration
	}{
		{"MODEL_TIMEOUT", c.ModelTimeout, time.Minute}, {"MODEL_BUDGET", c.ModelBudget, 2 * time.Minute},
		{"READ_HEADER_TIMEOUT", c.ReadHeaderTimeout, time.Minute}, {"READ_TIMEOUT", c.ReadTimeout, 10 * time.Minute},
		{"WRITE_TIMEOUT", c.WriteTimeout, 10 * time.Minute}, {"IDLE_TIMEOUT", c.IdleTimeout, time.Hour},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 10 * time.Minute},
	} {
		if l.d > l.max {
			bad(l.name, "want at most %s, got %s", l.max, l.d)
		}
	}
	if c.DrainDelay < 0 || c.DrainDelay > maxDrainDelay {
		bad("DRAIN_DELAY", "want 0 (off) to %s, such as 5s, got %s", maxDrainDelay, c.DrainDelay)
	}
	errs = append(errs, service.CheckServer(envPrefix, c.Addr, c.Env, map[string]time.Duration{
		"FRONTEND_MODEL_TIMEOUT": c.ModelTimeout, "FRONTEND_MODEL_BUDGET": c.ModelBudget, "FRONTEND_READ_HEADER_TIMEOUT": c.ReadHeaderTimeout, "FRONTEND_READ_TIMEOUT": c.ReadTimeout,
		"FRONTEND_WRITE_TIMEOUT": c.WriteTimeout, "FRONTEND_IDLE_TIMEOUT": c.IdleTimeout, "FRONTEND_SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
	})...)
	return errors.Join(errs...)
}
