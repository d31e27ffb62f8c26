package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
)

// fullArtifact is a trained artifact with every field set, at any depth, so
// that a field the mapping forgets cannot hide behind a zero value.
func fullArtifact(t *testing.T) (*massmodel.Artifact, *massmodel.Model) {
	t.Helper()
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	// What a test binary's build information may leave empty.
	a.Build.Commit = "3f9a1c2b7d4e5f60718293a4b5c6d7e8f9012345"
	a.Build.Version = "v1.4.0"
	a.Build.Libraries = map[string]string{"github.com/sajari/regression": "v1.0.1"}
	if unset := unsetFields(reflect.ValueOf(*a)); len(unset) > 0 {
		t.Fatalf("the fixture leaves %v unset; set them so that the mapping tests cover them", unset)
	}
	return a, m
}

// unsetFields lists the struct fields reachable from v, named Type.Field,
// that are zero wherever they occur in v.
func unsetFields(v reflect.Value) []string {
	all, set := map[string]bool{}, map[string]bool{}
	leaf := func(t reflect.Type) bool { return t == reflect.TypeFor[time.Time]() }
	var types func(t reflect.Type)
	types = func(t reflect.Type) {
		switch {
		case leaf(t):
		case t.Kind() == reflect.Struct:
			for i := range t.NumField() {
				name := t.String() + "." + t.Field(i).Name
				if !all[name] {
					all[name] = true
					types(t.Field(i).Type)
				}
			}
		case t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Pointer:
			types(t.Elem())
		}
	}
	var values func(v reflect.Value)
	values = func(v reflect.Value) {
		switch {
		case leaf(v.Type()):
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				if !v.Field(i).IsZero() {
					set[v.Type().String()+"."+v.Type().Field(i).Name] = true
				}
				values(v.Field(i))
			}
		case v.Kind() == reflect.Slice:
			for i := range v.Len() {
				values(v.Index(i))
			}
		case v.Kind() == reflect.Map:
			for it := v.MapRange(); it.Next(); {
				values(it.Value())
			}
		case v.Kind() == reflect.Pointer && !v.IsNil():
			values(v.Elem())
		}
	}
	types(v.Type())
	values(v)
	var unset []string
	for name := range all {
		if !set[name] {
			unset = append(unset, name)
		}
	}
	slices.Sort(unset)
	return unset
}

func jsonObject(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMetadataCarriesEveryArtifactField holds the mapping from the stored
// artifact to the wire Metadata to the artifact's own encoding: every field
// of the artifact appears in /metadata with the same name and value, except
// the observations, which /diagnostics carries (TestDiagnosticsCarryEveryObservationField),
// and nothing else appears but serving and the extrapolation check. A field added to the artifact and
// not mapped fails here.
func TestMetadataCarriesEveryArtifactField(t *testing.T) {
	a, _ := fullArtifact(t)
	serving := modelapi.Serving{
		LoadedFrom: "store:/models", LoadedAt: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), Pinned: true,
		MaxRows: 10, MaxBodyBytes: 1 << 20, Service: buildinfo.Info{Version: "v1", GoVersion: "go1.26"},
	}
	got := jsonObject(t, metadataOf(a, serving))
	want := jsonObject(t, a)
	if _, ok := want["observations"]; !ok {
		t.Fatal("the artifact's JSON has no observations")
	}
	delete(want, "observations")
	want["serving"] = jsonObject(t, serving)
	// How the service judges extrapolation is the service's, like serving
	// (TestExtrapolationCheckInMetadata).
	want["extrapolation"] = jsonObject(t, extrapolationCheckOf(a))
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s: /metadata has %v, the artifact %v", k, got[k], want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("/metadata has %q, which the artifact does not", k)
		}
	}
	// The wire value shares no memory with the artifact.
	md := metadataOf(a, serving)
	md.Covariance[0][0]++
	md.Data.Dropped["x"] = 1
	*md.Schema.Inputs[0].Min = -1
	if a.Covariance[0][0] == md.Covariance[0][0] || a.Data.Dropped["x"] == 1 || *a.Schema.Inputs[0].Min == -1 {
		t.Error("editing the metadata edited the artifact")
	}
}

// TestDiagnosticsCarryEveryObservationField: every field of every stored
// observation appears, by name and value, in its /diagnostics row, next to
// the fitted value and residual that the served model computes.
func TestDiagnosticsCarryEveryObservationField(t *testing.T) {
	a, m := fullArtifact(t)
	d, err := massmodel.Diagnose(context.Background(), a, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := diagnosticsOf(a, d, nil)
	if !got.Available || got.Source != modelapi.DiagnosticsFromArtifact || got.DataSource != "" || got.Reason != "" ||
		got.Model != a.Name || got.Version != a.Version || len(got.Rows) != len(a.Observations) {
		t.Fatalf("diagnostics: available %v from %q (%q), reason %q, %d rows", got.Available, got.Source, got.DataSource, got.Reason, len(got.Rows))
	}
	for i, o := range a.Observations {
		row := jsonObject(t, got.Rows[i])
		for k, v := range jsonObject(t, o) {
			if row[k] != v {
				t.Fatalf("row %d: %s is %v, the observation %v", i, k, row[k], v)
			}
		}
		if got.Rows[i].Fitted != d.Rows[i].Fitted || got.Rows[i].Residual != d.Rows[i].Residual {
			t.Fatalf("row %d: %+v, diagnosed %+v", i, got.Rows[i], d.Rows[i])
		}
	}
}

// TestDiagnosticsOfArtifactsWithoutObservations: an artifact from before
// observations were stored (the released one in deploy/models is such) gets
// diagnostics recomputed from the service's data when that is the data it
// was trained on, and otherwise an honest "unavailable" with the reason.
func TestDiagnosticsOfArtifactsWithoutObservations(t *testing.T) {
	a, m := fullArtifact(t)
	older := *a
	older.Observations = nil
	other := filepath.Join(t.TempDir(), "other.csv")
	if err := os.WriteFile(other, bytes.Replace(penguins.EmbeddedCSV(), []byte("39.1,"), []byte("39.2,"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		data      penguins.Source
		available bool
		want      string // in the reason, or the data source
	}{
		{"no data", nil, false, "the artifact predates stored training rows and no data is at hand"},
		{"same data", penguins.Embedded{}, true, "embedded:penguins.csv"},
		{"other data", penguins.CSVFile{Path: other}, false, "not on the data this service has, file:" + other},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, err := New(zaptest.NewLogger(t), testLimits, buildinfo.Info{Version: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.SetModel(context.Background(), Loaded{Artifact: &older, Model: m, From: "test", Data: c.data}); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			newChecker(t).handler(srv.Handler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/diagnostics", nil))
			var d modelapi.Diagnostics
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("%d %s (%v)", rec.Code, rec.Body, err)
			}
			if d.Available != c.available || d.Version != a.Version || d.Rows == nil {
				t.Fatalf("available %v, version %s, rows %v", d.Available, d.Version, d.Rows)
			}
			if !c.available {
				if !strings.Contains(d.Reason, c.want) || len(d.Rows) != 0 || d.Source != "" || !strings.Contains(rec.Body.String(), `"rows":[]`) {
					t.Errorf("unavailable: %s", rec.Body)
				}
				return
			}
			if d.Source != modelapi.DiagnosticsFromData || d.DataSource != c.want || d.Reason != "" || len(d.Rows) != len(a.Observations) {
				t.Fatalf("source %q (%q), reason %q, %d rows", d.Source, d.DataSource, d.Reason, len(d.Rows))
			}
			// Recomputed from the data, the rows are the ones the artifact
			// would have stored.
			for i, o := range a.Observations {
				if r := d.Rows[i]; r.BillLengthMM != o.BillLengthMM || r.Species != o.Species || r.Sex != o.Sex || r.BodyMassG != o.BodyMassG {
					t.Fatalf("row %d: %+v, want %+v", i, r, o)
				}
			}
		})
	}
}

// TestOpenAPISchemasMatchWireTypes: the hand-written schemas of /metadata
// and /diagnostics name exactly the JSON fields of the wire types, require
// exactly those that are always present (not omitempty), and allow no
// others.
func TestOpenAPISchemasMatchWireTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required             []string                   `json:"required"`
				Properties           map[string]json.RawMessage `json:"properties"`
				AdditionalProperties json.RawMessage            `json:"additionalProperties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPISpec, &doc); err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]reflect.Type{
		"Metadata":      reflect.TypeFor[modelapi.Metadata](),
		"DataInfo":      reflect.TypeFor[modelapi.DataInfo](),
		"FeatureSchema": reflect.TypeFor[modelapi.FeatureSchema](),
		"Feature":       reflect.TypeFor[modelapi.Feature](),
		"Coefficient":   reflect.TypeFor[modelapi.Coefficient](),
		"Metrics":       reflect.TypeFor[modelapi.Metrics](),
		"BuildInfo":     reflect.TypeFor[modelapi.TrainerBuild](),
		"Golden":        reflect.TypeFor[modelapi.Golden](),
		"Serving":       reflect.TypeFor[modelapi.Serving](),
		"ServiceInfo":   reflect.TypeFor[buildinfo.Info](),
		"Diagnostics":   reflect.TypeFor[modelapi.Diagnostics](),
		"DiagnosticRow": reflect.TypeFor[modelapi.DiagnosticRow](),
	} {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("openapi.json has no schema %s", name)
			continue
		}
		var fields, required []string
		for i := range typ.NumField() {
			tag := strings.Split(typ.Field(i).Tag.Get("json"), ",")
			fields = append(fields, tag[0])
			if !slices.Contains(tag[1:], "omitempty") {
				required = append(required, tag[0])
			}
		}
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		slices.Sort(fields)
		slices.Sort(required)
		slices.Sort(props)
		req := slices.Sorted(slices.Values(s.Required))
		if !slices.Equal(props, fields) || !slices.Equal(req, required) || string(s.AdditionalProperties) != "false" {
			t.Errorf("schema %s: properties %v, required %v, additionalProperties %v; %s has fields %v, always present %v",
				name, props, req, string(s.AdditionalProperties), typ, fields, required)
		}
	}
}
