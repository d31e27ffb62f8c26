package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed openapi.json
var openAPISpec []byte

// openAPIDocument returns the embedded OpenAPI document with info.version
// set to the running build's version.
func openAPIDocument(version string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPISpec, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	info, ok := doc["info"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi.json: no info object")
	}
	info["version"] = version
	return json.MarshalIndent(doc, "", "  ")
}
