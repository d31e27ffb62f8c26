package api

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// GET /monitoring/performance: a version's metrics by period, pinned in the
// model store by `model-service evaluate`, read from the store on every
// request so that metrics pinned while the service runs are seen at once.

var errUnknownVersion = newProblem(http.StatusNotFound, "unknown-version", "Unknown version",
	"the model store holds no such version of the model")

func (s *Server) monitoringPerformance(c echo.Context) error {
	sv := s.served.Load()
	if sv == nil {
		return errNotReady
	}
	version := c.QueryParam("version")
	if version == "" || version == sv.artifact.Version {
		p, err := sv.performance()
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, p)
	}
	if !massmodel.ValidVersion(version) {
		return newProblem(http.StatusBadRequest, "bad-query", "Bad query parameter",
			"query parameter version must be a version id such as 20260101T120000Z-0123456789ab")
	}
	if sv.store == nil {
		return errUnknownVersion // trained at start-up: there is no other version
	}
	p, err := otherPerformance(c.Request().Context(), *sv.store, version)
	if errors.Is(err, fs.ErrNotExist) {
		return errUnknownVersion
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// performance is the served version's pinned metrics (none without a
// store) and its training reference.
func (sv *served) performance() (*modelapi.Performance, error) {
	p := &modelapi.Performance{Version: sv.artifact.Version, Reference: sv.reference, Metrics: []modelapi.PeriodMetric{}}
	if sv.store == nil {
		return p, nil
	}
	ms, err := sv.store.Metrics(sv.artifact.Name, sv.artifact.Version)
	if err != nil {
		return nil, err
	}
	p.Metrics = periodMetricsOf(ms)
	return p, nil
}

// otherPerformance is the performance of a version that is not served: its
// artifact is loaded and verified for the reference.
func otherPerformance(ctx context.Context, st massmodel.Store, version string) (*modelapi.Performance, error) {
	ms, err := st.Metrics(massmodel.Name, version)
	if err != nil {
		return nil, err
	}
	p := &modelapi.Performance{Version: version, Metrics: periodMetricsOf(ms)}
	a, m, err := st.Load(massmodel.Name, version)
	if err != nil {
		return nil, err
	}
	if d, err := massmodel.Diagnose(ctx, a, m, nil); err == nil {
		p.Reference = referenceOf(d)
	}
	return p, nil
}

// periodMetricsOf maps the store's pinned metrics to the wire type.
func periodMetricsOf(ms []massmodel.PeriodMetric) []modelapi.PeriodMetric {
	out := make([]modelapi.PeriodMetric, len(ms))
	for i, m := range ms {
		out[i] = modelapi.PeriodMetric{PeriodStart: m.PeriodStart, Period: m.Period, N: m.N, Metric: m.Metric, Estimate: m.Estimate}
	}
	return out
}

// referenceOf is the metrics on the training rows, or nil when R² is
// undefined (it never is for a fitted model).
func referenceOf(d *massmodel.Diagnostics) *modelapi.PerformanceReference {
	sc := massmodel.TrainingScores(d)
	if math.IsNaN(sc.RSQ) {
		return nil
	}
	return &modelapi.PerformanceReference{N: sc.N, RMSE: sc.RMSE, MAE: sc.MAE, RSQ: sc.RSQ, Bias: sc.Bias}
}

// performanceCollector exports, at scrape time, the served version's
// latest pinned period (each metric, its start and n) and the training
// RMSE as the reference. Nothing pinned: no period series.
type performanceCollector struct{ s *Server }

var (
	performanceDesc = prometheus.NewDesc("model_performance",
		"A metric (rmse, mae, rsq, bias) of the served version on labelled data in the latest pinned period (model-service evaluate).",
		[]string{"metric"}, nil)
	performanceStartDesc = prometheus.NewDesc("model_performance_period_start_timestamp_seconds",
		"Start of the latest pinned period of the served version, in Unix seconds.", nil, nil)
	performanceRecordsDesc = prometheus.NewDesc("model_performance_period_records",
		"Labelled rows scored in the latest pinned period of the served version.", nil, nil)
	trainingRMSEDesc = prometheus.NewDesc("model_training_rmse",
		"RMSE of the served version on its training rows: the reference for model_performance.", nil, nil)
)

func (p performanceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- performanceDesc
	ch <- performanceStartDesc
	ch <- performanceRecordsDesc
	ch <- trainingRMSEDesc
}

func (p performanceCollector) Collect(ch chan<- prometheus.Metric) {
	sv := p.s.served.Load()
	if sv == nil {
		return
	}
	if sv.reference != nil {
		ch <- prometheus.MustNewConstMetric(trainingRMSEDesc, prometheus.GaugeValue, sv.reference.RMSE)
	}
	if sv.store == nil {
		return
	}
	ms, err := sv.store.Metrics(sv.artifact.Name, sv.artifact.Version)
	if err != nil {
		p.s.log.Warn("pinned metrics unreadable", zap.String("model_version", sv.artifact.Version), zap.Error(err))
		return
	}
	if len(ms) == 0 {
		return
	}
	latest := ms[0].PeriodStart
	for _, m := range ms {
		latest = max(latest, m.PeriodStart)
	}
	start, err := time.Parse(time.DateOnly, latest)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(performanceStartDesc, prometheus.GaugeValue, float64(start.Unix()))
	for _, m := range ms {
		if m.PeriodStart == latest {
			ch <- prometheus.MustNewConstMetric(performanceDesc, prometheus.GaugeValue, m.Estimate, m.Metric)
			if m.Metric == massmodel.MetricRMSE {
				ch <- prometheus.MustNewConstMetric(performanceRecordsDesc, prometheus.GaugeValue, float64(m.N))
			}
		}
	}
}
