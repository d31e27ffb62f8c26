package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// TestAPIKeysMounted: outside dev, each service's config names its API key
// file (MODEL_API_KEYS_FILE, FRONTEND_MODEL_API_KEY_FILE), and the file is
// in a Secret mounted read-only as a directory: a subPath mount never sees
// a Secret's update, so a revocation would not arrive.
func TestAPIKeysMounted(t *testing.T) {
	type deployment struct {
		Kind     string
		Metadata struct{ Name string }
		Spec     struct {
			Template struct {
				Spec struct {
					Volumes []struct {
						Name   string
						Secret *struct {
							SecretName string `json:"secretName"`
						}
					}
					Containers []struct {
						Name    string
						EnvFrom []struct {
							ConfigMapRef struct{ Name string } `json:"configMapRef"`
						} `json:"envFrom"`
						VolumeMounts []struct {
							Name      string
							MountPath string `json:"mountPath"`
							SubPath   string `json:"subPath"`
							ReadOnly  bool   `json:"readOnly"`
						} `json:"volumeMounts"`
					}
				}
			}
		}
		Data map[string]string
	}
	for _, env := range []string{"dev", "staging", "prod"} {
		res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "k8s/overlays/"+env)
		if err != nil {
			t.Fatalf("kustomize build k8s/overlays/%s: %v", env, err)
		}
		configs := map[string]map[string]string{}
		var deps []deployment
		for _, r := range res.Resources() {
			b, err := r.AsYAML()
			if err != nil {
				t.Fatal(err)
			}
			var o deployment
			if err := yaml.Unmarshal(b, &o); err != nil {
				t.Fatal(err)
			}
			switch o.Kind {
			case "ConfigMap":
				configs[o.Metadata.Name] = o.Data
			case "Deployment":
				deps = append(deps, o)
			}
		}
		for _, want := range []struct{ deployment, variable string }{
			{"model-service", "MODEL_API_KEYS_FILE"}, {"frontend-service", "FRONTEND_MODEL_API_KEY_FILE"},
		} {
			for _, d := range deps {
				if d.Metadata.Name != want.deployment {
					continue
				}
				ps := d.Spec.Template.Spec
				for _, c := range ps.Containers {
					if c.Name != want.deployment {
						continue
					}
					file := ""
					for _, ef := range c.EnvFrom {
						if f := configs[ef.ConfigMapRef.Name][want.variable]; f != "" {
							file = f
						}
					}
					if file == "" {
						if env != "dev" {
							t.Errorf("%s %s: %s is not set; %s requires API keys", env, d.Metadata.Name, want.variable, env)
						}
						continue
					}
					mounted := false
					for _, m := range c.VolumeMounts {
						if !strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") || m.SubPath != "" || !m.ReadOnly {
							continue
						}
						for _, v := range ps.Volumes {
							if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName != "" {
								mounted = true
							}
						}
					}
					if !mounted {
						t.Errorf("%s %s: %s=%s is not in a Secret mounted read-only as a directory", env, d.Metadata.Name, want.variable, file)
					}
				}
			}
		}
	}
}

// TestComposeFrontendKeyIsASecret: in compose, the frontend's key reaches it
// as a compose secret, not a bind mount, read from the environment's own
// directory of keys, at the file that staging's and prod's
// FRONTEND_MODEL_API_KEY_FILE names; and dev's stand-in exists and is
// empty, so that a fresh clone starts with no setup.
func TestComposeFrontendKeyIsASecret(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Volumes []string
			Secrets []struct{ Source, Target string }
		}
		Secrets map[string]struct{ File string }
	}
	b, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	front := c.Services["frontend-service"]
	if len(front.Secrets) != 1 || front.Secrets[0].Source != "frontend-model-api-key" {
		t.Fatalf("frontend-service secrets %+v, want the one secret frontend-model-api-key", front.Secrets)
	}
	if want := "${PENGUINS_KEYS:-./deploy/keys}/${PENGUINS_ENV:-dev}/frontend-model-api-key"; c.Secrets["frontend-model-api-key"].File != want {
		t.Errorf("secret frontend-model-api-key is %q, want %q", c.Secrets["frontend-model-api-key"].File, want)
	}
	for _, v := range front.Volumes {
		if strings.Contains(v, "keys") {
			t.Errorf("frontend-service also mounts %q: the key comes only as the secret", v)
		}
	}
	for _, env := range []string{"staging", "prod"} {
		file := envFile(t, filepath.Join("env", env, "frontend.env"))["FRONTEND_MODEL_API_KEY_FILE"]
		if target := front.Secrets[0].Target; file == "" || file != target {
			t.Errorf("%s: FRONTEND_MODEL_API_KEY_FILE=%q, but the secret is at %q", env, file, target)
		}
	}
	if fi, err := os.Stat("keys/dev/frontend-model-api-key"); err != nil || fi.Size() != 0 {
		t.Errorf("dev's stand-in key file: %v (want an empty file)", err)
	}
}
