package api

import "github.com/prometheus/client_golang/prometheus"

// modelMetrics are the model-level metrics beyond the HTTP ones.
type modelMetrics struct {
	predictions *prometheus.CounterVec
	predicted   prometheus.Histogram
	outOfRange  *prometheus.CounterVec
	info        *prometheus.GaugeVec

	// Children the request path uses, looked up once.
	byEndpoint     map[string]prometheus.Counter
	billOutOfRange prometheus.Counter
}

func newModelMetrics(reg prometheus.Registerer) *modelMetrics {
	m := &modelMetrics{
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "model_predictions_total", Help: "Predictions served (records), by endpoint.",
		}, []string{"endpoint"}),
		predicted: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "model_predicted_body_mass_grams", Help: "Distribution of predicted body mass; a shift signals input drift.",
			Buckets: prometheus.LinearBuckets(2500, 250, 17), // 2500 … 6500 g
		}),
		outOfRange: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "model_inputs_out_of_range_total", Help: "Records predicted with an input outside its training range, by feature.",
		}, []string{"feature"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "model_info", Help: "The served model version (value 1).",
		}, []string{"version", "content_sha256"}),
	}
	reg.MustRegister(m.predictions, m.predicted, m.outOfRange, m.info)
	m.byEndpoint = map[string]prometheus.Counter{
		"predict": m.predictions.WithLabelValues("predict"),
		"infer":   m.predictions.WithLabelValues("infer"),
	}
	m.billOutOfRange = m.outOfRange.WithLabelValues(fBill)
	return m
}
