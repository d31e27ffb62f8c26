package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/palmerops/penguins/pkg/massmodel"
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
		// PersistentVolumeClaim
		AccessModes []string `json:"accessModes"`
		// HorizontalPodAutoscaler
		MaxReplicas *int `json:"maxReplicas"`
		// CronJob
		Suspend     *bool `json:"suspend"`
		JobTemplate struct {
			Spec struct {
				BackoffLimit *int `json:"backoffLimit"`
				Template     struct {
					Spec podSpec
				}
			}
		} `json:"jobTemplate"`
	}
	Data map[string]string
}

type podSpec struct {
	EnableServiceLinks            *bool `json:"enableServiceLinks"`
	TerminationGracePeriodSeconds *int  `json:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool `json:"runAsNonRoot"`
		RunAsUser    *int  `json:"runAsUser"`
		FSGroup      *int  `json:"fsGroup"`
	} `json:"securityContext"`
	Volumes []struct {
		Name                  string
		PersistentVolumeClaim *struct {
			ClaimName string `json:"claimName"`
		} `json:"persistentVolumeClaim"`
	}
	InitContainers []container `json:"initContainers"`
	Containers     []container
}

type container struct {
	Name         string
	Image        string
	Args         []string
	VolumeMounts []struct {
		Name      string
		MountPath string `json:"mountPath"`
		ReadOnly  bool   `json:"readOnly"`
	} `json:"volumeMounts"`
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
			// The environment's own settings are in its services' config.
			for name, o := range configs {
				key := "MODEL_ENV"
				switch {
				case strings.HasPrefix(name, "frontend-service-config"):
					key = "FRONTEND_ENV"
				case !strings.HasPrefix(name, "model-service-config"):
					continue
				}
				if o.Data[key] != env {
					t.Errorf("config %s has %s=%q", name, key, o.Data[key])
				}
			}
			checkModelStore(t, kinds, configs)
		})
	}
}

// storeClaim is the model store's PersistentVolumeClaim.
const storeClaim = "model-store"

// checkModelStore checks how the pods share the model store: one claim,
// mounted by the model pods read-only at MODEL_STORE, whose champion
// (MODEL_ALIAS) they serve with no pinned version; seeded by an init
// container and changed by the promote and rollback Jobs, which mount it
// read-write on the same image; ReadWriteMany whenever more than one pod
// may mount it at once; and writers in the group that owns its files.
func checkModelStore(t *testing.T, kinds map[string][]object, configs map[string]object) {
	t.Helper()
	var claims []object
	for _, o := range kinds["PersistentVolumeClaim"] {
		if o.Metadata.Name == storeClaim {
			claims = append(claims, o)
		}
	}
	if len(claims) != 1 {
		t.Fatalf("%d claims named %s, want one", len(claims), storeClaim)
	}
	claim := claims[0]

	// pods counts the pods that may mount the claim at once; images are
	// the images that mount it.
	pods := 0
	images := map[string]bool{}
	// mounts returns where a container mounts the claim, and whether
	// read-only; checks that a writing pod runs in the owning group.
	mounts := func(where string, ps podSpec, c container) (path string, readOnly bool, ok bool) {
		vol := ""
		for _, v := range ps.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == storeClaim {
				vol = v.Name
			}
		}
		for _, m := range c.VolumeMounts {
			if vol != "" && m.Name == vol {
				images[c.Image] = true
				if !m.ReadOnly && (ps.SecurityContext.FSGroup == nil || ps.SecurityContext.RunAsUser == nil || *ps.SecurityContext.FSGroup != *ps.SecurityContext.RunAsUser) {
					t.Errorf("%s/%s writes to the store without fsGroup %v = runAsUser %v: a fresh volume would not be writable",
						where, c.Name, ps.SecurityContext.FSGroup, ps.SecurityContext.RunAsUser)
				}
				return m.MountPath, m.ReadOnly, true
			}
		}
		return "", false, false
	}
	// flag returns the value of -name in args.
	flag := func(args []string, name string) string {
		for i, a := range args {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}

	var store string
	for _, d := range kinds["Deployment"] {
		ps := d.Spec.Template.Spec
		name := d.Metadata.Name
		serving := false
		for _, c := range ps.Containers {
			path, ro, ok := mounts(name, ps, c)
			if !ok {
				continue
			}
			serving = true
			if name != "model-service" {
				t.Errorf("%s/%s mounts the model store", name, c.Name)
			}
			if !ro {
				t.Errorf("%s/%s mounts the model store read-write; serving containers only read it", name, c.Name)
			}
			cfg := map[string]string{}
			for _, ef := range c.EnvFrom {
				for k, v := range configs[ef.ConfigMapRef.Name].Data {
					cfg[k] = v
				}
			}
			store = cfg["MODEL_STORE"]
			if path != store || store != storePath {
				t.Errorf("%s/%s mounts the store at %s, MODEL_STORE=%q; want both %s", name, c.Name, path, store, storePath)
			}
			if cfg["MODEL_ALIAS"] != massmodel.Champion || cfg["MODEL_VERSION"] != "" {
				t.Errorf("%s/%s: MODEL_ALIAS=%q MODEL_VERSION=%q; want the champion, followed", name, c.Name, cfg["MODEL_ALIAS"], cfg["MODEL_VERSION"])
			}
		}
		if name == "model-service" && !serving {
			t.Errorf("model-service does not mount the model store")
		}
		if !serving {
			continue
		}
		n := 1
		if d.Spec.Replicas != nil {
			n = *d.Spec.Replicas
		}
		for _, h := range kinds["HorizontalPodAutoscaler"] {
			if h.Spec.ScaleTargetRef.Name == name && h.Spec.MaxReplicas != nil && *h.Spec.MaxReplicas > n {
				n = *h.Spec.MaxReplicas
			}
		}
		pods += n + 1 // and one surged by a rolling update
		seeded := false
		for _, c := range ps.InitContainers {
			path, ro, ok := mounts(name, ps, c)
			if !ok || len(c.Args) == 0 || c.Args[0] != "seed-store" {
				continue
			}
			seeded = true
			if ro || path != storePath || flag(c.Args, "-store") != storePath || flag(c.Args, "-board") != "/board" {
				t.Errorf("%s/%s: seeds %s from %s at %s (read-only %v); want the image's /board into %s, read-write",
					name, c.Name, flag(c.Args, "-store"), flag(c.Args, "-board"), path, ro, storePath)
			}
		}
		if !seeded {
			t.Errorf("%s: no init container seeds the model store (seed-store), so a fresh claim has no champion", name)
		}
	}

	jobs := map[string]bool{}
	for _, cj := range kinds["CronJob"] {
		js := cj.Spec.JobTemplate.Spec
		ps := js.Template.Spec
		for _, c := range ps.Containers {
			path, ro, ok := mounts(cj.Metadata.Name, ps, c)
			if !ok {
				continue
			}
			pods++
			checkContainer(t, cj.Metadata.Name, c, configs)
			if len(c.Args) > 0 {
				jobs[c.Args[0]] = true
			}
			if ro || path != storePath || flag(c.Args, "-store") != storePath {
				t.Errorf("%s/%s: mounts the store at %s (read-only %v) and writes to %q; want %s, read-write",
					cj.Metadata.Name, c.Name, path, ro, flag(c.Args, "-store"), storePath)
			}
			// Every $(VAR) in the arguments is defined, or the command
			// would get the literal text.
			defined := map[string]string{}
			for _, ef := range c.EnvFrom {
				for k, v := range configs[ef.ConfigMapRef.Name].Data {
					defined[k] = v
				}
			}
			for _, a := range c.Args {
				for _, m := range argVar.FindAllStringSubmatch(a, -1) {
					if _, ok := defined[m[1]]; !ok {
						t.Errorf("%s/%s: argument %q refers to %s, which its config does not define", cj.Metadata.Name, c.Name, a, m[1])
					}
				}
			}
			if a, ok := defined["PROMOTE_ALIAS"]; ok && !massmodel.ValidAlias(a) {
				t.Errorf("%s: PROMOTE_ALIAS %q is not an alias name", cj.Metadata.Name, a)
			}
			if v, ok := defined["PROMOTE_VERSION"]; ok && !massmodel.ValidVersion(v) {
				t.Errorf("%s: PROMOTE_VERSION %q is not a version id", cj.Metadata.Name, v)
			}
		}
		// A template, never run on a schedule; a refusal is final.
		if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
			t.Errorf("%s is not suspended: it would promote on its schedule", cj.Metadata.Name)
		}
		if js.BackoffLimit == nil || *js.BackoffLimit != 0 {
			t.Errorf("%s retries (backoffLimit %v): a refused promotion must fail once", cj.Metadata.Name, js.BackoffLimit)
		}
	}
	if !jobs["promote"] || !jobs["rollback"] {
		t.Errorf("Jobs that write to the store: %v; want promote and rollback", jobs)
	}
	if len(images) != 1 {
		t.Errorf("the store is mounted by images %v; want one, the model service's, so every writer speaks the server's store format", images)
	}
	if pods > 1 && !slices.Contains(claim.Spec.AccessModes, "ReadWriteMany") {
		t.Errorf("up to %d pods mount %s at once, but its access modes are %v: want ReadWriteMany", pods, storeClaim, claim.Spec.AccessModes)
	}
}

var argVar = regexp.MustCompile(`\$\(([A-Z_][A-Z0-9_]*)\)`)

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
	}
	for _, c := range append(append([]container{}, ps.InitContainers...), ps.Containers...) {
		checkContainer(t, name, c, configs)
	}
}

// checkContainer checks what every container must have, serving or not:
// requests and limits, a restricted security context, a pinned image, and
// config maps that are rendered.
func checkContainer(t *testing.T, name string, c container, configs map[string]object) {
	t.Helper()
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
