package deploy

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The parts of the rendered objects the invariants look at.
type object struct {
	Kind     string
	Metadata struct {
		Name      string
		Namespace string
	}
	Spec struct {
		Replicas     *int
		MinReplicas  *int `json:"minReplicas"`
		MinAvailable *int `json:"minAvailable"`
		Selector     struct {
			MatchLabels map[string]string `json:"matchLabels"`
		}
		ScaleTargetRef struct{ Name string } `json:"scaleTargetRef"`
		Strategy       struct {
			RollingUpdate struct {
				MaxUnavailable any `json:"maxUnavailable"`
			} `json:"rollingUpdate"`
		}
		Template struct {
			Metadata struct {
				Labels map[string]string
			}
			Spec podSpec
		}
	}
	Data map[string]string
}

type podSpec struct {
	EnableServiceLinks            *bool `json:"enableServiceLinks"`
	TerminationGracePeriodSeconds *int  `json:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool `json:"runAsNonRoot"`
		RunAsUser    *int  `json:"runAsUser"`
	} `json:"securityContext"`
	Containers []struct {
		Name           string
		Image          string
		LivenessProbe  *probe `json:"livenessProbe"`
		ReadinessProbe *probe `json:"readinessProbe"`
		Resources      struct {
			Requests map[string]string
			Limits   map[string]string
		}
		EnvFrom []struct {
			ConfigMapRef struct{ Name string } `json:"configMapRef"`
		} `json:"envFrom"`
		SecurityContext struct {
			ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
			Capabilities             struct{ Drop []string }
		} `json:"securityContext"`
	}
}

type probe struct {
	HTTPGet struct{ Path string } `json:"httpGet"`
}

// render builds an overlay with kustomize (krusty), as `kubectl apply -k` would.
func render(t *testing.T, env string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), "k8s/overlays/"+env)
	if err != nil {
		t.Fatalf("kustomize build k8s/overlays/%s: %v", env, err)
	}
	var out []object
	for _, r := range res.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var o object
		if err := yaml.Unmarshal(b, &o); err != nil {
			t.Fatalf("%s: %v", r.GetName(), err)
		}
		out = append(out, o)
	}
	return out
}

func TestKubernetesOverlays(t *testing.T) {
	for _, env := range []string{"dev", "staging", "prod"} {
		t.Run(env, func(t *testing.T) {
			objs := render(t, env)
			kinds := map[string][]object{}
			configs := map[string]object{}
			for _, o := range objs {
				kinds[o.Kind] = append(kinds[o.Kind], o)
				if o.Metadata.Namespace != "penguins-"+env {
					t.Errorf("%s %s in namespace %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
				}
				if o.Kind == "ConfigMap" {
					configs[o.Metadata.Name] = o
				}
			}
			if len(kinds["Deployment"]) != 2 || len(kinds["Service"]) != 2 || len(kinds["HorizontalPodAutoscaler"]) != 1 || len(kinds["PodDisruptionBudget"]) != 2 {
				t.Fatalf("rendered %d deployments, %d services, %d HPAs, %d PDBs", len(kinds["Deployment"]), len(kinds["Service"]),
					len(kinds["HorizontalPodAutoscaler"]), len(kinds["PodDisruptionBudget"]))
			}
			for _, d := range kinds["Deployment"] {
				checkDeployment(t, env, d, configs)
				if env == "prod" {
					if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
						t.Errorf("prod %s runs %v replicas, want at least 2", d.Metadata.Name, d.Spec.Replicas)
					}
					if !coveredByPDB(d, kinds["PodDisruptionBudget"]) {
						t.Errorf("prod %s has no PodDisruptionBudget", d.Metadata.Name)
					}
				}
			}
			hpa := kinds["HorizontalPodAutoscaler"][0]
			if hpa.Spec.ScaleTargetRef.Name != "model-service" {
				t.Errorf("the HPA scales %q", hpa.Spec.ScaleTargetRef.Name)
			}
			if env == "prod" && (hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2) {
				t.Errorf("prod HPA may scale the model service below 2 replicas")
			}
			// The environment's own settings are in its config.
			for name, o := range configs {
				key := "MODEL_ENV"
				if strings.HasPrefix(name, "frontend") {
					key = "FRONTEND_ENV"
				}
				if o.Data[key] != env {
					t.Errorf("config %s has %s=%q", name, key, o.Data[key])
				}
			}
		})
	}
}

func checkDeployment(t *testing.T, env string, d object, configs map[string]object) {
	t.Helper()
	name := d.Metadata.Name
	ps := d.Spec.Template.Spec
	if ps.EnableServiceLinks == nil || *ps.EnableServiceLinks {
		t.Errorf("%s: service links are on; their *_SERVICE_* variables would fail the strict config", name)
	}
	if ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: pod does not require a non-root user", name)
	}
	if ps.TerminationGracePeriodSeconds == nil || *ps.TerminationGracePeriodSeconds <= 10 {
		t.Errorf("%s: grace period %v must exceed the 10s drain", name, ps.TerminationGracePeriodSeconds)
	}
	if fmt.Sprint(d.Spec.Strategy.RollingUpdate.MaxUnavailable) != "0" {
		t.Errorf("%s: rolling updates may take pods away before new ones are ready", name)
	}
	for _, c := range ps.Containers {
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s/%s: no liveness probe on /healthz", name, c.Name)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s/%s: no readiness probe on /readyz", name, c.Name)
		}
		if c.Resources.Limits["cpu"] == "" || c.Resources.Limits["memory"] == "" || c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
			t.Errorf("%s/%s: resources %+v lack requests or limits", name, c.Name, c.Resources)
		}
		sc := c.SecurityContext
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			fmt.Sprint(sc.Capabilities.Drop) != "[ALL]" {
			t.Errorf("%s/%s: security context %+v", name, c.Name, sc)
		}
		repo, tag, ok := strings.Cut(c.Image, ":")
		if _, digest, isDigest := strings.Cut(c.Image, "@sha256:"); !isDigest && (!ok || tag == "" || tag == "latest" || !strings.HasPrefix(repo, "ghcr.io/")) {
			t.Errorf("%s/%s: image %q is not pinned to a tag or digest", name, c.Name, c.Image)
		} else if isDigest && len(digest) != 64 {
			t.Errorf("%s/%s: malformed digest in %q", name, c.Name, c.Image)
		}
		for _, ef := range c.EnvFrom {
			if _, ok := configs[ef.ConfigMapRef.Name]; !ok {
				t.Errorf("%s/%s: envFrom names %q, which is not rendered", name, c.Name, ef.ConfigMapRef.Name)
			}
		}
	}
}

func coveredByPDB(d object, pdbs []object) bool {
	for _, p := range pdbs {
		if p.Spec.MinAvailable == nil || *p.Spec.MinAvailable < 1 {
			continue
		}
		match := true
		for k, v := range p.Spec.Selector.MatchLabels {
			if d.Spec.Template.Metadata.Labels[k] != v {
				match = false
			}
		}
		if match && len(p.Spec.Selector.MatchLabels) > 0 {
			return true
		}
	}
	return false
}
