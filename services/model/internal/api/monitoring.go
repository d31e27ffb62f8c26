package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/services/model/internal/drift"
)

// DriftSettings configure drift tracking: a window of the last Window
// scored records, and at least Min of them before a feature has a status.
type DriftSettings struct {
	Enabled     bool
	Window, Min int
}

// DefaultDrift is what a new Server tracks: the defaults of MODEL_DRIFT_*.
var DefaultDrift = DriftSettings{Enabled: true, Window: 1000, Min: 100}

// EnableDrift sets drift tracking (on or off) for the models set from now
// on. Call it before the first SetModel.
func (s *Server) EnableDrift(d DriftSettings) { s.drift = d }

// newDrift starts the window of a newly loaded model, or says why there is
// none. d and derr are what Diagnose found of its training rows, from
// which an old artifact's profile is rebuilt.
func (s *Server) newDrift(l Loaded, d *massmodel.Diagnostics, derr error) (*drift.Tracker, string) {
	if !s.drift.Enabled {
		return nil, "drift tracking is off (MODEL_DRIFT_ENABLED=false)"
	}
	ref, err := massmodel.ReferenceProfile(l.Artifact, l.Model, d, derr)
	if err != nil {
		return nil, err.Error()
	}
	t, err := drift.New(ref, s.drift.Window, s.drift.Min, fmt.Sprintf("model %s loaded (%s)", l.Artifact.Version, l.From))
	if err != nil {
		return nil, err.Error()
	}
	return t, ""
}

// driftReport is GET /monitoring/drift's body for sv. It logs the status
// changes since the last report, whoever asked for it.
func (s *Server) driftReport(sv *served) modelapi.Drift {
	d := modelapi.Drift{
		Model: sv.artifact.Name, Version: sv.artifact.Version, Reason: sv.driftReason,
		Thresholds: modelapi.DriftThreshold{Warn: drift.WarnPSI, Alert: drift.AlertPSI, MinRecords: s.drift.Min},
		Features:   []modelapi.FeatureDrift{},
	}
	if sv.drift == nil {
		d.Window.ResetAt, d.Window.ResetReason = sv.loadedAt, "no window: "+sv.driftReason
		return d
	}
	var changes []drift.Change
	d.Available = true
	d.Window, d.Features, changes = sv.drift.Report()
	for _, c := range changes {
		s.log.Warn("input drift", zap.String("model_version", sv.artifact.Version), zap.String("feature", c.Feature),
			zap.String("from", c.From), zap.String("to", c.To), zap.Float64("psi", c.PSI), zap.Int("window_records", d.Window.Records))
	}
	return d
}

func (s *Server) monitoringDrift(c echo.Context) error {
	sv := s.served.Load()
	if sv == nil {
		return errNotReady
	}
	return c.JSON(http.StatusOK, s.driftReport(sv))
}

// WatchDrift reports drift every interval until ctx ends, so that a status
// change is logged even when nobody scrapes /metrics or asks
// /monitoring/drift.
func (s *Server) WatchDrift(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if sv := s.served.Load(); sv != nil && sv.drift != nil {
				s.driftReport(sv)
			}
		}
	}
}

// driftCollector exports the served model's drift to Prometheus at scrape
// time: the PSI of each feature that has enough records (none otherwise:
// never a NaN), and the records in the window.
type driftCollector struct{ s *Server }

var (
	psiDesc = prometheus.NewDesc("model_feature_drift_psi",
		"Population stability index of a feature (or the prediction) in the window of recent records against the training data; absent while the window holds too few records.",
		[]string{"feature"}, nil)
	windowDesc = prometheus.NewDesc("model_drift_window_records",
		"Scored records in the drift window.", nil, nil)
)

func (d driftCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- psiDesc
	ch <- windowDesc
}

func (d driftCollector) Collect(ch chan<- prometheus.Metric) {
	sv := d.s.served.Load()
	if sv == nil || sv.drift == nil {
		ch <- prometheus.MustNewConstMetric(windowDesc, prometheus.GaugeValue, 0)
		return
	}
	r := d.s.driftReport(sv)
	ch <- prometheus.MustNewConstMetric(windowDesc, prometheus.GaugeValue, float64(r.Window.Records))
	for _, f := range r.Features {
		if f.PSI != nil {
			ch <- prometheus.MustNewConstMetric(psiDesc, prometheus.GaugeValue, *f.PSI, f.Feature)
		}
	}
}
