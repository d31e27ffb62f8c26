package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palmerops/penguins/pkg/massmodel"
)

// modelMetrics are the model-level metrics beyond the HTTP ones.
type modelMetrics struct {
	predictions *prometheus.CounterVec
	predicted   *batchHistogram
	outOfRange  *prometheus.CounterVec
	info        *prometheus.GaugeVec

	// Children the request path uses, looked up once.
	byEndpoint   map[string]prometheus.Counter
	outOfRangeBy [len(reasonBits)]prometheus.Counter // in the order of reasonBits
}

// reasonFeature is the feature label of each extrapolation reason: the
// ranges are bill length's; the leverage is the inputs' together.
var reasonFeature = map[massmodel.Extrapolation]string{
	massmodel.OutsideTrainingRange: fBill,
	massmodel.OutsideSpeciesRange:  fBill,
	massmodel.HighLeverage:         fBill + "+" + fSpecies + "+" + fSex,
}

func newModelMetrics(reg prometheus.Registerer) *modelMetrics {
	m := &modelMetrics{
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "model_predictions_total", Help: "Predictions served (records), by endpoint.",
		}, []string{"endpoint"}),
		predicted: newBatchHistogram("model_predicted_body_mass_grams", "Distribution of predicted body mass; a shift signals input drift.",
			prometheus.LinearBuckets(2500, 250, 17)), // 2500 … 6500 g
		outOfRange: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "model_inputs_out_of_range_total",
			Help: "Records predicted as extrapolations, by the feature(s) and the reason: training_range (bill length outside the pooled range), species_range (outside its species' range), leverage (above the largest training leverage). A record counts once under each reason that holds.",
		}, []string{"feature", "reason"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "model_info", Help: "The served model version (value 1).",
		}, []string{"version", "content_sha256"}),
	}
	reg.MustRegister(m.predictions, m.predicted, m.outOfRange, m.info)
	m.byEndpoint = map[string]prometheus.Counter{
		"predict": m.predictions.WithLabelValues("predict"),
		"infer":   m.predictions.WithLabelValues("infer"),
	}
	for i, r := range reasonBits {
		m.outOfRangeBy[i] = m.outOfRange.WithLabelValues(reasonFeature[r], r.String())
	}
	return m
}
