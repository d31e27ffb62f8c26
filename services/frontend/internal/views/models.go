// Package views renders the frontend's pages with templ. Handlers pass view
// models (the plain structs below), never domain types.
package views

// Links are the URLs the pages link to: absolute paths when served, relative
// files when exported as a static site.
type Links struct {
	Home, Explore, Model, Predict, Monitoring, Status string
	Static                                            string // prefix of /static/ assets
	Charts                                            string // prefix of chart images
	Live                                              bool   // false in the exported static site: no Predict, Monitoring or Status
}

// ServedLinks are the links of the running app.
var ServedLinks = Links{Home: "/", Explore: "/explore", Model: "/model", Predict: "/predict", Monitoring: "/monitoring", Status: "/status",
	Static: "/static/", Charts: "/charts/", Live: true}

// ExportLinks are the links of the static site written by `export`.
var ExportLinks = Links{Home: "index.html", Explore: "explore.html", Model: "model.html", Static: "static/", Charts: "charts/"}

// Layout is what every page shares.
type Layout struct {
	Title   string
	Active  string // "home", "explore", "model", "predict", "monitoring", "status"
	Links   Links
	Version string // the frontend's build version
	// Stylesheet and Script are the URLs of static/style.css and
	// static/app.js: served, names with their content's hash, so that
	// browsers may keep them for good.
	Stylesheet, Script string
}

// Notice is a message box: Kind is "ok", "info", "warning" or "error".
type Notice struct {
	Kind, Title, Text string
}

// ModelSummary is what the overview shows of the served model.
type ModelSummary struct {
	Available bool
	Version   string
	Formula   string
	R2, AdjR2 string
	RMSE, N   string
	Created   string
}

// Overview is the home page.
type Overview struct {
	Layout
	Model       ModelSummary
	Status      Notice // live status of the model service
	Rows        int
	Complete    int
	ModelAPIURL string
}

// StatCell is a mean and standard deviation, formatted.
type StatCell struct{ N, Mean, SD string }

// SummaryRow is one species × sex group.
type SummaryRow struct {
	Species, Sex string
	Rows         int
	Cells        []StatCell // one per Explore.Measures
}

// DropRow counts rows left out of the model, by reason.
type DropRow struct {
	Reason string
	Count  int
}

// Chart is an SVG image with its text alternative.
type Chart struct {
	Src, Alt string
}

// Explore is the EDA page.
type Explore struct {
	Layout
	Measures     []string // column labels with units
	Groups       []SummaryRow
	Rows         int
	Complete     int
	Dropped      []DropRow
	Scatter      Chart
	Distribution Chart
}

// CoefRow is one row of the coefficient table.
type CoefRow struct {
	Term, Estimate, StdError, T, P string
}

// ModelPage shows the served model.
type ModelPage struct {
	Layout
	Unavailable *Notice
	Version     string
	Created     string
	Formula     string
	DataSHA256  string
	DataSource  string
	Coefs       []CoefRow
	R2, AdjR2   string
	RMSE, Sigma string
	N, DF       string
	Residuals   Chart
	PredObs     Chart
	// NoDiagnostics says why the diagnostic plots are missing ("" when
	// they are shown).
	NoDiagnostics string
}

// Option is a select option.
type Option struct {
	Value, Label string
	Selected     bool
}

// PredictForm is the Penguin Mass Predictor's form, echoing what was sent.
type PredictForm struct {
	Bill    string
	Species []Option
	Sex     []Option
	Errors  map[string]string // field name → message
}

// PredictResult is a prediction to show.
type PredictResult struct {
	Sent    string // the JSON sent to the model API
	Mass    string
	Lower   string
	Upper   string
	Version string
	Warning string
	Chart   Chart
}

// PredictPage is the Penguin Mass Predictor.
type PredictPage struct {
	Layout
	Form   PredictForm
	Result *PredictResult
	Notice *Notice // the prediction service is unavailable, or rejected the input
}

// CallRow is one recent call to the model API.
type CallRow struct {
	At, Op, Status, Duration, Attempts, Error string
}

// StatusPage shows the health of both services.
type StatusPage struct {
	Layout
	ModelURL     string
	ModelStatus  Notice
	ModelVersion string
	Aliases      AliasesSection
	Calls        []CallRow
	P50, P95     string
	Build        []KV
}

// AliasesSection is where the model store's aliases point and how they got
// there. With Error set, the rest is empty.
type AliasesSection struct {
	Error   *Notice     // the call failed, or the model API predates /aliases
	Empty   bool        // no aliases and no history: no store, or nothing promoted
	Aliases []AliasRow  // by name
	History []Promotion // newest first
	Shown   int         // len(History)
	Total   int         // promotions in the store's history
	Promote string      // the command that promotes, for the empty state
}

// AliasRow is one alias and its target.
type AliasRow struct {
	Name, Version string
	Served        bool // the target is the version the model service serves
}

// Promotion is one change of an alias, ready to show.
type Promotion struct {
	Time, Alias, From, To, Actor, Reason string
	Flags                                []string // "forced", "rollback"
}

// MonitoringPage shows how the records the model service scored recently
// compare with its training data, and how the model did on ground truth.
type MonitoringPage struct {
	Layout
	// Unavailable is set when the model API answered neither call; the
	// page then shows only it and the alert rules.
	Unavailable *Notice
	Summary     Notice // the verdict: not tracked, not enough traffic, or the worst status
	Version     string // the served model the drift is measured against
	AsOf        string // when the frontend asked, UTC
	Tracked     bool   // false: the model service tracks no drift (Summary says why)
	Window      DriftWindow
	Thresholds  string // how a status follows from the PSI, in words
	Features    []FeatureDrift
	// DriftError is set when the drift call failed but the performance
	// call did not: the drift part shows only it.
	DriftError  *Notice
	Performance Performance
	Shadow      Shadow
	AlertRules  AlertRules
}

// Shadow is the served model (the champion) against the challenger that
// scores a sample of the live records in its shadow, formatted.
type Shadow struct {
	// Notice says why there is no comparison (no shadow configured, no
	// challenger loaded, nothing compared yet, a failed call); nil when
	// there is one.
	Notice *Notice
	// Hint is the setting that turns shadow scoring on, shown while it is
	// off; "" otherwise.
	Hint       string
	Status     string // the model API's: off, unavailable, ok; "" when the call failed
	Alias      string
	Champion   string
	Challenger string
	SampleRate string // "10%"
	// Records compared for this pair of versions, and every pair's scored
	// and dropped since the model service started.
	Records, Scored, Dropped string
	First, Last              string // time and age; "" while nothing is compared
	// Compared is true once records are compared: the differences below
	// are set.
	Compared                            bool
	MeanDifference                      string // signed, champion − challenger: "+1.4"
	MeanAbsDifference, MaxAbsDifference string
	Quantiles                           []ShadowQuantile
	Buckets                             []ShadowBucket
	// SVG is the distribution of |difference| as an SVG element drawn by
	// the charts package, or "" with ChartError saying why.
	SVG        string
	ChartError string
}

// ShadowQuantile is an estimated quantile of |difference|: "p90", "4.9".
type ShadowQuantile struct{ Label, Value string }

// ShadowBucket is one bucket of |difference|: its label ("1–2"), the
// records in it and their share (%).
type ShadowBucket struct{ Label, Count, Share string }

// Performance is the served model's metrics by period from ground truth:
// labelled observations scored and pinned by the model service's evaluate
// subcommand.
type Performance struct {
	// Notice says why there are no metrics to show: nothing pinned yet, a
	// model service without the endpoint, or a failed call.
	Notice *Notice
	// PinHint is the command that pins metrics, shown while nothing is
	// pinned; "" otherwise.
	PinHint   string
	Version   string
	Period    string // the periods' kind, for people: "year"
	Charts    []MetricChart
	Rows      []PerformanceRow
	Reference *PerformanceRow // the metrics on the training data; nil when the model service has none
}

// MetricChart is one metric by period: an SVG element drawn by the charts
// package, or "" with ChartError saying why.
type MetricChart struct {
	ID, Name   string // the model API's metric (rmse) and its name for people
	SVG        string
	ChartError string
}

// PerformanceRow is one period's metrics, formatted; a metric the model
// service did not send is "–".
type PerformanceRow struct {
	Period, N            string
	RMSE, MAE, RSQ, Bias string
}

// DriftWindow is the window of recent records, formatted.
type DriftWindow struct {
	Records, Size  string
	Oldest, Newest string // time and age; "" while the window is empty
	ResetAt        string
	ResetReason    string
}

// FeatureDrift is one feature's (or the prediction's) drift.
type FeatureDrift struct {
	ID          string // the model API's name (bill_length_mm), also the metrics label
	Name        string // for people: "Bill length (mm)"
	Status      string // the model API's status: ok, warn, alert, insufficient_data
	StatusLabel string // for people: "OK", "Not enough data"
	PSI         string // "0.031", or "–" without enough records
	// SVG is the chart of reference against current shares by bin, an SVG
	// element drawn by the charts package (which writes no style attributes,
	// so it renders under the CSP), or "" with ChartError saying why.
	SVG        string
	ChartError string
	Bins       []DriftBin
}

// DriftBin is one bin's shares, as percentages.
type DriftBin struct {
	Label, Reference, Current string
}

// AlertRules says where the alert rules are: Path in the repository, and
// URL when the deployment says where to read them.
type AlertRules struct {
	Path, URL string
}

// KV is a labelled value.
type KV struct{ Key, Value string }

// ErrorPage is shown for 404s and other errors.
type ErrorPage struct {
	Layout
	Status  int
	Message string
}
