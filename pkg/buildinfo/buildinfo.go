// Package buildinfo reports how a binary was built: the version and commit
// injected at link time plus what runtime/debug.ReadBuildInfo knows.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sort"
)

// Version and Commit are set at link time:
//
//	-ldflags "-X github.com/palmerops/penguins/pkg/buildinfo.Version=v1.2.3 -X github.com/palmerops/penguins/pkg/buildinfo.Commit=abc123"
var (
	Version = "dev"
	Commit  = ""
)

// Info describes the running binary.
type Info struct {
	Version   string            `json:"version"`
	Commit    string            `json:"commit,omitempty"`
	GoVersion string            `json:"go_version"`
	Module    string            `json:"module,omitempty"`
	Modified  bool              `json:"modified,omitempty"`
	Deps      map[string]string `json:"deps,omitempty"`
}

// Read returns the build information of the running binary. Commit falls back
// to the VCS revision the go command stamped, when there is one.
func Read() Info {
	info := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.Module = bi.Main.Path
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if len(bi.Deps) > 0 {
		info.Deps = make(map[string]string, len(bi.Deps))
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			info.Deps[d.Path] = d.Version
		}
	}
	return info
}

// DepNames returns the dependency paths of info in sorted order.
func (i Info) DepNames() []string {
	names := make([]string, 0, len(i.Deps))
	for n := range i.Deps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
