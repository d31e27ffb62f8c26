package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestPrototypeSchemaAgreesWithTheDecoder compiles /prototype with a JSON
// Schema validator and checks that it accepts and rejects the same records
// as /predict does.
func TestPrototypeSchemaAgreesWithTheDecoder(t *testing.T) {
	f := newFixture(t, testLimits)
	_, body := f.do(t, http.MethodGet, "/prototype", "", "")
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("prototype.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("prototype.json")
	if err != nil {
		t.Fatalf("/prototype is not a valid JSON Schema: %v", err)
	}
	var proto struct{ Examples []json.RawMessage }
	json.Unmarshal(body, &proto)
	records := []string{}
	for _, ex := range proto.Examples {
		records = append(records, string(ex))
	}
	for _, g := range f.art.Golden {
		b, _ := json.Marshal(g.Input)
		records = append(records, string(b))
	}
	records = append(records,
		`{"bill_length_mm": 45, "species": "Emperor", "sex": "male"}`,
		`{"bill_length_mm": 0, "species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": 151, "species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male", "island": "Dream"}`,
		`{"bill_length_mm": 45, "species": "Gentoo", "sex_male": true}`,
		`{"bill_length_mm": 45, "species_Chinstrap": 2, "species_Gentoo": false, "sex_male": true}`,
		`{"bill_length_mm": "45", "species": "Gentoo", "sex": "male"}`,
		`{"species": "Gentoo", "sex": "male"}`,
		`{"bill_length_mm": 45, "species_Chinstrap": 1, "species_Gentoo": 0, "sex_male": false}`,
		`{"bill_length_mm": 45, "species_Chinstrap": true, "species_Gentoo": 1, "sex_male": false}`,
	)
	if len(proto.Examples) < 2 {
		t.Fatalf("prototype has %d examples", len(proto.Examples))
	}
	for _, rec := range records {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(rec))
		if err != nil {
			t.Fatal(err)
		}
		schemaOK := schema.Validate(inst) == nil
		resp, _ := f.predict(t, "", rec)
		apiOK := resp.StatusCode == http.StatusOK
		if schemaOK != apiOK {
			t.Errorf("%s: schema valid = %v, /predict accepted = %v", rec, schemaOK, apiOK)
		}
	}
}
