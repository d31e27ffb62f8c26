package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/auth"
	"github.com/palmerops/penguins/services/model/internal/drift"
)

// Config is the model service's configuration, read once from MODEL_*
// environment variables.
type Config struct {
	Addr     string        `envconfig:"MODEL_ADDR" default:":8080"`
	Env      string        `envconfig:"MODEL_ENV" default:"dev"`
	LogLevel zapcore.Level `envconfig:"MODEL_LOG_LEVEL" default:"info"`

	// Store is the model store directory; empty means train from DataPath
	// (or the embedded data) at start-up.
	Store string `envconfig:"MODEL_STORE"`
	// Version pins the served version; empty means the newest in Store,
	// or Alias's target, followed as it changes (hot reload).
	Version string `envconfig:"MODEL_VERSION"`
	// Alias serves the version an alias in Store points to (champion,
	// challenger, ...), and follows it when the alias moves.
	Alias string `envconfig:"MODEL_ALIAS"`
	// ReloadInterval is how often an unpinned service checks its store's
	// target, besides file events (for volumes where events do not
	// arrive); 0 turns polling off, leaving file events.
	ReloadInterval time.Duration `envconfig:"MODEL_RELOAD_INTERVAL" default:"10s"`
	// ShadowAlias names an alias in Store whose target also scores a
	// sample of the live records, off the response path, to compare with
	// the served model (shadow scoring); empty means off.
	ShadowAlias string `envconfig:"MODEL_SHADOW_ALIAS"`
	// ShadowSample is the share of live records the shadow scores, 0 to 1.
	ShadowSample float64 `envconfig:"MODEL_SHADOW_SAMPLE" default:"0.1"`
	// DataPath is a CSV file to train from at start-up when Store is empty.
	DataPath string `envconfig:"MODEL_DATA_PATH"`

	// Drift tracking: the last DriftWindow scored records against the
	// model's reference profile, with a status once DriftMin are in.
	DriftEnabled bool `envconfig:"MODEL_DRIFT_ENABLED" default:"true"`
	DriftWindow  int  `envconfig:"MODEL_DRIFT_WINDOW" default:"1000"`
	DriftMin     int  `envconfig:"MODEL_DRIFT_MIN" default:"100"`

	// PredictionLog is a directory to write every scored record to, as
	// JSON Lines (services/model/internal/predlog); empty means off.
	PredictionLog         string           `envconfig:"MODEL_PREDICTION_LOG"`
	PredictionLogMaxBytes service.ByteSize `envconfig:"MODEL_PREDICTION_LOG_MAX_BYTES" default:"64MiB"`

	// TrustedProxies are the proxies (CIDR ranges) whose X-Forwarded-For
	// and X-Real-IP name the client in the access log; from anyone else
	// the connection's peer is logged.
	TrustedProxies service.IPRanges `envconfig:"MODEL_TRUSTED_PROXIES"`
	// APIKeysFile is the keys file (internal/auth): set, the routes that
	// need a scope ask for an API key. Required in staging and prod; in
	// dev, empty means every route is open.
	APIKeysFile string `envconfig:"MODEL_API_KEYS_FILE"`
	// RateLimit is each key's sustained requests per second (0: no
	// limit), RateBurst how many it may send at once.
	RateLimit float64 `envconfig:"MODEL_RATE_LIMIT" default:"100"`
	RateBurst int     `envconfig:"MODEL_RATE_BURST" default:"200"`
	// CORSOrigins are the browser origins (scheme://host[:port]) allowed
	// to call the API; empty means no CORS headers.
	CORSOrigins []string `envconfig:"MODEL_CORS_ORIGINS"`
	// MetricsAddr, when set, serves /metrics on a listener of its own for
	// scrapers; /metrics on MODEL_ADDR then needs the read scope.
	MetricsAddr string `envconfig:"MODEL_METRICS_ADDR"`

	MaxBodyBytes service.ByteSize `envconfig:"MODEL_MAX_BODY_BYTES" default:"8MiB"`
	MaxRows      int              `envconfig:"MODEL_MAX_ROWS" default:"100000"`

	ReadHeaderTimeout time.Duration `envconfig:"MODEL_READ_HEADER_TIMEOUT" default:"5s"`
	ReadTimeout       time.Duration `envconfig:"MODEL_READ_TIMEOUT" default:"30s"`
	WriteTimeout      time.Duration `envconfig:"MODEL_WRITE_TIMEOUT" default:"30s"`
	IdleTimeout       time.Duration `envconfig:"MODEL_IDLE_TIMEOUT" default:"120s"`
	// ShutdownTimeout bounds the drain on SIGTERM; keep it below the
	// orchestrator's grace period (compose stop_grace_period, k8s
	// terminationGracePeriodSeconds).
	ShutdownTimeout time.Duration `envconfig:"MODEL_SHUTDOWN_TIMEOUT" default:"10s"`
	// DrainDelay is how long the service goes on serving after SIGTERM,
	// already not ready, before it stops accepting: the time a load
	// balancer or Kubernetes takes to stop sending it requests. 0 stops
	// accepting at once (compose, local runs). Delay plus ShutdownTimeout
	// must stay below the grace period.
	DrainDelay time.Duration `envconfig:"MODEL_DRAIN_DELAY" default:"0s"`
}

const envPrefix = "MODEL"

// maxDrainDelay bounds MODEL_DRAIN_DELAY: endpoints update within seconds,
// and a longer pause only holds up every rollout.
const maxDrainDelay = time.Minute

// aliasPattern is the model store's rule for alias names.
var aliasPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// maxRateLimit bounds MODEL_RATE_LIMIT and MODEL_RATE_BURST: beyond it a
// limit is a typo, not a limit.
const maxRateLimit = 1_000_000

// minReloadInterval keeps polling from becoming a busy loop on the store.
const minReloadInterval = 100 * time.Millisecond

// Upper bounds of the limits, so that a typo (9999999GiB) is refused
// rather than turning a limit off. A request's body is held in memory,
// and decoding takes a few tens of times its size (a 100,000-row batch of
// 6 MB takes about 220 MB at its peak); a slow client holds a connection
// for up to a timeout.
const (
	maxMaxBodyBytes       service.ByteSize = 64 << 20
	maxMaxRows                             = 1_000_000
	maxPredictionLogBytes service.ByteSize = 1 << 30
	maxTimeout                             = 10 * time.Minute
)

// follows reports whether the service follows a moving target in its
// store (hot reload): it serves from a store and no version is pinned.
func (c Config) follows() bool { return c.Store != "" && c.Version == "" }

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
	if c.Version != "" {
		if c.Store == "" {
			bad("VERSION", "pins a version but MODEL_STORE is not set")
		}
		if !massmodel.ValidVersion(c.Version) {
			bad("VERSION", "%q is not a version id such as 20260101T120000Z-0123456789ab", c.Version)
		}
	}
	if c.Alias != "" {
		if c.Version != "" {
			bad("ALIAS", "and MODEL_VERSION are both set; set MODEL_VERSION to pin a version or MODEL_ALIAS to follow an alias, not both")
		}
		if c.Store == "" {
			bad("ALIAS", "names an alias but MODEL_STORE is not set")
		}
		if !aliasPattern.MatchString(c.Alias) {
			bad("ALIAS", "%q is not an alias name (want a lowercase letter, then lowercase letters, digits or '-', e.g. champion)", c.Alias)
		}
	}
	if c.ShadowAlias != "" {
		if c.Store == "" {
			bad("SHADOW_ALIAS", "names an alias but MODEL_STORE is not set")
		}
		if !aliasPattern.MatchString(c.ShadowAlias) {
			bad("SHADOW_ALIAS", "%q is not an alias name (want a lowercase letter, then lowercase letters, digits or '-', e.g. challenger)", c.ShadowAlias)
		}
		if c.ShadowAlias == c.Alias {
			bad("SHADOW_ALIAS", "%q is also MODEL_ALIAS, the served alias: a model in its own shadow compares nothing", c.ShadowAlias)
		}
	}
	if !(c.ShadowSample >= 0 && c.ShadowSample <= 1) { // NaN too
		bad("SHADOW_SAMPLE", "want a share of records from 0 to 1, got %v", c.ShadowSample)
	}
	if c.ReloadInterval != 0 && c.ReloadInterval < minReloadInterval {
		bad("RELOAD_INTERVAL", "want 0 (polling off) or at least %s, got %s", minReloadInterval, c.ReloadInterval)
	}
	if c.Store != "" && c.DataPath != "" {
		bad("DATA_PATH", "is only used without MODEL_STORE; set one of them")
	}
	if c.DriftWindow < 1 || c.DriftWindow > drift.MaxWindow {
		bad("DRIFT_WINDOW", "want 1 to %d records, got %d", drift.MaxWindow, c.DriftWindow)
	}
	if c.DriftMin < 1 || c.DriftMin > c.DriftWindow {
		bad("DRIFT_MIN", "want 1 to MODEL_DRIFT_WINDOW (%d) records, got %d", c.DriftWindow, c.DriftMin)
	}
	if c.MaxRows < 1 || c.MaxRows > maxMaxRows {
		bad("MAX_ROWS", "want 1 to %d, got %d", maxMaxRows, c.MaxRows)
	}
	if c.PredictionLogMaxBytes < 4096 || c.PredictionLogMaxBytes > maxPredictionLogBytes {
		bad("PREDICTION_LOG_MAX_BYTES", "want at least 4KiB and at most %s, got %s", maxPredictionLogBytes, c.PredictionLogMaxBytes)
	}
	if c.APIKeysFile == "" && c.Env != "dev" {
		bad("API_KEYS_FILE", "is required when MODEL_ENV=%s: auth is on in staging and prod (create the file with model-service keys add)", c.Env)
	}
	if c.APIKeysFile != "" {
		if _, err := auth.Load(c.APIKeysFile); err != nil {
			bad("API_KEYS_FILE", "%v", err)
		}
	}
	if math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) || c.RateLimit < 0 || c.RateLimit > maxRateLimit {
		bad("RATE_LIMIT", "want 0 (no limit) to %d requests per second per key, got %v", maxRateLimit, c.RateLimit)
	}
	if c.RateBurst < 1 || c.RateBurst > maxRateLimit {
		bad("RATE_BURST", "want 1 to %d requests, got %d", maxRateLimit, c.RateBurst)
	}
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Scheme+"://"+u.Host != o || u.User != nil {
			bad("CORS_ORIGINS", "want comma-separated origins such as https://app.example.org (scheme://host[:port], no path, no *), got %q", o)
		}
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			bad("METRICS_ADDR", "want empty or host:port such as :9090, got %q", c.MetricsAddr)
		} else if c.MetricsAddr == c.Addr {
			bad("METRICS_ADDR", "is MODEL_ADDR (%s); want a listener of its own, or empty", c.Addr)
		}
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > maxMaxBodyBytes {
		bad("MAX_BODY_BYTES", "want at least 1KiB and at most %s, got %s", maxMaxBodyBytes, c.MaxBodyBytes)
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{
		{"READ_HEADER_TIMEOUT", c.ReadHeaderTimeout}, {"READ_TIMEOUT", c.ReadTimeout}, {"WRITE_TIMEOUT", c.WriteTimeout},
		{"IDLE_TIMEOUT", c.IdleTimeout}, {"SHUTDOWN_TIMEOUT", c.ShutdownTimeout},
	} {
		if t.d > maxTimeout {
			bad(t.name, "want at most %s, got %s", maxTimeout, t.d)
		}
	}
	if c.DrainDelay < 0 || c.DrainDelay > maxDrainDelay {
		bad("DRAIN_DELAY", "want 0 (off) to %s, such as 5s, got %s", maxDrainDelay, c.DrainDelay)
	}
	errs = append(errs, service.CheckServer(envPrefix, c.Addr, c.Env, map[string]time.Duration{
		"MODEL_READ_HEADER_TIMEOUT": c.ReadHeaderTimeout, "MODEL_READ_TIMEOUT": c.ReadTimeout,
		"MODEL_WRITE_TIMEOUT": c.WriteTimeout, "MODEL_IDLE_TIMEOUT": c.IdleTimeout, "MODEL_SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
	})...)
	return errors.Join(errs...)
}

// source returns the training data source the configuration names: a CSV
// file or the embedded data. (Training from PostgreSQL is model-data's job.)
func (c Config) source() penguins.Source {
	if c.DataPath != "" {
		return penguins.CSVFile{Path: c.DataPath}
	}
	return penguins.Embedded{}
}
