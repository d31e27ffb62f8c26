package web

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/frontend/internal/charts"
	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// The Penguin Mass Predictor's inputs, as in the book's Shiny app.
const (
	billMin, billMax, billDefault = 30.0, 60.0, 45.0
	defaultSpecies, defaultSex    = "Adelie", "male"
	fragmentHeader                = "X-Fragment" // app.js asks for the result section only
)

// predictQuery is the form's query, validated. Errors maps a field to what
// is wrong with it.
type predictQuery struct {
	Record modelapi.Record
	Bill   string // as typed, echoed back into the form
	Errors map[string]string
}

// parsePredictQuery validates the form on the server: the browser's
// constraints are a convenience, not a check.
func parsePredictQuery(q url.Values) predictQuery {
	pq := predictQuery{Errors: map[string]string{}, Bill: strings.TrimSpace(q.Get("bill_length_mm"))}
	pq.Record.Species, pq.Record.Sex = q.Get("species"), q.Get("sex")
	switch x, err := strconv.ParseFloat(pq.Bill, 64); {
	case pq.Bill == "":
		pq.Errors["bill_length_mm"] = "Enter a bill length in millimetres."
	case err != nil || math.IsNaN(x) || math.IsInf(x, 0):
		pq.Errors["bill_length_mm"] = "Bill length must be a number, such as 45.2."
	case x < billMin || x > billMax:
		pq.Errors["bill_length_mm"] = fmt.Sprintf("Bill length must be between %g and %g mm.", billMin, billMax)
	case math.Abs(x*10-math.Round(x*10)) > 1e-9:
		pq.Errors["bill_length_mm"] = "Bill length goes in steps of 0.1 mm."
	default:
		pq.Record.BillLengthMM = math.Round(x*10) / 10
	}
	if _, ok := penguins.ParseSpecies(pq.Record.Species); !ok {
		pq.Errors["species"] = "Choose a species: " + strings.Join(penguins.SpeciesNames(), ", ") + "."
	}
	if _, ok := penguins.ParseSex(pq.Record.Sex); !ok {
		pq.Errors["sex"] = "Choose female or male."
	}
	return pq
}

func predictForm(bill, species, sex string, errs map[string]string) views.PredictForm {
	f := views.PredictForm{Bill: bill, Errors: errs}
	for _, s := range penguins.SpeciesNames() {
		f.Species = append(f.Species, views.Option{Value: s, Label: s, Selected: s == species})
	}
	for _, s := range penguins.SexNames() {
		f.Sex = append(f.Sex, views.Option{Value: s, Label: s, Selected: s == sex})
	}
	return f
}

// predict serves the Penguin Mass Predictor: the empty form, or a
// prediction for the query. With the X-Fragment header it renders only the
// result section, for app.js.
func (a *App) predict(c echo.Context) error {
	v := views.PredictPage{Layout: a.layout("Penguin Mass Predictor", "predict", views.ServedLinks)}
	q := c.QueryParams()
	status := http.StatusOK
	if len(q) == 0 {
		v.Form = predictForm(strconv.FormatFloat(billDefault, 'f', 1, 64), defaultSpecies, defaultSex, nil)
		return a.renderPredict(c, status, v)
	}
	pq := parsePredictQuery(q)
	v.Form = predictForm(pq.Bill, pq.Record.Species, pq.Record.Sex, pq.Errors)
	if len(pq.Errors) > 0 {
		v.Notice = &views.Notice{Kind: "error", Title: "Check the highlighted fields", Text: "Nothing was sent to the model API."}
		return a.renderPredict(c, http.StatusUnprocessableEntity, v)
	}

	id := service.RequestID(c)
	sent, _ := json.MarshalIndent(pq.Record, "", "  ")
	a.log.Info("prediction requested", zap.String("request_id", id), zap.Float64("bill_length_mm", pq.Record.BillLengthMM),
		zap.String("species", pq.Record.Species), zap.String("sex", pq.Record.Sex))
	ctx, cancel := a.modelCtx(c)
	defer cancel()
	resp, err := a.api.Predict(ctx, []modelapi.Record{pq.Record}, modelapi.PredictOptions{Interval: true})
	if err != nil {
		status, v.Notice = a.modelFailure(c, "predict", err)
		return a.renderPredict(c, status, v)
	}
	if len(resp.Predict) != 1 || resp.Interval == nil || len(resp.Interval.Lower) != 1 {
		a.log.Error("HTTP error", zap.String("request_id", id), zap.String("op", "predict"), zap.String("error", "malformed prediction response"))
		status, v.Notice = http.StatusBadGateway, &views.Notice{Kind: "error", Title: "The prediction service answered in an unexpected form", Text: "Try again later."}
		return a.renderPredict(c, status, v)
	}
	a.log.Info("prediction returned", zap.String("request_id", id), zap.Float64("body_mass_g", resp.Predict[0]),
		zap.String("model_version", resp.Version))
	r := &views.PredictResult{
		Sent: string(sent), Version: resp.Version,
		Mass:  fmtGrams(resp.Predict[0]),
		Lower: fmtGrams(resp.Interval.Lower[0]), Upper: fmtGrams(resp.Interval.Upper[0]),
	}
	if len(resp.Warnings) > 0 {
		r.Warning = resp.Warnings[0].Message
	}
	chartQuery := url.Values{"bill_length_mm": {strconv.FormatFloat(pq.Record.BillLengthMM, 'f', 1, 64)},
		"species": {pq.Record.Species}, "sex": {pq.Record.Sex}, "v": {resp.Version}}
	r.Chart = views.Chart{
		Src: "/charts/predict.svg?" + chartQuery.Encode(),
		Alt: fmt.Sprintf("Predicted body mass of %s %s penguins across bill lengths %g–%g mm with a 95%% prediction band, the species' training range shaded and the curve dashed where it is an extrapolation; the prediction for %.1f mm, %s g, is marked.",
			strings.ToLower(pq.Record.Sex), pq.Record.Species, billMin, billMax, pq.Record.BillLengthMM, r.Mass),
	}
	v.Result = r
	return a.renderPredict(c, status, v)
}

func (a *App) renderPredict(c echo.Context, status int, v views.PredictPage) error {
	if c.Request().Header.Get(fragmentHeader) == "result" {
		return render(c, status, views.PredictResultView(v))
	}
	return render(c, status, views.PredictView(v))
}

// modelFailure logs a failed model API call with the API's error body and
// returns the status and message the page shows.
func (a *App) modelFailure(c echo.Context, op string, err error) (int, *views.Notice) {
	fields := []zap.Field{zap.String("request_id", service.RequestID(c)), zap.String("op", op), zap.Error(err)}
	var apiErr *modelapi.APIError
	if errors.As(err, &apiErr) {
		fields = append(fields, zap.Int("model_status", apiErr.Status), zap.String("model_body", apiErr.Body))
	}
	a.log.Error("HTTP error", fields...)
	if unavailable(err) {
		return http.StatusServiceUnavailable, &views.Notice{Kind: "error", Title: "Prediction service unavailable",
			Text: "The model API is not answering right now. This page works again as soon as it is back; no need to reload the app."}
	}
	if apiErr != nil && apiErr.Problem != nil && apiErr.Status < 500 {
		return apiErr.Status, &views.Notice{Kind: "error", Title: "The model API rejected the request", Text: apiErr.Problem.Detail}
	}
	return http.StatusBadGateway, &views.Notice{Kind: "error", Title: "The prediction service failed", Text: "It answered with an error; try again later."}
}

// unavailable reports whether err means the model API did not answer in
// time: the client's own verdict, or the page's deadline running out while
// it was still retrying.
func unavailable(err error) bool {
	return modelapi.Unavailable(err) || errors.Is(err, context.DeadlineExceeded)
}

func fmtGrams(x float64) string { return strconv.FormatFloat(math.Round(x), 'f', 0, 64) }

// curveStep is the spacing of the prediction curve's points (mm).
const curveStep = 0.5

// predictChart serves the prediction curve for a species and sex with one
// bill length marked. Charts are cached by model version and input, so a
// shared link or a slider revisit costs no drawing.
func (a *App) predictChart(c echo.Context) error {
	pq := parsePredictQuery(c.QueryParams())
	if len(pq.Errors) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "bad chart parameters")
	}
	key := curveKey{version: c.QueryParam("v"), species: pq.Record.Species, sex: pq.Record.Sex, bill: pq.Record.BillLengthMM}
	if svg, ok := a.curves.get(key); ok {
		return svgBlob(c, svg, true)
	}
	ctx, cancel := a.modelCtx(c)
	defer cancel()
	// The species' training range, to shade, from the served model's
	// domain (absent for a model from before it was stored).
	var trained *charts.Span
	md, err := a.api.Metadata(ctx)
	if err != nil {
		status, _ := a.modelFailure(c, "metadata", err)
		return echo.NewHTTPError(status, "model metadata unavailable")
	}
	if md.Domain != nil {
		for _, r := range md.Domain.BillLength {
			if r.Species == pq.Record.Species {
				trained = &charts.Span{Name: r.Species + " training range", From: r.Min, To: r.Max}
			}
		}
	}
	// The curve, the range's ends (so that the dashes start where the
	// range ends) and the marked point in one batch call to the model API.
	var recs []modelapi.Record
	for x := billMin; x <= billMax+1e-9; x += curveStep {
		recs = append(recs, modelapi.Record{BillLengthMM: math.Round(x*10) / 10, Species: pq.Record.Species, Sex: pq.Record.Sex})
	}
	if trained != nil {
		for _, x := range []float64{trained.From, trained.To} {
			if x >= billMin && x <= billMax {
				recs = append(recs, modelapi.Record{BillLengthMM: x, Species: pq.Record.Species, Sex: pq.Record.Sex})
			}
		}
	}
	recs = append(recs, pq.Record)
	resp, err := a.api.Predict(ctx, recs, modelapi.PredictOptions{Interval: true})
	if err != nil {
		status, _ := a.modelFailure(c, "predict", err)
		return echo.NewHTTPError(status, "prediction service unavailable")
	}
	if len(resp.Predict) != len(recs) || resp.Interval == nil || len(resp.Interval.Lower) != len(recs) {
		return echo.NewHTTPError(http.StatusBadGateway, "malformed prediction response")
	}
	if resp.Version != md.Version {
		trained = nil // the model changed between the calls: its ranges may not be this one's
	}
	n := len(recs) - 1
	curve := make([]charts.CurvePoint, n)
	for i := range curve {
		curve[i] = charts.CurvePoint{X: recs[i].BillLengthMM, Y: resp.Predict[i], Lower: resp.Interval.Lower[i], Upper: resp.Interval.Upper[i]}
	}
	// Dashed where the model API says the prediction is an extrapolation:
	// the one place that judges it.
	for _, w := range resp.Warnings {
		if w.Row >= 0 && w.Row < n {
			curve[w.Row].Extrapolated = true
		}
	}
	mark := charts.Point{X: pq.Record.BillLengthMM, Y: resp.Predict[n]}
	svg, err := charts.PredictionCurve(
		fmt.Sprintf("Predicted body mass: %s %s", strings.ToLower(pq.Record.Sex), pq.Record.Species),
		"Bill length (mm)", "Body mass (g)", curve, mark, fmt.Sprintf("%.1f mm: %s g", mark.X, fmtGrams(mark.Y)), trained)
	if err != nil {
		return err
	}
	key.version = resp.Version
	a.curves.put(key, svg)
	return svgBlob(c, svg, key.version == c.QueryParam("v"))
}

// svgBlob serves a chart; immutable ones (keyed by model version) may be
// cached by the browser.
func svgBlob(c echo.Context, svg []byte, immutable bool) error {
	if immutable {
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	} else {
		c.Response().Header().Set("Cache-Control", "no-cache")
	}
	return c.Blob(http.StatusOK, "image/svg+xml", svg)
}

type curveKey struct {
	version, species, sex string
	bill                  float64
}

// curveCache is a small LRU of rendered prediction charts.
type curveCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of curveKey, most recent first
	items map[curveKey]*list.Element
	svgs  map[curveKey][]byte
}

func newCurveCache(max int) *curveCache {
	return &curveCache{max: max, order: list.New(), items: map[curveKey]*list.Element{}, svgs: map[curveKey][]byte{}}
}

func (c *curveCache) get(k curveKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return c.svgs[k], true
}

func (c *curveCache) put(k curveKey, svg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		c.svgs[k] = svg
		return
	}
	c.items[k] = c.order.PushFront(k)
	c.svgs[k] = svg
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(curveKey)
		delete(c.items, old)
		delete(c.svgs, old)
	}
}
