package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1 "istio.io/api/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const istioDir = "istio"

func TestIstioManifestsDecodeStrictly(t *testing.T) {
	b, err := loadDir(istioDir)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{
		"Deployment": len(b.Deployments), "Service": len(b.Services), "PersistentVolumeClaim": len(b.PVCs),
		"Secret": len(b.Secrets), "Namespace": len(b.Namespaces), "VirtualService": len(b.VirtualServices),
		"DestinationRule": len(b.DestinationRules), "WasmPlugin": len(b.WasmPlugins),
		"AuthorizationPolicy": len(b.AuthzPolicies), "NetworkPolicy": len(b.NetworkPolicies),
	}
	want := map[string]int{"Deployment": 4, "Service": 3, "PersistentVolumeClaim": 1, "Secret": 1, "Namespace": 2,
		"VirtualService": 1, "DestinationRule": 2, "WasmPlugin": 3, "AuthorizationPolicy": 1,
		"NetworkPolicy": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d %s objects, want %d", counts[k], k, n)
		}
	}
}

func TestIstioManifestsAgree(t *testing.T) {
	b, err := loadDir(istioDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.check(); err != nil {
		t.Error(err)
	}
}

// The checks must fail on the mistakes they exist for. Each case breaks a
// fresh copy of the manifests in one way.
func TestIstioChecksCatchMistakes(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(b *bundle)
		want   string
	}{
		{"mirror and mirrors", func(b *bundle) {
			r := b.VirtualServices[0].Spec.Http[0]
			r.Mirror = r.Mirrors[0].Destination
		}, "both mirror and mirrors"},
		{"percentage over 100", func(b *bundle) {
			b.VirtualServices[0].Spec.Http[0].Mirrors[1].Percentage.Value = 150
		}, "not in (0, 100]"},
		{"unknown subset", func(b *bundle) {
			b.VirtualServices[0].Spec.Http[0].Mirrors[1].Destination.Subset = "v3"
		}, "subset v3"},
		{"subset selects nothing", func(b *bundle) {
			b.destinationRule("shop-shadow").Spec.Subsets[1].Labels["version"] = "v9"
		}, "selects 0 Deployments"},
		{"plugin selector misses", func(b *bundle) {
			b.WasmPlugins[0].Spec.Selector.MatchLabels["version"] = "v7"
		}, "matches 0 Deployments"},
		{"role mismatch", func(b *bundle) {
			for _, d := range b.Deployments {
				if d.Spec.Template.Labels[roleLabel] == "candidate" {
					d.Spec.Template.Labels[roleLabel] = "secondary"
				}
			}
		}, "role"},
		{"collector cluster port", func(b *bundle) {
			b.collectorService().Spec.Ports[0].Port = 9999
		}, "not a grpc-… port"},
		{"collector service renamed", func(b *bundle) {
			b.collectorService().Name = "collector"
		}, "no Service here"},
		{"file not in kustomization", func(b *bundle) {
			b.Kustomization.Resources = b.Kustomization.Resources[1:]
		}, "does not list"},
		{"image not rewritten", func(b *bundle) {
			b.Kustomization.Images = b.Kustomization.Images[1:]
		}, "no images entry rewrites"},
		{"hash key from nowhere", func(b *bundle) {
			b.Secrets = nil
		}, "refers to Secret"},
		{"root filesystem writable", func(b *bundle) {
			f := false
			b.Deployments[0].Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
		}, "readOnlyRootFilesystem"},
		{"ingest open to all", func(b *bundle) {
			b.AuthzPolicies[0].Spec.Rules[0].From = nil
		}, "mesh identity"},
		// Nothing but mirrors may reach the shadows (assume_shadow answers
		// every write they receive).
		{"live Service selects the shadows", func(b *bundle) {
			delete(b.serviceNamed("shop").Spec.Selector, "shadowdiff.io/traffic")
		}, "which live callers use, selects the secondary Deployment"},
		{"mirror to the live host", func(b *bundle) {
			// The shadows' subsets moved back onto the live host, as before.
			b.destinationRule("shop-shadow").Spec.Host = "shop.shop.svc.cluster.local"
			for _, m := range b.VirtualServices[0].Spec.Http[0].Mirrors {
				m.Destination.Host = "shop.shop.svc.cluster.local"
			}
		}, "both routed to and mirrored to"},
		{"shadow Service is not a mirror target", func(b *bundle) {
			for _, m := range b.VirtualServices[0].Spec.Http[0].Mirrors {
				m.Destination.Host = "shop.shop.svc.cluster.local"
			}
		}, "is no mirror target"},
		{"mirror target selects the primary", func(b *bundle) {
			b.serviceNamed("shop-shadow").Spec.Selector = map[string]string{"app": "shop"}
		}, "a mirror target, selects Deployment shop-v1"},
		{"subset outside its Service", func(b *bundle) {
			b.destinationRule("shop").Spec.Subsets[0].Labels = map[string]string{"version": "v2", roleLabel: "candidate"}
		}, "which Service shop does not select"},
		{"shadow without assume_shadow", func(b *bundle) {
			delete(b.wasmPlugin("candidate").Spec.PluginConfig.Fields, "assume_shadow")
		}, "shadowdiff-candidate (candidate): set assume_shadow"},
		{"primary with assume_shadow", func(b *bundle) {
			b.wasmPlugin("primary").Spec.PluginConfig.Fields["assume_shadow"] = structpb.NewBoolValue(true)
		}, "assume_shadow on the primary"},
		{"ingest open to any mesh identity", func(b *bundle) {
			b.AuthzPolicies[0].Spec.Rules[0].From[0].Source.Principals = []string{"*"}
		}, "lets any mesh identity send digests"},
		{"ingest misses a filter's identity", func(b *bundle) {
			for _, d := range b.Deployments {
				if d.Name == "shop-v2" {
					d.Spec.Template.Spec.ServiceAccountName = "shop-v2"
				}
			}
		}, "Deployment shop-v2 sends digests as cluster.local/ns/shop/sa/shop-v2"},
		{"no NetworkPolicy", func(b *bundle) {
			b.NetworkPolicies = nil
		}, "no NetworkPolicy isolates the collector"},
		{"NetworkPolicy rule open to all", func(b *bundle) {
			b.NetworkPolicies[0].Spec.Ingress[1].From = nil
		}, "admits every source"},
		{"filter namespace cut off by the NetworkPolicy", func(b *bundle) {
			for _, ns := range b.Namespaces {
				if ns.Name == "shop" {
					delete(ns.Labels, "istio-injection")
				}
			}
		}, "no NetworkPolicy rule lets Deployment shop-v1 (namespace shop) reach"},
		{"NetworkPolicy on the wrong port", func(b *bundle) {
			p := intstr.FromInt32(9999)
			b.NetworkPolicies[0].Spec.Ingress[0].Ports[0].Port = &p
		}, "reach the collector's port 9090"},
		{"mirror to a missing host", func(b *bundle) {
			b.VirtualServices[0].Spec.Http[0].Mirrors = append(b.VirtualServices[0].Spec.Http[0].Mirrors,
				&networkingv1.HTTPMirrorPolicy{Destination: &networkingv1.Destination{Host: "shop"}})
		}, "is no Service here"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := loadDir(istioDir)
			if err != nil {
				t.Fatal(err)
			}
			c.break_(b)
			err = b.check()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("check() = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// destinationRule, serviceNamed and wasmPlugin find the object a case breaks.
func (b *bundle) destinationRule(name string) istioObject[*networkingv1.DestinationRule] {
	for _, dr := range b.DestinationRules {
		if dr.Meta.Name == name {
			return dr
		}
	}
	panic("no DestinationRule " + name)
}

func (b *bundle) serviceNamed(name string) *corev1.Service {
	for _, s := range b.Services {
		if s.Name == name {
			return s
		}
	}
	panic("no Service " + name)
}

func (b *bundle) wasmPlugin(role string) istioObject[*extensionsv1alpha1.WasmPlugin] {
	for _, wp := range b.WasmPlugins {
		if wp.Spec.GetPluginConfig().GetFields()["role"].GetStringValue() == role {
			return wp
		}
	}
	panic("no WasmPlugin for role " + role)
}

// The example's traffic isolation, stated plainly: the live Service's
// selector cannot match a shadow pod, the shadows' Service cannot match the
// primary, and exactly the shadow roles set assume_shadow.
func TestShadowsReachableOnlyByMirrors(t *testing.T) {
	b, err := loadDir(istioDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range b.Deployments {
		role := d.Spec.Template.Labels[roleLabel]
		if role == "" {
			continue
		}
		live := selects(b.serviceNamed("shop").Spec.Selector, d.Spec.Template.Labels)
		shadow := selects(b.serviceNamed("shop-shadow").Spec.Selector, d.Spec.Template.Labels)
		if live != (role == "primary") || shadow != isShadowRole(role) {
			t.Errorf("Deployment %s (%s): selected by shop %v, by shop-shadow %v", d.Name, role, live, shadow)
		}
	}
	for _, role := range []string{"primary", "secondary", "candidate"} {
		got := b.wasmPlugin(role).Spec.GetPluginConfig().GetFields()["assume_shadow"].GetBoolValue()
		if got != isShadowRole(role) {
			t.Errorf("WasmPlugin for %s: assume_shadow %v", role, got)
		}
	}
	for _, m := range b.VirtualServices[0].Spec.GetHttp()[0].GetMirrors() {
		if h := m.GetDestination().GetHost(); h != "shop-shadow.shop.svc.cluster.local" {
			t.Errorf("mirror to %s, want the shadows' Service", h)
		}
	}
}

// Strict decoding rejects typos in Kubernetes objects and in Istio specs.
func TestStrictDecodingRejectsTypos(t *testing.T) {
	for name, mutate := range map[string]func(string) string{
		"deployment field": func(s string) string {
			return strings.Replace(s, "  replicas: 1\n", "  replicas: 1\n  replica: 1\n", 1)
		},
		"istio spec field": func(s string) string { return strings.Replace(s, "  hosts:\n", "  host:\n", 1) },
		"istio enum": func(s string) string {
			return strings.Replace(s, "failStrategy: FAIL_OPEN", "failStrategy: FAIL_OPENED", 1)
		},
		"istio mirror type": func(s string) string { return strings.Replace(s, "value: 100.0", "value: all", 1) },
		"top-level field":   func(s string) string { return strings.Replace(s, "\nspec:\n", "\nspecs: {}\nspec:\n", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			changed := false
			files, _ := filepath.Glob(filepath.Join(istioDir, "*.yaml"))
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				out := mutate(string(data))
				changed = changed || out != string(data)
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !changed {
				t.Fatal("mutation matched nothing: the test is stale")
			}
			if _, err := loadDir(dir); err == nil {
				t.Error("loadDir accepted the typo")
			}
		})
	}
}

// docs/deploy.md retargets the images with one sed over kustomization.yaml;
// it must leave no placeholder behind.
func TestDeployDocRetargetsEveryImage(t *testing.T) {
	doc, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	const sed = `sed -i "s#registry.example.com/shadowdiff#$REGISTRY#g; s#0\.1\.0#$TAG#g" kustomization.yaml`
	if !strings.Contains(string(doc), sed) {
		t.Fatalf("docs/deploy.md no longer has the command this test mirrors:\n%s", sed)
	}
	k, err := os.ReadFile(filepath.Join(istioDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(strings.ReplaceAll(string(k), "registry.example.com/shadowdiff", "reg.test/team"), "0.1.0", "9.9.9")
	var body []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			body = append(body, l)
		}
	}
	rest := strings.Join(body, "\n")
	if strings.Contains(rest, "example.com") || strings.Count(rest, "reg.test/team") != 3 || strings.Count(rest, "9.9.9") != 3 {
		t.Errorf("after the sed, kustomization.yaml is:\n%s", rest)
	}
}

// Every manifest file docs/deploy.md names exists.
func TestDeployDocNamesExistingFiles(t *testing.T) {
	doc, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile("`([a-z-]+(?:\\{[a-z,]+\\})?[a-z-]*\\.yaml)`").FindAllStringSubmatch(string(doc), -1)
	if len(names) < 5 {
		t.Fatalf("found only %d file names in docs/deploy.md", len(names))
	}
	for _, m := range names {
		for _, name := range expandBraces(m[1]) {
			if _, err := os.Stat(filepath.Join(istioDir, name)); err != nil {
				t.Errorf("docs/deploy.md names %s: %v", name, err)
			}
		}
	}
}

// expandBraces turns "a-{x,y}.yaml" into "a-x.yaml", "a-y.yaml".
func expandBraces(s string) []string {
	i, j := strings.Index(s, "{"), strings.Index(s, "}")
	if i < 0 || j < i {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[i+1:j], ",") {
		out = append(out, s[:i]+alt+s[j+1:])
	}
	return out
}

// kustomize (through kubectl, when this machine has it) builds the
// directory after the doc's retargeting, and every image and the filter's
// URL point at the new registry and tag.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: kustomize build not tried")
	}
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(istioDir, "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "kustomization.yaml" {
			data = []byte(strings.ReplaceAll(strings.ReplaceAll(string(data), "registry.example.com/shadowdiff", "reg.test/team"), "0.1.0", "9.9.9"))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(kubectl, "kustomize", dir).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	istioctlAnalyze(t, out)
	b := &bundle{}
	for i, doc := range docSeparator.Split(string(out), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		if err := b.add("kustomize-output", []byte(doc)); err != nil {
			t.Fatalf("document %d of the build: %v", i+1, err)
		}
	}
	images := 0
	for _, d := range b.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "istio-proxy" {
				continue
			}
			images++
			if !strings.HasPrefix(c.Image, "reg.test/team/") || !strings.HasSuffix(c.Image, ":9.9.9") {
				t.Errorf("Deployment %s: image %s not retargeted", d.Name, c.Image)
			}
		}
	}
	for _, wp := range b.WasmPlugins {
		if got := wp.Spec.GetUrl(); got != "oci://reg.test/team/shadowdiff-filter:9.9.9" {
			t.Errorf("WasmPlugin %s: url %s not retargeted", wp.Meta.Name, got)
		}
	}
	if images != 4 || len(b.WasmPlugins) != 3 {
		t.Errorf("build has %d service images and %d WasmPlugins", images, len(b.WasmPlugins))
	}
}

// istioctlAnalyze runs Istio's own validation and offline analysis on the
// built manifests when istioctl is at hand ($ISTIOCTL or PATH; building it
// takes minutes, so the default run does without): `go install
// istio.io/istio/istioctl/cmd/istioctl@latest`.
func istioctlAnalyze(t *testing.T, manifests []byte) {
	t.Helper()
	bin := os.Getenv("ISTIOCTL")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("istioctl"); err != nil {
			t.Log("istioctl not found: istioctl validate/analyze not run")
			return
		}
	}
	f := filepath.Join(t.TempDir(), "all.yaml")
	if err := os.WriteFile(f, manifests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"validate", "-f", f}, {"analyze", "--use-kube=false", "--all-namespaces", f}} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("istioctl %s: %v\n%s", args[0], err, out)
		}
	}
}
