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
	// A valid length is a few characters; the form shows back a clipped
	// prefix of anything else.
	pq.Bill = service.Clip(pq.Bill, maxEchoed)
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
	a.served.note(resp.Version)
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

// failedNotice logs a page section's failed model API call op (through
// modelFailure) and returns the section's error notice: answered when the
// model API answered with an error, unanswered when it did not answer.
func (a *App) failedNotice(c echo.Context, op string, err error, title, answered, unanswered string) *views.Notice {
	text := answered
	if status, _ := a.modelFailure(c, op, err); status == http.StatusServiceUnavailable {
		text = unanswered
	}
	return &views.Notice{Kind: "error", Title: title, Text: text}
}

// modelFailure logs a failed model API call with the API's error body and
// returns the status and message the page shows.
func (a *App) modelFailure(c echo.Context, op string, err error) (int, *views.Notice) {
	fields := []zap.Field{zap.String("request_id", service.RequestID(c)), zap.String("op", op), zap.Error(err)}
	var apiErr *modelapi.APIError
	if errors.As(err, &apiErr) {
		fields = append(fields, zap.Int("model_status", apiErr.Status), zap.String("model_body", apiErr.Body))
	}
	if modelapi.AuthFailed(err) {
		// The service answered: it refuses the frontend's key. Not
		// "unavailable": retrying cannot help, the key must be fixed.
		a.log.Error("model API auth failure: it refuses the frontend's key (FRONTEND_MODEL_API_KEY_FILE)", fields...)
		return http.StatusBadGateway, &views.Notice{Kind: "error", Title: "Model API auth failure",
			Text: "The model API refuses the frontend's API key (" + authStatus(err) + "). The key needs fixing, not a retry; the frontend's logs have the details."}
	}
	if service.ClientGone(c.Request().Context()) {
		// The call was cut short because the browser left: not a failure
		// of either service (the access line says 499).
		a.log.Info("model API call abandoned: the client went away", fields...)
	} else {
		a.log.Error("HTTP error", fields...)
	}
	if unavailable(err) {
		return http.StatusServiceUnavailable, &views.Notice{Kind: "error", Title: "Prediction service unavailable",
			Text: "The model API is not answering right now. This page works again as soon as it is back; no need to reload the app."}
	}
	if apiErr != nil && apiErr.Problem != nil && apiErr.Status < 500 {
		return apiErr.Status, &views.Notice{Kind: "error", Title: "The model API rejected the request", Text: apiErr.Problem.Detail}
	}
	return http.StatusBadGateway, &views.Notice{Kind: "error", Title: "The prediction service failed", Text: "It answered with an error; try again later."}
}

// authStatus says which refusal an auth failure is.
func authStatus(err error) string {
	if ae, ok := errors.AsType[*modelapi.APIError](err); ok && ae.Status == http.StatusForbidden {
		return "403: the key lacks a scope; it needs predict and read"
	}
	return "401: no key, or one that is unknown or revoked"
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

// curveRows are the bill lengths a prediction chart needs the model's
// answer for: every length the form accepts (billMin to billMax in steps
// of 0.1 mm), so that one call per version, species and sex draws the
// curve and marks any length on it.
var curveRows = func() []float64 {
	var out []float64
	for i := 0; billMin+float64(i)/10 <= billMax+1e-9; i++ {
		out = append(out, math.Round((billMin*10+float64(i)))/10)
	}
	return out
}()

// curveKey names one prediction curve: a model version, species and sex.
type curveKey struct{ version, species, sex string }

// curve is the model's answer for curveRows: the fit, its interval, which
// rows it flagged as extrapolations, and the species' training range of
// bill length from the version's domain (nil for a model from before the
// domain was stored).
type curve struct {
	fit, lower, upper []float64
	extrapolated      []bool
	trained           *charts.Span
}

// maxCurves bounds the curves kept: every species and sex of a few versions.
const maxCurves = 6 * maxModelVersions

// predictChart serves the prediction curve for a species and sex with one
// bill length marked. The link names the model version (v) that the page
// showed; a chart of any other version is not found, and asking whether v
// is still served costs at most one model call a second whatever the
// links (isServed). The curve itself is one model call per version,
// species and sex, so no query can make the frontend call the model
// service for each request; drawn charts are kept too.
func (a *App) predictChart(c echo.Context) error {
	pq := parsePredictQuery(c.QueryParams())
	if len(pq.Errors) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "bad chart parameters")
	}
	v := c.QueryParam("v")
	if v == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "the chart link names no model version (v)")
	}
	key := chartKey{curveKey{v, pq.Record.Species, pq.Record.Sex}, pq.Record.BillLengthMM}
	if svg, ok := a.charts.get(key); ok {
		return svgBlob(c, svg, true)
	}
	ctx, cancel := a.modelCtx(c)
	defer cancel()
	cv, err := a.curveFor(ctx, key.curve)
	if errors.Is(err, errOtherVersion) {
		return echo.ErrNotFound // an old page's link, or a made-up version
	}
	if err != nil {
		status, _ := a.modelFailure(c, "predict", err)
		return echo.NewHTTPError(status, "prediction service unavailable")
	}
	// A point every curveStep, and at the training range's ends so that
	// the dashes start where the range ends; dashed where the model API
	// flagged the prediction as an extrapolation, the one place that
	// judges it.
	points := make([]charts.CurvePoint, 0, len(curveRows)/5+3)
	for i, x := range curveRows {
		if math.Abs(math.Remainder(x, curveStep)) < 1e-9 || cv.trained != nil && (x == cv.trained.From || x == cv.trained.To) {
			points = append(points, charts.CurvePoint{X: x, Y: cv.fit[i], Lower: cv.lower[i], Upper: cv.upper[i], Extrapolated: cv.extrapolated[i]})
		}
	}
	i := int(math.Round((pq.Record.BillLengthMM - billMin) * 10))
	mark := charts.Point{X: pq.Record.BillLengthMM, Y: cv.fit[i]}
	svg, err := charts.PredictionCurve(
		fmt.Sprintf("Predicted body mass: %s %s", strings.ToLower(pq.Record.Sex), pq.Record.Species),
		"Bill length (mm)", "Body mass (g)", points, mark, fmt.Sprintf("%.1f mm: %s g", mark.X, fmtGrams(mark.Y)), cv.trained)
	if err != nil {
		return err
	}
	a.charts.put(key, svg)
	return svgBlob(c, svg, true)
}

// curveFor returns the model's predictions for curveRows of a species and
// sex by the version key names, from one model call per key (concurrent
// requests share it), or errOtherVersion when that version is not served.
func (a *App) curveFor(ctx context.Context, key curveKey) (*curve, error) {
	a.mu.Lock()
	cv, ok := a.curves[key]
	a.mu.Unlock()
	if ok {
		return cv, nil
	}
	served, err := a.isServed(ctx, key.version)
	if err != nil {
		return nil, err
	}
	if !served {
		return nil, fmt.Errorf("%w: no chart of version %s", errOtherVersion, service.Clip(key.version, 64))
	}
	res, err, _ := a.curveCalls.Do(key.version+"\x00"+key.species+"\x00"+key.sex, func() (any, error) {
		// Not the caller's context: the answer serves every waiter.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.ModelBudget)
		defer cancel()
		recs := make([]modelapi.Record, len(curveRows))
		for i, x := range curveRows {
			recs[i] = modelapi.Record{BillLengthMM: x, Species: key.species, Sex: key.sex}
		}
		md, err := a.api.Metadata(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := a.api.Predict(ctx, recs, modelapi.PredictOptions{Interval: true})
		if err != nil {
			return nil, err
		}
		if len(resp.Predict) != len(recs) || resp.Interval == nil || len(resp.Interval.Lower) != len(recs) || len(resp.Interval.Upper) != len(recs) {
			return nil, errors.New("malformed prediction response")
		}
		a.served.note(resp.Version)
		cv := &curve{fit: resp.Predict, lower: resp.Interval.Lower, upper: resp.Interval.Upper, extrapolated: make([]bool, len(recs))}
		// Every flagged row, not the warnings: those list at most 100,
		// and an Adelie's curve has 161 rows outside its data.
		for _, row := range resp.ExtrapolatedRows {
			if row >= 0 && row < len(recs) {
				cv.extrapolated[row] = true
			}
		}
		if md.Domain != nil && md.Version == resp.Version { // else the model changed between the calls
			for _, r := range md.Domain.BillLength {
				if r.Species == key.species {
					cv.trained = &charts.Span{Name: r.Species + " training range", From: r.Min, To: r.Max}
				}
			}
		}
		a.mu.Lock()
		if len(a.curves) >= maxCurves {
			clear(a.curves) // old versions' curves are no longer linked
		}
		a.curves[curveKey{resp.Version, key.species, key.sex}] = cv
		a.mu.Unlock()
		if resp.Version != key.version {
			return nil, fmt.Errorf("%w: version %s answered for %s", errOtherVersion, resp.Version, key.version)
		}
		return cv, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*curve), nil
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

// chartKey names one prediction chart: a curve with a bill length marked.
type chartKey struct {
	curve curveKey
	bill  float64
}

// chartCache is a small LRU of drawn prediction charts.
type chartCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of chartKey, most recent first
	items map[chartKey]*list.Element
	svgs  map[chartKey][]byte
}

func newChartCache(max int) *chartCache {
	return &chartCache{max: max, order: list.New(), items: map[chartKey]*list.Element{}, svgs: map[chartKey][]byte{}}
}

func (c *chartCache) get(k chartKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return c.svgs[k], true
}

func (c *chartCache) put(k chartKey, svg []byte) {
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
		old := c.order.Remove(c.order.Back()).(chartKey)
		delete(c.items, old)
		delete(c.svgs, old)
	}
}
