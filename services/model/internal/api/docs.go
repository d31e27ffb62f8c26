package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
)

// docsTemplateText is the page layout.
//
//go:embed docs.html.tmpl
var docsTemplateText string

// docsPageTemplate renders a *docsPage.
var docsPageTemplate = template.Must(template.New("docs").Funcs(template.FuncMap{
	"prose":    docsProse,
	"schemaID": docsSchemaID,
}).Parse(docsTemplateText))

// The parts of an OpenAPI 3.1 document that the page shows. Anything else in
// the document is ignored.
type (
	docsSpec struct {
		Info struct {
			Title       string `json:"title"`
			Summary     string `json:"summary"`
			Description string `json:"description"`
			Version     string `json:"version"`
		} `json:"info"`
		Tags       []docsTag               `json:"tags"`
		Paths      map[string]docsPathItem `json:"paths"`
		Components struct {
			Parameters    map[string]docsParameter   `json:"parameters"`
			RequestBodies map[string]docsRequestBody `json:"requestBodies"`
			Responses     map[string]docsResponse    `json:"responses"`
			Examples      map[string]docsExample     `json:"examples"`
			Schemas       map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
		ProblemTypes []docsProblemType `json:"x-problem-types"`
	}
	docsTag struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	docsPathItem struct {
		Parameters []docsParameter `json:"parameters"`
		Get        *docsOperation  `json:"get"`
		Put        *docsOperation  `json:"put"`
		Post       *docsOperation  `json:"post"`
		Delete     *docsOperation  `json:"delete"`
		Options    *docsOperation  `json:"options"`
		Head       *docsOperation  `json:"head"`
		Patch      *docsOperation  `json:"patch"`
		Trace      *docsOperation  `json:"trace"`
	}
	docsOperation struct {
		OperationID string                  `json:"operationId"`
		Tags        []string                `json:"tags"`
		Summary     string                  `json:"summary"`
		Description string                  `json:"description"`
		Parameters  []docsParameter         `json:"parameters"`
		RequestBody *docsRequestBody        `json:"requestBody"`
		Responses   map[string]docsResponse `json:"responses"`
	}
	docsParameter struct {
		Ref         string `json:"$ref"`
		Name        string `json:"name"`
		In          string `json:"in"`
		Required    bool   `json:"required"`
		Description string `json:"description"`
	}
	docsRequestBody struct {
		Ref         string                   `json:"$ref"`
		Description string                   `json:"description"`
		Required    bool                     `json:"required"`
		Content     map[string]docsMediaType `json:"content"`
	}
	docsResponse struct {
		Ref         string                   `json:"$ref"`
		Description string                   `json:"description"`
		Content     map[string]docsMediaType `json:"content"`
	}
	docsMediaType struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
		Example  json.RawMessage        `json:"example"`
		Examples map[string]docsExample `json:"examples"`
	}
	docsExample struct {
		Ref     string          `json:"$ref"`
		Summary string          `json:"summary"`
		Value   json.RawMessage `json:"value"`
	}
	docsProblemType struct {
		Slug        string `json:"slug"`
		Title       string `json:"title"`
		Status      int    `json:"status"`
		Description string `json:"description"`
	}
)

// The page as the template sees it: everything resolved, ordered and
// pretty-printed.
type (
	docsPage struct {
		Title, Summary, Description, Version string
		Groups                               []*docsGroup
		Schemas                              []docsSchemaView
		Problems                             []docsProblemType
	}
	docsGroup struct {
		ID, Name, Description string
		Ops                   []docsOp
	}
	docsOp struct {
		ID, Method, Path, Summary, Description string
		Params                                 []docsParameter
		Body                                   *docsBodyView
		Responses                              []docsResponseView
	}
	docsBodyView struct {
		Description string
		Required    bool
		Media       []docsMediaView
	}
	docsResponseView struct {
		Status, Description string
		Media               []docsMediaView
	}
	docsMediaView struct {
		Type, Schema string
		Examples     []docsExampleView
	}
	docsExampleView struct {
		Summary, Text string
	}
	docsSchemaView struct {
		ID, Name, Text string
	}
)

// renderDocs renders the OpenAPI document spec as a self-contained HTML page.
func renderDocs(spec []byte) ([]byte, error) {
	var s docsSpec
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil, fmt.Errorf("docs: parsing OpenAPI document: %w", err)
	}
	page, err := s.page()
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	var buf bytes.Buffer
	if err := docsPageTemplate.Execute(&buf, page); err != nil {
		return nil, fmt.Errorf("docs: rendering: %w", err)
	}
	return buf.Bytes(), nil
}

// page groups the operations by their first tag, in the order of the
// document's tags (undeclared tags follow, untagged operations go under
// "Other"), with paths sorted within a group.
func (s *docsSpec) page() (*docsPage, error) {
	p := &docsPage{Title: s.Info.Title, Summary: s.Info.Summary, Description: s.Info.Description,
		Version: s.Info.Version, Problems: s.ProblemTypes}
	groups := map[string]*docsGroup{}
	group := func(name, description string) *docsGroup {
		g := groups[name]
		if g == nil {
			g = &docsGroup{ID: "tag-" + docsSlug(name), Name: name, Description: description}
			groups[name] = g
			p.Groups = append(p.Groups, g)
		}
		return g
	}
	for _, t := range s.Tags {
		group(t.Name, t.Description)
	}
	for _, path := range slices.Sorted(maps.Keys(s.Paths)) {
		item := s.Paths[path]
		for _, m := range []struct {
			method string
			op     *docsOperation
		}{{"get", item.Get}, {"put", item.Put}, {"post", item.Post}, {"delete", item.Delete},
			{"options", item.Options}, {"head", item.Head}, {"patch", item.Patch}, {"trace", item.Trace}} {
			if m.op == nil {
				continue
			}
			op, err := s.operation(m.method, path, m.op, item.Parameters)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", strings.ToUpper(m.method), path, err)
			}
			tag := "Other"
			if len(m.op.Tags) > 0 {
				tag = m.op.Tags[0]
			}
			g := group(tag, "")
			g.Ops = append(g.Ops, op)
		}
	}
	p.Groups = slices.DeleteFunc(p.Groups, func(g *docsGroup) bool { return len(g.Ops) == 0 })
	for _, name := range slices.Sorted(maps.Keys(s.Components.Schemas)) {
		p.Schemas = append(p.Schemas, docsSchemaView{ID: docsSchemaID(name), Name: name, Text: docsPretty(s.Components.Schemas[name])})
	}
	return p, nil
}

// operation resolves the $refs of one operation and orders its parts.
// Path-level parameters come first, as OpenAPI merges them.
func (s *docsSpec) operation(method, path string, o *docsOperation, shared []docsParameter) (docsOp, error) {
	op := docsOp{ID: "op-" + docsSlug(o.OperationID), Method: strings.ToUpper(method), Path: path,
		Summary: o.Summary, Description: o.Description}
	if o.OperationID == "" {
		op.ID = "op-" + docsSlug(method+" "+path)
	}
	for _, prm := range append(append([]docsParameter(nil), shared...), o.Parameters...) {
		prm, err := docsResolve(s.Components.Parameters, prm.Ref, prm, "parameters")
		if err != nil {
			return op, err
		}
		op.Params = append(op.Params, prm)
	}
	if o.RequestBody != nil {
		rb, err := docsResolve(s.Components.RequestBodies, o.RequestBody.Ref, *o.RequestBody, "requestBodies")
		if err != nil {
			return op, err
		}
		media, err := s.media(rb.Content)
		if err != nil {
			return op, err
		}
		op.Body = &docsBodyView{Description: rb.Description, Required: rb.Required, Media: media}
	}
	for _, status := range slices.Sorted(maps.Keys(o.Responses)) {
		r := o.Responses[status]
		r, err := docsResolve(s.Components.Responses, r.Ref, r, "responses")
		if err != nil {
			return op, err
		}
		media, err := s.media(r.Content)
		if err != nil {
			return op, err
		}
		op.Responses = append(op.Responses, docsResponseView{Status: status, Description: r.Description, Media: media})
	}
	return op, nil
}

// media lists the media types of a content map with their schema names and
// pretty-printed examples.
func (s *docsSpec) media(content map[string]docsMediaType) ([]docsMediaView, error) {
	var out []docsMediaView
	for _, typ := range slices.Sorted(maps.Keys(content)) {
		mt := content[typ]
		v := docsMediaView{Type: typ}
		if ref := mt.Schema.Ref; ref != "" {
			v.Schema = ref[strings.LastIndex(ref, "/")+1:]
		}
		if len(mt.Example) > 0 {
			v.Examples = append(v.Examples, docsExampleView{Text: docsPretty(mt.Example)})
		}
		for _, name := range slices.Sorted(maps.Keys(mt.Examples)) {
			ex, err := docsResolve(s.Components.Examples, mt.Examples[name].Ref, mt.Examples[name], "examples")
			if err != nil {
				return nil, err
			}
			summary := ex.Summary
			if summary == "" {
				summary = name
			}
			v.Examples = append(v.Examples, docsExampleView{Summary: summary, Text: docsPretty(ex.Value)})
		}
		out = append(out, v)
	}
	return out, nil
}

// docsResolve returns v, or when ref is set the component it points to in
// components (the section named kind).
func docsResolve[T any](components map[string]T, ref string, v T, kind string) (T, error) {
	if ref == "" {
		return v, nil
	}
	name, ok := strings.CutPrefix(ref, "#/components/"+kind+"/")
	target, found := components[name]
	if !ok || !found {
		return v, fmt.Errorf("unresolved $ref %q", ref)
	}
	return target, nil
}

// docsPretty indents a JSON example; a JSON string is shown as its text.
func docsPretty(raw json.RawMessage) string {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

// docsProse renders a description: paragraphs separated by blank lines, with
// `backquoted` spans as code. It is the only place that builds HTML by hand,
// and it escapes all the text it is given.
func docsProse(s string) template.HTML {
	var b strings.Builder
	for para := range strings.SplitSeq(strings.TrimSpace(s), "\n\n") {
		if para = strings.TrimSpace(para); para == "" {
			continue
		}
		b.WriteString("<p>")
		for i, part := range strings.Split(para, "`") {
			if i%2 == 1 {
				b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
			} else {
				b.WriteString(template.HTMLEscapeString(part))
			}
		}
		b.WriteString("</p>\n")
	}
	return template.HTML(b.String())
}

// docsSchemaID is the id of a component schema's section.
func docsSchemaID(name string) string { return "schema-" + docsSlug(name) }

// docsSlug makes an HTML id fragment: lower-case letters, digits and dashes.
func docsSlug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

// docsSecurityHeaders are the frontend's security headers, for the one
// HTML page the model service serves. Its policy is the frontend's, but
// for styles: the page's one inline stylesheet is allowed by its hash
// (styleHash), nothing else. Set on /docs only: the JSON answers are
// never rendered as pages.
func docsSecurityHeaders(page []byte) (map[string]string, error) {
	style, err := styleHash(page)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src '" + style + "'; img-src 'self'; " +
			"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
		"X-Frame-Options":            "DENY",
		"Cross-Origin-Opener-Policy": "same-origin",
		"Permissions-Policy":         "camera=(), microphone=(), geolocation=()",
	}, nil
}

// styleHash is the CSP hash source of the page's one <style> element.
func styleHash(page []byte) (string, error) {
	_, rest, ok := bytes.Cut(page, []byte("<style>"))
	css, _, closed := bytes.Cut(rest, []byte("</style>"))
	if !ok || !closed || bytes.Contains(rest, []byte("<style")) {
		return "", errors.New("the /docs page must have exactly one <style> element")
	}
	sum := sha256.Sum256(css)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:]), nil
}
