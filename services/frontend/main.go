// Command frontend-service is the penguin explorer: a server-rendered web
// app (Echo + templ) that shows the data, the served model and predictions
// from the model API.
//
//	frontend-service                 serve (the default; also "serve")
//	frontend-service export -out D   write Overview, Explore and Model as a static site into D
//	frontend-service healthcheck     probe a running instance's /readyz; exit 0 or 1
//	frontend-service version         print build information
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/frontend/internal/web"
)

func main() {
	os.Exit(service.Dispatch("frontend-service", usage, "serve", map[string]service.Command{
		"serve":       serveCmd,
		"export":      exportCmd,
		"healthcheck": func(args []string) int { return service.HealthcheckCmd(args, "FRONTEND_ADDR", ":8000") },
	}, os.Args[1:]))
}

const usage = `usage: frontend-service [command] [flags]

commands:
  serve        serve the web app (default)
  export       write Overview, Explore and Model as a static site (-out DIR)
  healthcheck  probe a running instance's /readyz; exit 0 when ready, 1 otherwise
  version      print build information

configuration comes from FRONTEND_* environment variables; see README.md.
`

// newApp wires the model API client and the app.
func newApp(log *zap.Logger, cfg Config) (*web.App, error) {
	calls := web.NewCallLog(50)
	retries := cfg.ModelRetries
	if retries == 0 {
		retries = -1 // the client reads 0 as "default"; the config's 0 means none
	}
	var key string
	if cfg.ModelAPIKeyFile != "" {
		var err error
		if key, err = readAPIKey(cfg.ModelAPIKeyFile); err != nil {
			return nil, fmt.Errorf("FRONTEND_MODEL_API_KEY_FILE: %w", err)
		}
	}
	client, err := modelapi.NewClient(modelapi.ClientOptions{
		BaseURL: cfg.ModelURL, Timeout: cfg.ModelTimeout, Retries: retries, OnCall: calls.Observe, APIKey: key,
	})
	if err != nil {
		return nil, fmt.Errorf("model API client: %w", err)
	}
	return web.New(log, client, calls, web.Options{
		ModelURL: cfg.ModelURL, Build: buildinfo.Read(), ModelBudget: cfg.ModelBudget, AlertRulesURL: cfg.AlertRulesURL,
		TrustedProxies: cfg.TrustedProxies,
	})
}

func serveCmd(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontend-service:", err)
		return 1
	}
	return service.RunServer("frontend-service", cfg.Env, cfg.LogLevel, func(ctx context.Context, log *zap.Logger) error {
		return serve(ctx, log, cfg)
	})
}

func serve(ctx context.Context, log *zap.Logger, cfg Config) error {
	build := buildinfo.Read()
	app, err := newApp(log, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("app started", zap.String("commit", build.Commit), zap.String("go", build.GoVersion),
		zap.Any("config", service.ConfigFields(&cfg)))
	hs := service.NewServer(app.Handler(), service.Timeouts{
		ReadHeader: cfg.ReadHeaderTimeout, Read: cfg.ReadTimeout, Write: cfg.WriteTimeout, Idle: cfg.IdleTimeout,
	})
	return service.Serve(ctx, log, hs, ln, cfg.DrainDelay, cfg.ShutdownTimeout, app.SetDraining)
}

func exportCmd(args []string) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	out := fs.String("out", "site", "directory to write the static site into")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontend-service export:", err)
		return 1
	}
	app, err := newApp(zap.NewNop(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontend-service export:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files, err := app.Export(ctx, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontend-service", err)
		return 1
	}
	fmt.Printf("exported %d files to %s\n", len(files), *out)
	return 0
}
