package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

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
		Replicas       *int
		MinReplicas    *int `json:"minReplicas"`
		MaxReplicas    int  `json:"maxReplicas"`
		MinAvailable   any  `json:"minAvailable"`   // PodDisruptionBudget
		MaxUnavailable any  `json:"maxUnavailable"` // PodDisruptionBudget
		Selector       struct {
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
		// NetworkPolicy
		PodSelector labelSelector `json:"podSelector"`
		PolicyTypes []string      `json:"policyTypes"`
		Ingress     []struct {
			From []struct {
				PodSelector       *labelSelector `json:"podSelector"`
				NamespaceSelector *labelSelector `json:"namespaceSelector"`
				IPBlock           any            `json:"ipBlock"`
			}
			Ports []struct {
				Port     any
				Protocol string
			}
		}
	}
	Data map[string]string
}

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []any             `json:"matchExpressions"`
}

// selects reports whether s, a selector of labels only, selects labels.
// An empty selector selects everything.
func (s labelSelector) selects(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return len(s.MatchExpressions) == 0
}

type podSpec struct {
	EnableServiceLinks            *bool `json:"enableServiceLinks"`
	TerminationGracePeriodSeconds *int  `json:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool `json:"runAsNonRoot"`
		RunAsUser    *int  `json:"runAsUser"`
		FSGroup      *int  `json:"fsGroup"`
	} `json:"securityContext"`
	ImagePullSecrets          []struct{ Name string } `json:"imagePullSecrets"`
	TopologySpreadConstraints []struct {
		MaxSkew           int           `json:"maxSkew"`
		TopologyKey       string        `json:"topologyKey"`
		WhenUnsatisfiable string        `json:"whenUnsatisfiable"`
		LabelSelector     labelSelector `json:"labelSelector"`
	} `json:"topologySpreadConstraints"`
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
	Name            string
	Image           string
	ImagePullPolicy string `json:"imagePullPolicy"`
	Args            []string
	Ports           []struct {
		Name          string
		ContainerPort int `json:"containerPort"`
	}
	Env          []struct{ Name, Value string }
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

// Names the manifests share with the workflows (workflows_test.go checks
// the other side): the GHCR packages release pushes, and the pull Secret
// promote creates.
const (
	imagePrefix    = "ghcr.io/palmerops/penguins-"
	pullSecretName = "ghcr-pull"
)

// render builds an overlay with kustomize (krusty), as `kubectl apply -k` would.
func render(t *testing.T, env string) []object {
	t.Helper()
	return renderDir(t, "k8s/overlays/"+env)
}

func renderDir(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
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
			deployments := map[string]object{}
			for _, o := range objs {
				kinds[o.Kind] = append(kinds[o.Kind], o)
				switch o.Kind {
				case "Namespace":
					if o.Metadata.Name != "penguins-"+env {
						t.Errorf("the overlay creates namespace %q, want penguins-%s", o.Metadata.Name, env)
					}
					continue
				case "ConfigMap":
					configs[o.Metadata.Name] = o
				case "Deployment":
					deployments[o.Metadata.Name] = o
				}
				if o.Metadata.Namespace != "penguins-"+env {
					t.Errorf("%s %s in namespace %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
				}
			}
			// kubectl apply -k creates the namespace it deploys into.
			if len(kinds["Namespace"]) != 1 {
				t.Errorf("rendered %d Namespace objects, want penguins-%s", len(kinds["Namespace"]), env)
			}
			if len(deployments) != 2 || len(kinds["Service"]) != 2 || len(kinds["HorizontalPodAutoscaler"]) != 1 ||
				len(kinds["PodDisruptionBudget"]) != 2 || len(kinds["NetworkPolicy"]) != 1 {
				t.Fatalf("rendered %d deployments, %d services, %d HPAs, %d PDBs, %d NetworkPolicies", len(deployments), len(kinds["Service"]),
					len(kinds["HorizontalPodAutoscaler"]), len(kinds["PodDisruptionBudget"]), len(kinds["NetworkPolicy"]))
			}
			hpa := kinds["HorizontalPodAutoscaler"][0]
			if hpa.Spec.ScaleTargetRef.Name != "model-service" {
				t.Errorf("the HPA scales %q", hpa.Spec.ScaleTargetRef.Name)
			}
			if hpa.Spec.MinReplicas == nil || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
				t.Errorf("HPA replicas %v to %d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
			}
			for name, d := range deployments {
				checkDeployment(t, env, d, configs)
				// The fewest pods the Deployment runs: its HPA's minimum, or
				// its own count. An HPA-managed Deployment has no count of
				// its own: each apply would reset the autoscaler's.
				least := 1
				if name == hpa.Spec.ScaleTargetRef.Name {
					if d.Spec.Replicas != nil {
						t.Errorf("%s sets replicas: %d under an HPA; each apply would reset the autoscaler's count", name, *d.Spec.Replicas)
					}
					if hpa.Spec.MinReplicas != nil {
						least = *hpa.Spec.MinReplicas
					}
				} else if d.Spec.Replicas != nil {
					least = *d.Spec.Replicas
				}
				if env != "dev" && least < 2 {
					t.Errorf("%s %s may run %d pod; want at least 2 (a fixed count or the HPA's minimum)", env, name, least)
				}
				checkPDB(t, env, d, least, kinds["PodDisruptionBudget"])
				if env == "prod" {
					checkSpread(t, d)
				}
			}
			checkNetworkPolicy(t, kinds["NetworkPolicy"][0], deployments)
			// The environment's own settings are in its config.
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
			checkModelStore(t, env, kinds, configs)
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
func checkModelStore(t *testing.T, env string, kinds map[string][]object, configs map[string]object) {
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
			if h.Spec.ScaleTargetRef.Name == name && h.Spec.MaxReplicas > n {
				n = h.Spec.MaxReplicas
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
			checkContainer(t, env, cj.Metadata.Name, c, configs)
			if len(ps.ImagePullSecrets) != 1 || ps.ImagePullSecrets[0].Name != pullSecretName {
				t.Errorf("%s: imagePullSecrets %v, want %s", cj.Metadata.Name, ps.ImagePullSecrets, pullSecretName)
			}
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

// checkPDB: exactly one PodDisruptionBudget covers d, and it lets a node
// drain evict one pod at d's smallest size (a budget that allows none
// blocks drains for good), while keeping one serving outside dev.
func checkPDB(t *testing.T, env string, d object, least int, pdbs []object) {
	t.Helper()
	var covering []object
	for _, p := range pdbs {
		if len(p.Spec.Selector.MatchLabels) > 0 && (labelSelector{MatchLabels: p.Spec.Selector.MatchLabels}).selects(d.Spec.Template.Metadata.Labels) {
			covering = append(covering, p)
		}
	}
	if len(covering) != 1 {
		t.Errorf("%s is covered by %d PodDisruptionBudgets, want 1", d.Metadata.Name, len(covering))
		return
	}
	p := covering[0]
	var allowed int
	switch minA, maxU := p.Spec.MinAvailable, p.Spec.MaxUnavailable; {
	case minA != nil && maxU != nil:
		t.Errorf("PDB %s sets both minAvailable and maxUnavailable", p.Metadata.Name)
		return
	case maxU != nil:
		n, ok := maxU.(float64)
		if !ok {
			t.Errorf("PDB %s: maxUnavailable %v is not a pod count", p.Metadata.Name, maxU)
			return
		}
		allowed = min(int(n), least)
	case minA != nil:
		n, ok := minA.(float64)
		if !ok {
			t.Errorf("PDB %s: minAvailable %v is not a pod count", p.Metadata.Name, minA)
			return
		}
		allowed = max(least-int(n), 0)
	default:
		t.Errorf("PDB %s sets neither minAvailable nor maxUnavailable", p.Metadata.Name)
		return
	}
	if allowed < 1 {
		t.Errorf("PDB %s allows no eviction at %d pod(s): node drains would block", p.Metadata.Name, least)
	}
	if env != "dev" && least-allowed < 1 {
		t.Errorf("PDB %s lets a drain evict all %d pods of %s", p.Metadata.Name, least, d.Metadata.Name)
	}
}

// checkSpread: prod's pods of a Deployment spread over nodes.
func checkSpread(t *testing.T, d object) {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
		if c.TopologyKey == "kubernetes.io/hostname" && c.MaxSkew == 1 && c.WhenUnsatisfiable == "DoNotSchedule" &&
			len(c.LabelSelector.MatchLabels) > 0 && c.LabelSelector.selects(d.Spec.Template.Metadata.Labels) {
			return
		}
	}
	t.Errorf("prod %s has no topology spread over nodes (kubernetes.io/hostname, maxSkew 1, DoNotSchedule, selecting its pods)", d.Metadata.Name)
}

// checkNetworkPolicy: the policy selects the model service's pods, and its
// ingress admits the frontend's pods (in the namespace) and Prometheus
// (named pods in a named namespace), on the model's port only. Nothing
// else: no empty peer list, no match-all selector, no IP blocks.
func checkNetworkPolicy(t *testing.T, np object, deployments map[string]object) {
	t.Helper()
	model, front := deployments["model-service"], deployments["frontend-service"]
	modelLabels, frontLabels := model.Spec.Template.Metadata.Labels, front.Spec.Template.Metadata.Labels
	if len(np.Spec.PodSelector.MatchLabels) == 0 || !np.Spec.PodSelector.selects(modelLabels) || np.Spec.PodSelector.selects(frontLabels) {
		t.Errorf("NetworkPolicy %s selects %v, want the model service's pods only", np.Metadata.Name, np.Spec.PodSelector.MatchLabels)
	}
	if fmt.Sprint(np.Spec.PolicyTypes) != "[Ingress]" {
		t.Errorf("NetworkPolicy %s policyTypes %v, want [Ingress]", np.Metadata.Name, np.Spec.PolicyTypes)
	}
	modelPorts := map[string]bool{}
	for _, p := range model.Spec.Template.Spec.Containers[0].Ports {
		modelPorts[p.Name], modelPorts[fmt.Sprint(p.ContainerPort)] = true, true
	}
	frontend, prometheus := false, false
	for _, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 || len(rule.Ports) == 0 {
			t.Errorf("NetworkPolicy %s has a rule open to every source or port: %+v", np.Metadata.Name, rule)
		}
		for _, p := range rule.Ports {
			if !modelPorts[fmt.Sprint(p.Port)] {
				t.Errorf("NetworkPolicy %s opens port %v, which the model service does not serve", np.Metadata.Name, p.Port)
			}
		}
		for _, peer := range rule.From {
			switch {
			case peer.IPBlock != nil || peer.PodSelector == nil || len(peer.PodSelector.MatchLabels) == 0:
				t.Errorf("NetworkPolicy %s admits a peer that is not named pods: %+v", np.Metadata.Name, peer)
			case peer.NamespaceSelector == nil:
				if !peer.PodSelector.selects(frontLabels) {
					t.Errorf("NetworkPolicy %s admits pods %v of the namespace, which are not the frontend's", np.Metadata.Name, peer.PodSelector.MatchLabels)
				}
				frontend = true
			default:
				if len(peer.NamespaceSelector.MatchLabels) == 0 || peer.PodSelector.MatchLabels["app.kubernetes.io/name"] != "prometheus" {
					t.Errorf("NetworkPolicy %s admits pods %v of namespaces %v, want Prometheus in its namespace", np.Metadata.Name,
						peer.PodSelector.MatchLabels, peer.NamespaceSelector.MatchLabels)
				}
				prometheus = true
			}
		}
	}
	if !frontend || !prometheus {
		t.Errorf("NetworkPolicy %s admits the frontend: %v, Prometheus: %v; want both", np.Metadata.Name, frontend, prometheus)
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
	if len(ps.ImagePullSecrets) != 1 || ps.ImagePullSecrets[0].Name != pullSecretName {
		t.Errorf("%s: imagePullSecrets %v, want %s (the Secret promote creates for a private GHCR package)", name, ps.ImagePullSecrets, pullSecretName)
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
		if want := imagePrefix + c.Name + ":" + env; c.Image != want {
			t.Errorf("%s/%s: image %q, want %q (what release pushes for %s)", name, c.Name, c.Image, want, env)
		}
		checkDrain(t, name, c.Name, c.Env, configs, ps.TerminationGracePeriodSeconds)
	}
	for _, c := range append(append([]container{}, ps.InitContainers...), ps.Containers...) {
		checkContainer(t, env, name, c, configs)
	}
}

// checkContainer checks what every container must have, serving or not:
// requests and limits, a restricted security context, an image release
// pushes for the environment (the tag it moves when it promotes there;
// promote applies the digest over it, TestPinDigests) pulled every time,
// and config maps that are rendered.
func checkContainer(t *testing.T, env, name string, c container, configs map[string]object) {
	t.Helper()
	if c.Resources.Limits["cpu"] == "" || c.Resources.Limits["memory"] == "" || c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Errorf("%s/%s: resources %+v lack requests or limits", name, c.Name, c.Resources)
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		fmt.Sprint(sc.Capabilities.Drop) != "[ALL]" {
		t.Errorf("%s/%s: security context %+v", name, c.Name, sc)
	}
	if !strings.HasPrefix(c.Image, imagePrefix) || !strings.HasSuffix(c.Image, ":"+env) {
		t.Errorf("%s/%s: image %q, want %s<service>:%s (what release pushes for %s)", name, c.Name, c.Image, imagePrefix, env, env)
	}
	if c.ImagePullPolicy != "Always" {
		t.Errorf("%s/%s: imagePullPolicy %q; the environment tag moves, so a node must not reuse its copy", name, c.Name, c.ImagePullPolicy)
	}
	for _, ef := range c.EnvFrom {
		if _, ok := configs[ef.ConfigMapRef.Name]; !ok {
			t.Errorf("%s/%s: envFrom names %q, which is not rendered", name, c.Name, ef.ConfigMapRef.Name)
		}
	}
}

// checkDrain: after SIGTERM the container serves on, not ready, for its
// drain delay (Kubernetes takes the pod out of the endpoints meanwhile),
// then drains for up to its shutdown timeout, both inside the grace period.
func checkDrain(t *testing.T, deployment, container string, env []struct{ Name, Value string }, configs map[string]object, grace *int) {
	t.Helper()
	prefix := "MODEL_"
	if strings.HasPrefix(container, "frontend") {
		prefix = "FRONTEND_"
	}
	var delay time.Duration
	for _, e := range env {
		if e.Name == prefix+"DRAIN_DELAY" {
			d, err := time.ParseDuration(e.Value)
			if err != nil {
				t.Errorf("%s/%s: %s=%q: %v", deployment, container, e.Name, e.Value, err)
			}
			delay = d
		}
	}
	if delay < time.Second {
		t.Errorf("%s/%s: %sDRAIN_DELAY is %s; without a pause requests routed before the endpoints update are refused", deployment, container, prefix, delay)
	}
	shutdown := 10 * time.Second // the services' default
	for _, cm := range configs {
		if v, ok := cm.Data[prefix+"SHUTDOWN_TIMEOUT"]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Errorf("%s: %sSHUTDOWN_TIMEOUT=%q: %v", cm.Metadata.Name, prefix, v, err)
			}
			shutdown = d
		}
	}
	if grace == nil {
		t.Errorf("%s: no terminationGracePeriodSeconds", deployment)
	} else if g := time.Duration(*grace) * time.Second; g <= delay+shutdown {
		t.Errorf("%s: grace period %s does not cover the drain delay %s plus the drain %s", deployment, g, delay, shutdown)
	}
}

// TestPinDigests runs deploy/k8s/pin-digests.sh, the promote workflow's
// render step, on a copy of deploy/k8s: for every environment, both
// services run the given digests from the owner's packages (lowercased, as
// GHCR names them) in the overlay's namespace; bad arguments are refused
// by name and write nothing.
func TestPinDigests(t *testing.T) {
	model := "sha256:" + strings.Repeat("a1", 32)
	frontend := "sha256:" + strings.Repeat("f0", 32)
	for _, env := range []string{"dev", "staging", "prod"} {
		t.Run(env, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "k8s")
			if err := os.CopyFS(dir, os.DirFS("k8s")); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("bash", filepath.Join(dir, "pin-digests.sh"), env, "Penguin-Lab", model, frontend).CombinedOutput(); err != nil {
				t.Fatalf("pin-digests.sh: %v\n%s", err, out)
			}
			images := map[string]string{}
			for _, o := range renderDir(t, filepath.Join(dir, "release")) {
				if o.Kind != "Namespace" && o.Metadata.Namespace != "penguins-"+env {
					t.Errorf("%s %s in namespace %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
				}
				for _, c := range o.Spec.Template.Spec.Containers {
					images[c.Name] = c.Image
				}
			}
			want := map[string]string{
				"model-service":    "ghcr.io/penguin-lab/penguins-model-service@" + model,
				"frontend-service": "ghcr.io/penguin-lab/penguins-frontend-service@" + frontend,
			}
			if fmt.Sprint(images) != fmt.Sprint(want) {
				t.Errorf("release renders images %v, want %v", images, want)
			}
		})
	}
	for args, want := range map[string]string{
		"qa palmerops " + model + " " + frontend:          "ENVIRONMENT: want dev, staging or prod",
		"prod palmer/ops " + model + " " + frontend:       "OWNER: want a GitHub user or organization name",
		"prod palmerops sha256:abc " + frontend:           "MODEL_DIGEST: want sha256: and 64 hex digits",
		"prod palmerops " + model + " " + model[:20]:      "FRONTEND_DIGEST: want sha256: and 64 hex digits",
		"prod palmerops " + model + " :prod":              "FRONTEND_DIGEST",
		"prod palmerops " + model:                         "usage:",
		"prod palmerops " + strings.ToUpper(model) + " x": "MODEL_DIGEST",
	} {
		dir := filepath.Join(t.TempDir(), "k8s")
		if err := os.CopyFS(dir, os.DirFS("k8s")); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("bash", append([]string{filepath.Join(dir, "pin-digests.sh")}, strings.Fields(args)...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("pin-digests.sh %s: %v, %q; want a failure naming %q", args, err, out, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "release")); !os.IsNotExist(err) {
			t.Errorf("pin-digests.sh %s wrote a release after refusing: %v", args, err)
		}
	}
}
