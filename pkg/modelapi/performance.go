package modelapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Performance is the body of GET /monitoring/performance: a model
// version's metrics by period, computed from labelled observations by
// `evaluate` and pinned next to the version in the model store, in
// vetiver's long format.
type Performance struct {
	Version string `json:"version"`
	// Reference holds the same metrics on the training rows, for the
	// charts' reference lines; absent when the training rows are not at
	// hand.
	Reference *PerformanceReference `json:"reference,omitempty"`
	// Metrics is empty when nothing is pinned for the version.
	Metrics []PeriodMetric `json:"metrics"`
}

// Metric names of PeriodMetric.
const (
	MetricRMSE = "rmse"
	MetricMAE  = "mae"
	MetricRSQ  = "rsq"
	MetricBias = "bias" // mean of observed − predicted
)

// PeriodMetric is one metric of one period.
type PeriodMetric struct {
	PeriodStart string  `json:"period_start"` // YYYY-MM-DD, the first day of the period
	Period      string  `json:"period"`       // day, week, month, quarter or year
	N           int     `json:"n"`            // labelled rows scored in the period
	Metric      string  `json:"metric"`       // rmse, mae, rsq or bias
	Estimate    float64 `json:"estimate"`
}

// PerformanceReference is the metrics on the training rows.
type PerformanceReference struct {
	N    int     `json:"n"`
	RMSE float64 `json:"rmse"`
	MAE  float64 `json:"mae"`
	RSQ  float64 `json:"rsq"`
	Bias float64 `json:"bias"`
}

// Performance fetches GET /monitoring/performance for the served version,
// or for version when it is not empty.
func (c *Client) Performance(ctx context.Context, version string) (*Performance, error) {
	path := "/monitoring/performance"
	if version != "" {
		path += "?version=" + url.QueryEscape(version)
	}
	var out Performance
	err := c.run(ctx, call{op: "performance", method: http.MethodGet, path: path, retryStatus: true}, func(b []byte) error {
		return json.Unmarshal(b, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
