// Command model-service serves the penguin body-mass model over HTTP.
//
//	model-service                 serve (the default; also "serve")
//	model-service train -store D  fit the model and write a verified version to store D
//	model-service evaluate ...    score a version on labelled rows by period and pin the metrics
//	model-service versions ...    list the store's versions with their metrics and aliases
//	model-service promote ...     point an alias at a version (gated for champion)
//	model-service rollback ...    point an alias back at its previous target
//	model-service seed-store ...  seed a model store from the released board
//	model-service keys ...        add, list or revoke API keys in a keys file
//	model-service healthcheck     probe a running instance's /readyz; exit 0 or 1
//	model-service version         print build information
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/api"
	"github.com/palmerops/penguins/services/model/internal/auth"
	"github.com/palmerops/penguins/services/model/internal/predlog"
	"github.com/palmerops/penguins/services/model/internal/reload"
	"github.com/palmerops/penguins/services/model/internal/shadow"
)

func main() {
	os.Exit(service.Dispatch("model-service", usage, "serve", map[string]service.Command{
		"serve":       serveCmd,
		"train":       trainCmd,
		"evaluate":    evaluateCmd,
		"versions":    versionsCmd,
		"promote":     promoteCmd,
		"rollback":    rollbackCmd,
		"seed-store":  seedStoreCmd,
		"keys":        keysCmd,
		"healthcheck": func(args []string) int { return service.HealthcheckCmd(args, "MODEL_ADDR", ":8080") },
	}, os.Args[1:]))
}

const usage = `usage: model-service [command] [flags]

commands:
  serve        serve the model API (default)
  train        fit the model and write a verified version to a model store
  evaluate     score a stored version on labelled rows by period; pin the metrics next to it
  versions     list the store's versions: data hash, fit and pinned metrics, aliases
  promote      point an alias at a version; promotion to champion is gated
  rollback     point an alias back at its previous target, from the history
  seed-store   copy a released board's versions and aliases into a store, leaving its own aliases alone
  keys         add, list or revoke the API keys of a keys file (MODEL_API_KEYS_FILE)
  healthcheck  probe a running instance's /readyz; exit 0 when ready, 1 otherwise
  version      print build information

configuration comes from MODEL_* environment variables; see README.md.
`

func serveCmd(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "model-service:", err)
		return 1
	}
	return service.RunServer("model-service", cfg.Env, cfg.LogLevel, func(ctx context.Context, log *zap.Logger) error {
		return serve(ctx, log, cfg)
	})
}

// driftWatchInterval is how often drift is checked for status changes to
// log, whether or not anyone asks.
const driftWatchInterval = time.Second

// serve listens at once (so liveness answers), loads and verifies the
// model (readiness turns true only then), and serves until ctx ends.
func serve(ctx context.Context, log *zap.Logger, cfg Config) (err error) {
	build := buildinfo.Read()
	log.Info("service started", zap.String("commit", build.Commit), zap.String("go", build.GoVersion),
		zap.Any("config", service.ConfigFields(&cfg)))
	srv, err := api.New(log, api.Limits{MaxBodyBytes: int64(cfg.MaxBodyBytes), MaxRows: cfg.MaxRows}, build)
	if err != nil {
		return err
	}
	srv.TrustProxies(cfg.TrustedProxies)
	keys, err := enableAuth(log, cfg, srv)
	if err != nil {
		return err
	}
	if len(cfg.CORSOrigins) > 0 {
		srv.EnableCORS(cfg.CORSOrigins)
	}
	srv.EnableDrift(api.DriftSettings{Enabled: cfg.DriftEnabled, Window: cfg.DriftWindow, Min: cfg.DriftMin})
	if cfg.PredictionLog != "" {
		plog, err := predlog.Open(log, predlog.Options{Dir: cfg.PredictionLog, MaxBytes: int64(cfg.PredictionLogMaxBytes)})
		if err != nil {
			return err
		}
		srv.EnablePredictionLog(plog)
		// After the drain (Serve returns only then): nothing scores any more.
		defer func() {
			if cerr := plog.Close(); cerr != nil {
				log.Error("prediction log: finishing the last file failed", zap.Error(cerr))
				err = errors.Join(err, cerr)
			}
			st := plog.Stats()
			log.Info("prediction log closed", zap.Uint64("records", st.Written), zap.Uint64("dropped", st.Dropped), zap.Uint64("errors", st.Errors))
		}()
	}
	var sh *shadow.Scorer
	if cfg.ShadowAlias != "" {
		if sh, err = shadow.New(log, shadow.Options{Alias: cfg.ShadowAlias, Rate: cfg.ShadowSample}); err != nil {
			return err
		}
		srv.Registerer().MustRegister(sh.Collector())
		srv.EnableShadow(sh)
		sh.Start()
		// After the drain: nothing offers records any more.
		defer func() {
			sh.Close()
			st := sh.Stats()
			log.Info("shadow scoring stopped", zap.Uint64("scored", st.Scored), zap.Uint64("dropped", st.Dropped))
		}()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := service.NewServer(srv.Handler(), service.Timeouts{
		ReadHeader: cfg.ReadHeaderTimeout, Read: cfg.ReadTimeout, Write: cfg.WriteTimeout, Idle: cfg.IdleTimeout,
	})

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if keys != nil {
		go keys.Watch(ctx, auth.DefaultPoll)
	}
	if cfg.MetricsAddr != "" {
		srv.MetricsElsewhere()
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen (MODEL_METRICS_ADDR): %w", err)
		}
		ms := service.NewServer(srv.MetricsHandler(), service.Timeouts{
			ReadHeader: cfg.ReadHeaderTimeout, Read: cfg.ReadTimeout, Write: cfg.WriteTimeout, Idle: cfg.IdleTimeout,
		})
		go func() {
			if err := service.Serve(ctx, log.With(zap.String("listener", "metrics")), ms, mln, cfg.DrainDelay, cfg.ShutdownTimeout, nil); err != nil {
				cancel(err)
			}
		}()
	}
	go func() {
		if err := loadModel(ctx, log, cfg, srv); err != nil {
			cancel(err)
		}
	}()
	if sh != nil {
		go followShadow(ctx, log, cfg, srv.Registerer(), sh)
	}
	go srv.WatchDrift(ctx, driftWatchInterval)
	err = service.Serve(ctx, log, hs, ln, cfg.DrainDelay, cfg.ShutdownTimeout, srv.SetDraining)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // the model failed to load: exit non-zero after draining
	}
	return err
}

// enableAuth loads the keys file and turns auth on, or, in dev without a
// keys file, says once that every route is open. It returns the keys to
// watch, nil when auth is off.
func enableAuth(log *zap.Logger, cfg Config, srv *api.Server) (*auth.Authenticator, error) {
	if cfg.APIKeysFile == "" {
		log.Warn("auth off: every route is open to anyone who can reach the service; set MODEL_API_KEYS_FILE to require API keys",
			zap.String("env", cfg.Env))
		return nil, nil
	}
	keys, err := auth.New(log, srv.Registerer(), cfg.APIKeysFile, auth.Limits{Rate: cfg.RateLimit, Burst: cfg.RateBurst})
	if err != nil {
		return nil, fmt.Errorf("MODEL_API_KEYS_FILE: %w", err)
	}
	srv.EnableAuth(keys)
	log.Info("auth on", zap.String("file", cfg.APIKeysFile), zap.Strings("keys", keys.Keys()),
		zap.Float64("rate_limit", cfg.RateLimit), zap.Int("rate_burst", cfg.RateBurst))
	return keys, nil
}

// loadModel loads the configured version from the store, or trains from the
// configured data when there is no store, and hands it to the server. A
// service that follows its store's target (no pinned version) then watches
// the store and reloads when the target moves, until ctx ends.
func loadModel(ctx context.Context, log *zap.Logger, cfg Config, srv *api.Server) error {
	start := time.Now()
	l := api.Loaded{Pinned: cfg.Version != "", Data: cfg.source()}
	var err error
	store := massmodel.Store{Dir: cfg.Store}
	if cfg.Store != "" {
		l.Store, l.From = &store, "store:"+cfg.Store
		version := cfg.Version
		if cfg.follows() {
			version, err = cfg.target(store)()
		}
		if err == nil {
			l.Artifact, l.Model, err = store.Load(massmodel.Name, version)
		}
	} else {
		l.Artifact, l.Model, err = massmodel.TrainFrom(ctx, l.Data, time.Now())
		l.From = "trained at start-up from " + l.Data.Describe()
	}
	if err != nil {
		return fmt.Errorf("loading model: %w", err)
	}
	if err := srv.SetModel(ctx, l); err != nil {
		return err
	}
	log.Info("ready", zap.Duration("load_time_ms", time.Since(start)))
	if cfg.follows() {
		reload.New(log, srv.Registerer(), srv, l.Artifact.Version, reload.Options{
			Store: store, Name: massmodel.Name, Target: cfg.target(store), Loaded: l, Interval: cfg.ReloadInterval,
		}).Run(ctx)
	}
	return nil
}

// followShadow keeps the shadow's challenger the version its alias points
// to, as loadModel keeps the served model current: loaded and verified,
// then swapped in, on every change of the store, until ctx ends. The first
// check loads it; while the alias is missing or its target fails
// verification, the shadow reports itself unavailable and the service
// serves as without it.
func followShadow(ctx context.Context, log *zap.Logger, cfg Config, reg prometheus.Registerer, sh *shadow.Scorer) {
	store := massmodel.Store{Dir: cfg.Store}
	reload.New(log, reg, challengerSwapper{sh}, "", reload.Options{
		Store: store, Name: massmodel.Name, Target: aliasTarget(store, cfg.ShadowAlias),
		Loaded: api.Loaded{From: "store:" + cfg.Store}, Interval: cfg.ReloadInterval,
		Role: "shadow", OnRefuse: sh.Refused,
	}).Run(ctx)
}

// challengerSwapper hands the shadow each verified target of its alias.
type challengerSwapper struct{ sh *shadow.Scorer }

func (c challengerSwapper) SetModel(_ context.Context, l api.Loaded) error {
	c.sh.SetChallenger(l.Artifact.Version, l.Model)
	return nil
}

func trainCmd(args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "model-service train:", err)
		return 1
	}
	cfg, err := loadConfig()
	if err != nil {
		return fail(err)
	}
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	store := fs.String("store", cfg.Store, "model store directory to write the new version to (default $MODEL_STORE)")
	data := fs.String("data", cfg.DataPath, "CSV file to train from (default $MODEL_DATA_PATH, else the embedded data)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *store == "" {
		fmt.Fprintln(os.Stderr, "model-service train: -store (or MODEL_STORE) is required")
		return 2
	}
	cfg.DataPath = *data
	src := cfg.source()
	a, dir, err := massmodel.TrainToStore(context.Background(), src, *store, time.Now())
	if err != nil {
		return fail(err)
	}
	fmt.Printf("trained %s version %s from %s (%d of %d rows, R² %.4f, data sha256 %s)\nwrote %s\n",
		a.Name, a.Version, src.Describe(), a.Data.TrainingRows, a.Data.Rows, a.Metrics.R2, a.Data.SHA256, dir)
	return 0
}
