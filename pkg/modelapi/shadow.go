package modelapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Shadow statuses.
const (
	ShadowOff         = "off"         // no MODEL_SHADOW_ALIAS
	ShadowUnavailable = "unavailable" // configured, but no challenger could be loaded (Reason says why)
	ShadowOK          = "ok"          // the challenger scores a sample of the live records
)

// Shadow is the body of GET /monitoring/shadow: how the served model (the
// champion) and the model an alias points to (the challenger) disagree on
// a sample of the live records, scored by the challenger off the response
// path. Differences are champion − challenger, in grams, over the records
// compared since this pair of versions met.
type Shadow struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Alias is the alias the challenger follows (MODEL_SHADOW_ALIAS).
	Alias      string  `json:"alias,omitempty"`
	SampleRate float64 `json:"sample_rate"`
	Champion   string  `json:"champion"`
	Challenger string  `json:"challenger,omitempty"`
	// Records is the records of this pair compared so far; First and Last
	// are when the first and the last were.
	Records uint64     `json:"records"`
	First   *time.Time `json:"first,omitempty"`
	Last    *time.Time `json:"last,omitempty"`
	// ScoredTotal and DroppedTotal count every pair's records since the
	// service started: scored by the challenger, or sampled but dropped
	// because the shadow's queue was full.
	ScoredTotal  uint64 `json:"scored_total"`
	DroppedTotal uint64 `json:"dropped_total"`
	// The differences; null while no record is compared.
	MeanDifference    *float64 `json:"mean_difference_g"`
	MeanAbsDifference *float64 `json:"mean_abs_difference_g"`
	MaxAbsDifference  *float64 `json:"max_abs_difference_g"`
	// Quantiles of |difference| (0.5, 0.9, 0.99), estimated from Buckets
	// by linear interpolation within a bucket, as Prometheus's
	// histogram_quantile does; empty while no record is compared.
	Quantiles []ShadowQuantile `json:"abs_difference_quantiles"`
	// Buckets count |difference| in (Lower, Upper], as Prometheus's le
	// buckets (the first holds 0 too); the last has no Upper.
	Buckets []ShadowBucket `json:"buckets"`
}

// ShadowQuantile is one estimated quantile of |difference|.
type ShadowQuantile struct {
	Quantile float64 `json:"quantile"`
	Value    float64 `json:"value_g"`
}

// ShadowBucket is the records whose |difference| is in (Lower, Upper].
type ShadowBucket struct {
	Lower float64  `json:"lower_g"`
	Upper *float64 `json:"upper_g,omitempty"`
	Count uint64   `json:"count"`
}

// Shadow fetches GET /monitoring/shadow. A model service older than the
// route answers 404, an *APIError.
func (c *Client) Shadow(ctx context.Context) (*Shadow, error) {
	var out Shadow
	err := c.run(ctx, call{op: "shadow", method: http.MethodGet, path: "/monitoring/shadow", retryStatus: true}, func(b []byte) error {
		return json.Unmarshal(b, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
