package api

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestRenderDocs renders the real OpenAPI document and checks that the page
// documents every path and problem type, links only within itself, loads
// nothing, and keeps the structure screen readers rely on.
func TestRenderDocs(t *testing.T) {
	spec, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	page, err := renderDocs(spec)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("the page does not parse as HTML: %v", err)
	}

	var (
		text      strings.Builder
		ids       = map[string]bool{}
		fragments []string
		lastLevel int
		lang      string
	)
	for n := range doc.Descendants() {
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
			continue
		}
		if n.Type != html.ElementNode {
			continue
		}
		attr := map[string]string{}
		for _, a := range n.Attr {
			attr[a.Key] = a.Val
		}
		if id, ok := attr["id"]; ok {
			if ids[id] {
				t.Errorf("duplicate id %q", id)
			}
			ids[id] = true
		}
		switch n.Data {
		case "html":
			lang = attr["lang"]
		case "script", "link", "img", "iframe", "object", "embed":
			t.Errorf("the page has a <%s> element; it must be self-contained", n.Data)
		case "a":
			if href := attr["href"]; strings.HasPrefix(href, "#") {
				fragments = append(fragments, href[1:])
			} else if strings.Contains(href, "//") {
				t.Errorf("link to another site: %q", href)
			}
		case "th":
			if attr["scope"] == "" {
				t.Error("a table header cell has no scope")
			}
		case "h1", "h2", "h3", "h4", "h5", "h6":
			level := int(n.Data[1] - '0')
			if level > lastLevel+1 {
				t.Errorf("heading <%s> follows <h%d>: heading levels skip", n.Data, lastLevel)
			}
			lastLevel = level
		}
	}
	if lang == "" {
		t.Error("<html> has no lang attribute")
	}
	for _, f := range fragments {
		if !ids[f] {
			t.Errorf("link to #%s, which is not on the page", f)
		}
	}

	var s struct {
		Paths        map[string]json.RawMessage `json:"paths"`
		ProblemTypes []struct {
			Slug string `json:"slug"`
		} `json:"x-problem-types"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		t.Fatal(err)
	}
	body := text.String()
	for path := range s.Paths {
		if !strings.Contains(body, path) {
			t.Errorf("path %s is not on the page", path)
		}
	}
	if !ids["problem-invalid-input"] {
		t.Error(`no element with id="problem-invalid-input"`)
	}
	if len(s.ProblemTypes) == 0 {
		t.Error("the document lists no x-problem-types")
	}
	for _, p := range s.ProblemTypes {
		if !ids["problem-"+p.Slug] {
			t.Errorf("problem type %q has no anchor", p.Slug)
		}
	}

	if _, err := renderDocs([]byte("{")); err == nil {
		t.Error("renderDocs accepted malformed JSON")
	}
	if _, err := renderDocs([]byte(`{"paths": {"/x": {"get": {"parameters": [{"$ref": "#/components/parameters/Nope"}]}}}}`)); err == nil {
		t.Error("renderDocs accepted an unresolved $ref")
	}
}
