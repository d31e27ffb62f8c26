package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Timeouts are an http.Server's timeouts.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// NewServer returns an http.Server for h with the given timeouts.
func NewServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// Serve runs srv on ln until ctx is cancelled (by SIGTERM or SIGINT in the
// binaries), then drains: beforeDrain runs first (so readiness turns false),
// the server goes on serving new requests for delay (so that load balancers
// and Kubernetes endpoints, which follow readiness and pod deletion with a
// lag, stop sending before the listener goes), then the listener stops
// accepting, and in-flight requests get up to drain to finish. It returns
// nil after a clean drain.
func Serve(ctx context.Context, log *zap.Logger, srv *http.Server, ln net.Listener, delay, drain time.Duration, beforeDrain func()) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	start := time.Now()
	log.Info("shutdown started", zap.Duration("drain_delay_ms", delay), zap.Duration("drain_deadline_ms", drain))
	if beforeDrain != nil {
		beforeDrain()
	}
	if delay > 0 {
		select {
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-time.After(delay):
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: in-flight requests did not finish within %s: %w", drain, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("shutdown complete", zap.Duration("took_ms", time.Since(start)))
	return nil
}

// Probe GETs url and returns nil when it answers 200 within timeout. It is
// the body of the binaries' healthcheck subcommand, for images with no shell.
func Probe(url string, timeout time.Duration) error {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// ProbeURL turns a listen address such as ":8080" or "0.0.0.0:8080" into
// the loopback URL of path on it.
func ProbeURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
