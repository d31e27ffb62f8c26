package modelapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Drift is the body of GET /monitoring/drift: how the inputs and
// predictions in the window of recently scored records compare with the
// served model's training data, by the population stability index (PSI).
type Drift struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	// Available is false when the served artifact carries no reference
	// profile and none could be rebuilt; Reason says why, and Features is
	// empty.
	Available  bool           `json:"available"`
	Reason     string         `json:"reason,omitempty"`
	Thresholds DriftThreshold `json:"thresholds"`
	Window     DriftWindow    `json:"window"`
	Features   []FeatureDrift `json:"features"`
}

// DriftThreshold holds the PSI levels and the window count that set a
// feature's status.
type DriftThreshold struct {
	Warn       float64 `json:"warn"`        // status "warn" from this PSI
	Alert      float64 `json:"alert"`       // status "alert" from this PSI
	MinRecords int     `json:"min_records"` // below it, "insufficient_data"
}

// DriftWindow describes the window of recent records.
type DriftWindow struct {
	Size    int        `json:"size"`    // capacity (MODEL_DRIFT_WINDOW)
	Records int        `json:"records"` // records in it now
	Oldest  *time.Time `json:"oldest,omitempty"`
	Newest  *time.Time `json:"newest,omitempty"`
	// ResetAt and ResetReason say when and why the window was last
	// emptied (the model was loaded).
	ResetAt     time.Time `json:"reset_at"`
	ResetReason string    `json:"reset_reason"`
	// Extrapolated is how much of the window the model judged
	// extrapolation; the training data's share is 0 (no training row is).
	// Absent when there is no window.
	Extrapolated *DriftExtrapolation `json:"extrapolated,omitempty"`
}

// DriftExtrapolation is the share of a window's records that were
// extrapolations: for any reason, and by reason (every reason the API
// knows, ReasonTrainingRange and the others, 0 when none).
type DriftExtrapolation struct {
	Share    float64            `json:"share"`
	ByReason map[string]float64 `json:"by_reason"`
}

// Drift statuses.
const (
	DriftOK           = "ok"
	DriftWarn         = "warn"
	DriftAlert        = "alert"
	DriftInsufficient = "insufficient_data"
)

// FeatureDrift is one feature's (or the prediction's) drift.
type FeatureDrift struct {
	Feature string     `json:"feature"` // bill_length_mm, species, sex or prediction
	Kind    string     `json:"kind"`    // "numeric" (binned) or "categorical"
	PSI     *float64   `json:"psi"`     // null while the window holds too few records
	Status  string     `json:"status"`
	Bins    []DriftBin `json:"bins"`
}

// DriftBin is one bin (or category) with its share of the reference and of
// the window. Numeric bins are [Lower, Upper); the first has no Lower and
// the last no Upper.
type DriftBin struct {
	Label     string   `json:"label"`
	Lower     *float64 `json:"lower,omitempty"`
	Upper     *float64 `json:"upper,omitempty"`
	Reference float64  `json:"reference"`
	Current   float64  `json:"current"`
}

// Drift fetches GET /monitoring/drift.
func (c *Client) Drift(ctx context.Context) (*Drift, error) {
	var out Drift
	err := c.run(ctx, call{op: "drift", method: http.MethodGet, path: "/monitoring/drift", retryStatus: true}, func(b []byte) error {
		return json.Unmarshal(b, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
