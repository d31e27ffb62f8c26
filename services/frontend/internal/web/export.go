package web

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/a-h/templ"

	"github.com/palmerops/penguins/services/frontend/internal/views"
)

// Export writes Overview, Explore and Model as a static site into dir:
// HTML with relative links, the SVG charts and the stylesheet, ready for
// GitHub Pages. The Model page needs the model API, as when served.
//
// Monitoring is left out, as Predict and Status are: it reports the live
// traffic of one running model service, so a copy would go stale at once,
// and the service that `make site` exports from has scored nothing, so the
// copy would only ever say "not enough traffic yet".
func (a *App) Export(ctx context.Context, dir string) ([]string, error) {
	md, err := a.api.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: the Model page needs the model API: %w", err)
	}
	a.served.note(md.Version)
	links := views.ExportLinks
	mv, modelFiles, err := a.modelPage(ctx, md, links)
	if err != nil {
		return nil, fmt.Errorf("export: the model's diagnostics: %w", err)
	}
	pages := map[string]templ.Component{
		"index.html":   views.OverviewView(a.overviewView(md, nil, links)),
		"explore.html": views.ExploreView(a.exploreView(links)),
		"model.html":   views.ModelView(mv),
	}
	files := map[string][]byte{}
	for name, comp := range pages {
		var buf bytes.Buffer
		if err := comp.Render(ctx, &buf); err != nil {
			return nil, fmt.Errorf("export: rendering %s: %w", name, err)
		}
		files[name] = buf.Bytes()
	}
	for name, svg := range a.static {
		files[filepath.Join("charts", name)] = svg
	}
	for name, svg := range modelFiles {
		files[filepath.Join("charts", "model", md.Version, name)] = svg
	}
	css, err := fs.ReadFile(staticFiles, "static/style.css")
	if err != nil {
		return nil, err
	}
	files[filepath.Join("static", "style.css")] = css

	var written []string
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		written = append(written, name)
	}
	return written, nil
}
