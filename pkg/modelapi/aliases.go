package modelapi

import "time"

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
