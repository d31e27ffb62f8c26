package modelapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Aliases is the body of GET /aliases: where each alias of the model store
// points, and the history of every change, oldest first. Both are empty
// when the service has no store.
type Aliases struct {
	Aliases map[string]string `json:"aliases"`
	History []Promotion       `json:"history"`
}

// Promotion is one change of an alias.
type Promotion struct {
	Time     time.Time `json:"time"`
	Alias    string    `json:"alias"`
	From     string    `json:"from"` // empty when the alias was new
	To       string    `json:"to"`
	Actor    string    `json:"actor"`
	Reason   string    `json:"reason"`
	Forced   bool      `json:"forced"`
	Rollback bool      `json:"rollback,omitempty"`
}

// Aliases fetches GET /aliases. A model service older than the route
// answers 404, an *APIError.
func (c *Client) Aliases(ctx context.Context) (*Aliases, error) {
	var out Aliases
	err := c.run(ctx, call{op: "aliases", method: http.MethodGet, path: "/aliases", retryStatus: true}, func(b []byte) error {
		return json.Unmarshal(b, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
