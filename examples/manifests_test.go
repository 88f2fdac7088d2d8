package examples

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1 "istio.io/api/networking/v1"
	securityv1 "istio.io/api/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	k8snetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// istioObject is one Istio resource: Kubernetes metadata plus a spec
// decoded with protojson into the istio.io/api message.
type istioObject[T proto.Message] struct {
	File string
	Meta metav1.ObjectMeta
	Spec T
}

// bundle is every object of a manifest directory, by kind.
type bundle struct {
	Namespaces      []*corev1.Namespace
	Secrets         []*corev1.Secret
	ServiceAccounts []*corev1.ServiceAccount
	Services        []*corev1.Service
	PVCs            []*corev1.PersistentVolumeClaim
	Deployments     []*appsv1.Deployment
	NetworkPolicies []*k8snetworkingv1.NetworkPolicy

	VirtualServices  []istioObject[*networkingv1.VirtualService]
	DestinationRules []istioObject[*networkingv1.DestinationRule]
	WasmPlugins      []istioObject[*extensionsv1alpha1.WasmPlugin]
	AuthzPolicies    []istioObject[*securityv1.AuthorizationPolicy]

	// Files are the YAML files read (base names), Kustomization the parsed kustomization.yaml.
	Files         []string
	Kustomization *kustomization
}

// kustomization is the subset of kustomize's schema the examples use;
// decoding it strictly catches typos in it too.
type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Resources  []string         `json:"resources"`
	Images     []kustomizeImage `json:"images,omitempty"`
	Patches    []struct {
		Target struct {
			Group   string `json:"group,omitempty"`
			Version string `json:"version,omitempty"`
			Kind    string `json:"kind"`
			Name    string `json:"name,omitempty"`
		} `json:"target"`
		Patch string `json:"patch"`
	} `json:"patches,omitempty"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"` // pinned (docs/deploy.md, step 3)
}

// header is what every document starts with.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// istioDoc is an Istio document with its spec kept raw for protojson.
type istioDoc struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// loadDir reads every *.yaml of dir into a bundle, decoding strictly.
func loadDir(dir string) (*bundle, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	b := &bundle{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(p)
		if name == "kustomization.yaml" {
			b.Kustomization = &kustomization{}
			if err := yaml.UnmarshalStrict(data, b.Kustomization); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		b.Files = append(b.Files, name)
		for i, doc := range docSeparator.Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if err := b.add(name, []byte(doc)); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
			}
		}
	}
	return b, nil
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func strict[T any](doc []byte) (*T, error) {
	v := new(T)
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return nil, err
	}
	return v, nil
}

func istio[T proto.Message](file string, doc []byte, spec T) (istioObject[T], error) {
	d, err := strict[istioDoc](doc)
	if err != nil {
		return istioObject[T]{}, err
	}
	// protojson rejects unknown fields and bad enum names: the strictness
	// the CRD's structural schema gives the API server.
	if err := protojson.Unmarshal(d.Spec, spec); err != nil {
		return istioObject[T]{}, fmt.Errorf("%s %s spec: %w", d.Kind, d.Metadata.Name, err)
	}
	return istioObject[T]{File: file, Meta: d.Metadata, Spec: spec}, nil
}

func (b *bundle) add(file string, doc []byte) error {
	var h header
	if err := yaml.Unmarshal(doc, &h); err != nil {
		return err
	}
	var err error
	switch h.APIVersion + "/" + h.Kind {
	case "v1/Namespace":
		var o *corev1.Namespace
		if o, err = strict[corev1.Namespace](doc); err == nil {
			b.Namespaces = append(b.Namespaces, o)
		}
	case "v1/Secret":
		var o *corev1.Secret
		if o, err = strict[corev1.Secret](doc); err == nil {
			b.Secrets = append(b.Secrets, o)
		}
	case "v1/ServiceAccount":
		var o *corev1.ServiceAccount
		if o, err = strict[corev1.ServiceAccount](doc); err == nil {
			b.ServiceAccounts = append(b.ServiceAccounts, o)
		}
	case "v1/Service":
		var o *corev1.Service
		if o, err = strict[corev1.Service](doc); err == nil {
			b.Services = append(b.Services, o)
		}
	case "v1/PersistentVolumeClaim":
		var o *corev1.PersistentVolumeClaim
		if o, err = strict[corev1.PersistentVolumeClaim](doc); err == nil {
			b.PVCs = append(b.PVCs, o)
		}
	case "apps/v1/Deployment":
		var o *appsv1.Deployment
		if o, err = strict[appsv1.Deployment](doc); err == nil {
			b.Deployments = append(b.Deployments, o)
		}
	case "networking.k8s.io/v1/NetworkPolicy":
		var o *k8snetworkingv1.NetworkPolicy
		if o, err = strict[k8snetworkingv1.NetworkPolicy](doc); err == nil {
			b.NetworkPolicies = append(b.NetworkPolicies, o)
		}
	case "networking.istio.io/v1/VirtualService":
		var o istioObject[*networkingv1.VirtualService]
		if o, err = istio(file, doc, &networkingv1.VirtualService{}); err == nil {
			b.VirtualServices = append(b.VirtualServices, o)
		}
	case "networking.istio.io/v1/DestinationRule":
		var o istioObject[*networkingv1.DestinationRule]
		if o, err = istio(file, doc, &networkingv1.DestinationRule{}); err == nil {
			b.DestinationRules = append(b.DestinationRules, o)
		}
	case "extensions.istio.io/v1alpha1/WasmPlugin":
		var o istioObject[*extensionsv1alpha1.WasmPlugin]
		if o, err = istio(file, doc, &extensionsv1alpha1.WasmPlugin{}); err == nil {
			b.WasmPlugins = append(b.WasmPlugins, o)
		}
	case "security.istio.io/v1/AuthorizationPolicy":
		var o istioObject[*securityv1.AuthorizationPolicy]
		if o, err = istio(file, doc, &securityv1.AuthorizationPolicy{}); err == nil {
			b.AuthzPolicies = append(b.AuthzPolicies, o)
		}
	default:
		// A new kind needs a decoder here: nothing ships unchecked.
		return fmt.Errorf("kind %s/%s has no strict decoder in this test", h.APIVersion, h.Kind)
	}
	return err
}

// selects reports whether every label of sel is in labels (and sel is not empty).
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// deploymentsSelected returns the Deployments of ns whose pods carry sel.
func (b *bundle) deploymentsSelected(ns string, sel map[string]string) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, d := range b.Deployments {
		if d.Namespace == ns && selects(sel, d.Spec.Template.Labels) {
			out = append(out, d)
		}
	}
	return out
}

// service finds a Service by its cluster-local FQDN ("name.ns.svc.cluster.local").
func (b *bundle) service(fqdn string) *corev1.Service {
	for _, s := range b.Services {
		if fqdn == s.Name+"."+s.Namespace+".svc.cluster.local" {
			return s
		}
	}
	return nil
}

func servicePort(s *corev1.Service, port uint32) *corev1.ServicePort {
	for i := range s.Spec.Ports {
		if uint32(s.Spec.Ports[i].Port) == port {
			return &s.Spec.Ports[i]
		}
	}
	return nil
}

func (b *bundle) subset(host, name string) *networkingv1.Subset {
	for _, dr := range b.DestinationRules {
		if dr.Spec.GetHost() != host {
			continue
		}
		for _, s := range dr.Spec.GetSubsets() {
			if s.GetName() == name {
				return s
			}
		}
	}
	return nil
}

func (b *bundle) secret(ns, name string) *corev1.Secret {
	for _, s := range b.Secrets {
		if s.Namespace == ns && s.Name == name {
			return s
		}
	}
	return nil
}

// errs collects check failures.
type errs []error

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Errorf(format, args...)) }

// check runs every semantic rule over the bundle.
func (b *bundle) check() error {
	var e errs
	b.checkKustomization(&e)
	b.checkRouting(&e)
	b.checkDeployments(&e)
	b.checkWasmPlugins(&e)
	b.checkShadowIsolation(&e)
	b.checkCollector(&e)
	return errors.Join(e...)
}

func (b *bundle) checkKustomization(e *errs) {
	k := b.Kustomization
	if k == nil {
		e.add("no kustomization.yaml")
		return
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		e.add("kustomization: apiVersion %q kind %q", k.APIVersion, k.Kind)
	}
	for _, f := range b.Files {
		if !slices.Contains(k.Resources, f) {
			e.add("kustomization does not list %s", f)
		}
	}
	for _, r := range k.Resources {
		if !slices.Contains(b.Files, r) {
			e.add("kustomization lists %s, which is not in the directory", r)
		}
	}
	for _, img := range k.Images {
		used := false
		for _, d := range b.Deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				used = used || strings.SplitN(c.Image, ":", 2)[0] == img.Name
			}
		}
		if !used {
			e.add("kustomization image %s is used by no container", img.Name)
		}
	}
	// Every image reference is one the kustomization rewrites, so editing
	// kustomization.yaml alone (docs/deploy.md, step 3) retargets them all.
	for _, d := range b.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "istio-proxy" {
				continue
			}
			if !slices.ContainsFunc(k.Images, func(img kustomizeImage) bool { return strings.SplitN(c.Image, ":", 2)[0] == img.Name }) {
				e.add("kustomization: no images entry rewrites %s (Deployment %s)", c.Image, d.Name)
			}
		}
	}
	urlPatch := false
	for _, p := range k.Patches {
		if p.Target.Kind == "WasmPlugin" && p.Target.Name == "" {
			urlPatch = strings.Contains(p.Patch, "path: /spec/url") && strings.Contains(p.Patch, "value: oci://")
		}
	}
	if len(b.WasmPlugins) > 0 && !urlPatch {
		e.add("kustomization: no patch sets /spec/url of every WasmPlugin")
	}
}

func (b *bundle) checkRouting(e *errs) {
	for _, vs := range b.VirtualServices {
		for i, r := range vs.Spec.GetHttp() {
			where := fmt.Sprintf("VirtualService %s http[%d] (%s)", vs.Meta.Name, i, r.GetName())
			if r.GetMirror() != nil && len(r.GetMirrors()) > 0 {
				e.add("%s: has both mirror and mirrors", where)
			}
			if r.GetMirrorPercent() != nil {
				e.add("%s: mirrorPercent is deprecated, use mirrors[].percentage", where)
			}
			if p := r.GetMirrorPercentage(); p != nil && (p.GetValue() < 0 || p.GetValue() > 100) {
				e.add("%s: mirrorPercentage %v not in [0, 100]", where, p.GetValue())
			}
			var dests []*networkingv1.Destination
			weights := int32(0)
			for _, rd := range r.GetRoute() {
				dests = append(dests, rd.GetDestination())
				weights += rd.GetWeight()
			}
			if len(r.GetRoute()) > 1 && weights != 100 {
				e.add("%s: route weights sum to %d", where, weights)
			}
			if r.GetMirror() != nil {
				dests = append(dests, r.GetMirror())
			}
			for j, m := range r.GetMirrors() {
				if p := m.GetPercentage(); p != nil && (p.GetValue() <= 0 || p.GetValue() > 100) {
					e.add("%s: mirrors[%d].percentage %v not in (0, 100]", where, j, p.GetValue())
				}
				dests = append(dests, m.GetDestination())
			}
			for _, d := range dests {
				b.checkDestination(e, where, vs.Meta.Namespace, d)
			}
		}
	}
	for _, dr := range b.DestinationRules {
		svc := b.service(dr.Spec.GetHost())
		if svc == nil {
			e.add("DestinationRule %s: host %s is no Service here", dr.Meta.Name, dr.Spec.GetHost())
			continue
		}
		for _, s := range dr.Spec.GetSubsets() {
			deps := b.deploymentsSelected(svc.Namespace, s.GetLabels())
			if len(deps) != 1 {
				e.add("DestinationRule %s subset %s selects %d Deployments, want 1", dr.Meta.Name, s.GetName(), len(deps))
			}
			// A subset narrows its host's endpoints: pods outside the
			// Service's selector are in no subset of it.
			for _, d := range deps {
				if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
					e.add("DestinationRule %s subset %s selects Deployment %s, which Service %s does not select", dr.Meta.Name, s.GetName(), d.Name, svc.Name)
				}
			}
		}
	}
}

func (b *bundle) checkDestination(e *errs, where, ns string, d *networkingv1.Destination) {
	svc := b.service(d.GetHost())
	if svc == nil {
		e.add("%s: host %s is no Service here (use the FQDN)", where, d.GetHost())
		return
	}
	if p := d.GetPort().GetNumber(); p != 0 && servicePort(svc, p) == nil {
		e.add("%s: Service %s has no port %d", where, svc.Name, p)
	}
	if d.GetSubset() != "" && b.subset(d.GetHost(), d.GetSubset()) == nil {
		e.add("%s: subset %s of %s is in no DestinationRule", where, d.GetSubset(), d.GetHost())
	}
}

func (b *bundle) checkDeployments(e *errs) {
	for _, d := range b.Deployments {
		where := "Deployment " + d.Name
		if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			e.add("%s: selector does not match its pod template", where)
		}
		pod := d.Spec.Template.Spec
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			e.add("%s: pod is not runAsNonRoot", where)
		}
		for _, c := range pod.Containers {
			if c.Name == "istio-proxy" {
				continue // merged into the injected sidecar
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() ||
				c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				e.add("%s container %s: needs cpu and memory requests and limits", where, c.Name)
			}
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				e.add("%s container %s: needs readOnlyRootFilesystem and no privilege escalation", where, c.Name)
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				e.add("%s container %s: needs readiness and liveness probes", where, c.Name)
			}
		}
	}
	for _, s := range b.Services {
		if len(b.deploymentsSelected(s.Namespace, s.Spec.Selector)) == 0 {
			e.add("Service %s selects no Deployment", s.Name)
		}
		for _, p := range s.Spec.Ports {
			if !strings.HasPrefix(p.Name, "http") && !strings.HasPrefix(p.Name, "grpc") {
				e.add("Service %s port %s: name it http-… or grpc-… for Istio's protocol detection", s.Name, p.Name)
			}
		}
	}
}

// roleLabel marks which shadowdiff role a Deployment plays.
const roleLabel = "shadowdiff.io/role"

// pluginConfig is the part of the filter's configuration this test reads;
// the filter's own config.Parse validates the whole (see filterconfig_test.go).
type pluginConfig struct {
	Role      string `json:"role"`
	Collector struct {
		Cluster string `json:"cluster"`
	} `json:"collector"`
	HashKey      string `json:"hash_key"`
	HashKeyEnv   string `json:"hash_key_env"`
	AssumeShadow bool   `json:"assume_shadow"`
}

// PluginConfigJSON returns the pluginConfig of a WasmPlugin as the JSON
// string Istio hands the plugin.
func pluginConfigJSON(wp *extensionsv1alpha1.WasmPlugin) ([]byte, error) {
	return protojson.Marshal(wp.GetPluginConfig())
}

var istioCluster = regexp.MustCompile(`^outbound\|(\d+)\|([^|]*)\|([^|]+)$`)

func (b *bundle) checkWasmPlugins(e *errs) {
	roles := map[string]int{}
	for _, wp := range b.WasmPlugins {
		where := "WasmPlugin " + wp.Meta.Name
		s := wp.Spec
		if !strings.HasPrefix(s.GetUrl(), "oci://") {
			e.add("%s: url %q is not oci://", where, s.GetUrl())
		}
		if s.GetFailStrategy() != extensionsv1alpha1.FailStrategy_FAIL_OPEN {
			e.add("%s: failStrategy %s, want FAIL_OPEN", where, s.GetFailStrategy())
		}
		if s.GetPhase() == extensionsv1alpha1.PluginPhase_UNSPECIFIED_PHASE || s.GetPriority() == nil {
			e.add("%s: set phase and priority explicitly", where)
		}
		if len(s.GetMatch()) != 1 || s.GetMatch()[0].GetMode().String() != "SERVER" {
			e.add("%s: match must be mode SERVER only (inbound responses)", where)
		}
		raw, err := pluginConfigJSON(s)
		if err != nil {
			e.add("%s: pluginConfig: %v", where, err)
			continue
		}
		var pc pluginConfig
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&pc); err != nil {
			e.add("%s: pluginConfig: %v", where, err)
			continue
		}
		roles[pc.Role]++
		if pc.HashKey != "" {
			e.add("%s: hash_key inline in pluginConfig; use the Secret via hash_key_env", where)
		}
		deps := b.deploymentsSelected(wp.Meta.Namespace, s.GetSelector().GetMatchLabels())
		if len(deps) != 1 {
			e.add("%s: selector %v matches %d Deployments, want 1", where, s.GetSelector().GetMatchLabels(), len(deps))
		}
		if _, ok := s.GetSelector().GetMatchLabels()["version"]; !ok {
			e.add("%s: selector has no version label", where)
		}
		for _, d := range deps {
			if got := d.Spec.Template.Labels[roleLabel]; got != pc.Role {
				e.add("%s: pluginConfig role %q but Deployment %s has %s=%q", where, pc.Role, d.Name, roleLabel, got)
			}
			b.checkHashKey(e, where, s, pc, d)
		}
		b.checkCollectorCluster(e, where, pc.Collector.Cluster)
	}
	for _, r := range []string{"primary", "secondary", "candidate"} {
		if roles[r] != 1 {
			e.add("%d WasmPlugins for role %s, want 1", roles[r], r)
		}
	}
	// The primary subset is routed to, the others are mirror targets.
	for _, vs := range b.VirtualServices {
		for _, r := range vs.Spec.GetHttp() {
			type place struct {
				d      *networkingv1.Destination
				mirror bool
			}
			var places []place
			for _, rd := range r.GetRoute() {
				places = append(places, place{rd.GetDestination(), false})
			}
			for _, m := range r.GetMirrors() {
				places = append(places, place{m.GetDestination(), true})
			}
			for _, p := range places {
				ss := b.subset(p.d.GetHost(), p.d.GetSubset())
				if ss == nil {
					continue // reported by checkRouting
				}
				got := ss.GetLabels()[roleLabel]
				if !p.mirror && got != "primary" || p.mirror && !isShadowRole(got) {
					e.add("VirtualService %s: subset %s of %s has role %q, which does not fit its place in the route", vs.Meta.Name, p.d.GetSubset(), p.d.GetHost(), got)
				}
			}
		}
	}
}

func isShadowRole(role string) bool { return role == "secondary" || role == "candidate" }

// liveAndMirrorHosts returns the hosts the VirtualServices route to and
// those they only mirror to.
func (b *bundle) liveAndMirrorHosts() (live, mirror map[string]bool) {
	live, mirror = map[string]bool{}, map[string]bool{}
	for _, vs := range b.VirtualServices {
		for _, h := range vs.Spec.GetHosts() {
			live[h] = true // a caller addressing the host may bypass the routes
		}
		for _, r := range vs.Spec.GetHttp() {
			for _, rd := range r.GetRoute() {
				live[rd.GetDestination().GetHost()] = true
			}
			if m := r.GetMirror(); m != nil {
				mirror[m.GetHost()] = true
			}
			for _, m := range r.GetMirrors() {
				mirror[m.GetDestination().GetHost()] = true
			}
		}
	}
	return live, mirror
}

// checkShadowIsolation: nothing but mirrors may reach a shadow. The
// secondary and candidate plugins set assume_shadow (Istio 1.28+ mirrors
// carry no "-shadow"), which answers every write they receive locally, so a
// Service that routes live callers to them would lose those writes. Callers
// that bypass the VirtualService (no sidecar, a gateway not bound to it,
// kube-proxy) are balanced by the Service's selector alone.
func (b *bundle) checkShadowIsolation(e *errs) {
	live, mirror := b.liveAndMirrorHosts()
	for h := range mirror {
		if live[h] {
			e.add("%s is both routed to and mirrored to: mirror to a Service of the shadows only", h)
		}
	}
	for _, s := range b.Services {
		fqdn := s.Name + "." + s.Namespace + ".svc.cluster.local"
		for _, d := range b.deploymentsSelected(s.Namespace, s.Spec.Selector) {
			role := d.Spec.Template.Labels[roleLabel]
			switch {
			case live[fqdn] && isShadowRole(role):
				e.add("Service %s, which live callers use, selects the %s Deployment %s: callers that bypass the VirtualService reach it", s.Name, role, d.Name)
			case mirror[fqdn] && !isShadowRole(role):
				e.add("Service %s, a mirror target, selects Deployment %s with %s=%q", s.Name, d.Name, roleLabel, role)
			case isShadowRole(role) && !mirror[fqdn]:
				e.add("Service %s selects the %s Deployment %s but is no mirror target: its callers' writes would be answered by the filter", s.Name, role, d.Name)
			}
		}
	}
	for _, wp := range b.WasmPlugins {
		raw, err := pluginConfigJSON(wp.Spec)
		if err != nil {
			continue // reported by checkWasmPlugins
		}
		var pc pluginConfig
		if json.Unmarshal(raw, &pc) != nil {
			continue
		}
		// The example serves every Istio the filter runs on, with or without the
		// "-shadow" suffix: the shadows must not depend on it.
		if isShadowRole(pc.Role) && !pc.AssumeShadow {
			e.add("WasmPlugin %s (%s): set assume_shadow, or Istio 1.28+ mirrors pass undigested and their writes unblocked", wp.Meta.Name, pc.Role)
		}
		if pc.Role == "primary" && pc.AssumeShadow {
			e.add("WasmPlugin %s: assume_shadow on the primary would answer users' writes locally", wp.Meta.Name)
		}
	}
}

// checkHashKey: the plugin reads the key from the proxy's environment
// (valueFrom HOST), and the Deployment sets that variable on istio-proxy
// from a Secret of this bundle.
func (b *bundle) checkHashKey(e *errs, where string, s *extensionsv1alpha1.WasmPlugin, pc pluginConfig, d *appsv1.Deployment) {
	name := pc.HashKeyEnv
	if name == "" {
		name = "SHADOWDIFF_HASH_KEY"
	}
	host := false
	for _, ev := range s.GetVmConfig().GetEnv() {
		host = host || ev.GetName() == name && ev.GetValueFrom() == extensionsv1alpha1.EnvValueSource_HOST
	}
	if !host {
		e.add("%s: vmConfig.env does not pass %s from the host", where, name)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != "istio-proxy" {
			continue
		}
		for _, ev := range c.Env {
			if ev.Name != name || ev.ValueFrom == nil || ev.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := ev.ValueFrom.SecretKeyRef
			sec := b.secret(d.Namespace, ref.Name)
			if sec == nil {
				e.add("Deployment %s: %s refers to Secret %s, not in namespace %s here", d.Name, name, ref.Name, d.Namespace)
			} else if _, ok := sec.StringData[ref.Key]; !ok {
				if _, ok := sec.Data[ref.Key]; !ok {
					e.add("Deployment %s: Secret %s has no key %s", d.Name, ref.Name, ref.Key)
				}
			}
			return
		}
	}
	e.add("Deployment %s: istio-proxy gets no %s from a Secret", d.Name, name)
}

// checkCollectorCluster: Istio's outbound|port||fqdn names a Service of
// this bundle and a port named grpc-… (the filter's stream needs HTTP/2).
func (b *bundle) checkCollectorCluster(e *errs, where, cluster string) {
	m := istioCluster.FindStringSubmatch(cluster)
	if m == nil {
		e.add("%s: collector.cluster %q is not outbound|PORT||FQDN", where, cluster)
		return
	}
	svc := b.service(m[3])
	if svc == nil {
		e.add("%s: collector.cluster names %s, no Service here", where, m[3])
		return
	}
	port, _ := strconv.Atoi(m[1])
	p := servicePort(svc, uint32(port))
	if p == nil || !strings.HasPrefix(p.Name, "grpc") {
		e.add("%s: collector.cluster port %d is not a grpc-… port of Service %s", where, port, svc.Name)
	}
}

// collectorService is the Service the filters' cluster names.
func (b *bundle) collectorService() *corev1.Service {
	for _, s := range b.Services {
		if s.Name == "shadowdiff-collector" {
			return s
		}
	}
	return nil
}

func (b *bundle) checkCollector(e *errs) {
	svc := b.collectorService()
	if svc == nil {
		e.add("no shadowdiff-collector Service")
		return
	}
	deps := b.deploymentsSelected(svc.Namespace, svc.Spec.Selector)
	if len(deps) != 1 {
		e.add("collector Service selects %d Deployments, want 1", len(deps))
		return
	}
	d := deps[0]
	var ingest *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if strings.HasPrefix(p.Name, "grpc") {
			ingest = &svc.Spec.Ports[i]
		}
	}
	if ingest == nil {
		e.add("collector Service has no grpc-… port")
		return
	}
	c := d.Spec.Template.Spec.Containers[0]
	for _, probe := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
		if probe == nil || probe.GRPC == nil || probe.GRPC.Port != ingest.TargetPort.IntVal && probe.GRPC.Port != ingest.Port {
			e.add("collector: startup, readiness and liveness probes must be gRPC health checks on the ingest port")
			break
		}
	}
	// --data-dir is a mount of a PersistentVolumeClaim of this bundle.
	dataDir := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--data-dir="); ok {
			dataDir = v
		}
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath != dataDir {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.PersistentVolumeClaim != nil {
				for _, pvc := range b.PVCs {
					mounted = mounted || pvc.Name == v.PersistentVolumeClaim.ClaimName && pvc.Namespace == d.Namespace
				}
			}
		}
	}
	if dataDir == "" || !mounted {
		e.add("collector: --data-dir %q is not a mounted PersistentVolumeClaim of this bundle", dataDir)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		e.add("collector: one replica with the Recreate strategy (one writer of the store)")
	}
	// Only mesh workloads reach ingest.
	ingestPath := "/" + shadowdiffv1.Collector_ServiceDesc.ServiceName + "/"
	guarded := false
	for _, ap := range b.AuthzPolicies {
		if ap.Meta.Namespace != d.Namespace || !selects(ap.Spec.GetSelector().GetMatchLabels(), d.Spec.Template.Labels) {
			continue
		}
		if ap.Spec.GetAction().String() != "ALLOW" {
			e.add("AuthorizationPolicy %s: want an ALLOW policy (it denies what it does not match)", ap.Meta.Name)
		}
		for _, r := range ap.Spec.GetRules() {
			mesh := len(r.GetFrom()) > 0
			var principals []string
			for _, f := range r.GetFrom() {
				mesh = mesh && len(f.GetSource().GetPrincipals()) > 0
				principals = append(principals, f.GetSource().GetPrincipals()...)
			}
			for _, t := range r.GetTo() {
				op := t.GetOperation()
				port := slices.Contains(op.GetPorts(), strconv.Itoa(int(ingest.TargetPort.IntVal))) ||
					slices.Contains(op.GetPorts(), strconv.Itoa(int(ingest.Port)))
				path := slices.ContainsFunc(op.GetPaths(), func(p string) bool {
					return strings.HasPrefix(ingestPath, strings.TrimSuffix(p, "*"))
				})
				if port && path {
					if !mesh {
						e.add("AuthorizationPolicy %s: the ingest rule must require a mesh identity (source.principals)", ap.Meta.Name)
					} else {
						b.checkIngestPrincipals(e, ap.Meta.Name, principals)
					}
					guarded = true
				}
			}
		}
	}
	if !guarded {
		e.add("no AuthorizationPolicy allows mesh workloads to %s* on the collector's port %d", ingestPath, ingest.Port)
	}
	b.checkCollectorNetworkPolicy(e, d, ingest)
}

// filterDeployments are the Deployments a WasmPlugin of this bundle runs in:
// the workloads that send digests.
func (b *bundle) filterDeployments() []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, wp := range b.WasmPlugins {
		for _, d := range b.deploymentsSelected(wp.Meta.Namespace, wp.Spec.GetSelector().GetMatchLabels()) {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// principalMatches follows Istio's string match for principals: exact,
// "*", "prefix*" or "*suffix".
func principalMatches(pattern, principal string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(principal, strings.TrimSuffix(pattern, "*"))
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(principal, strings.TrimPrefix(pattern, "*"))
	}
	return pattern == principal
}

// checkIngestPrincipals: the ingest rule admits the identities of the
// workloads that run the filter (their ServiceAccounts, in Istio's default
// trust domain) and not the whole mesh.
func (b *bundle) checkIngestPrincipals(e *errs, policy string, principals []string) {
	if slices.Contains(principals, "*") {
		e.add("AuthorizationPolicy %s: principals [\"*\"] lets any mesh identity send digests; name the filter's service accounts", policy)
	}
	for _, d := range b.filterDeployments() {
		sa := d.Spec.Template.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		id := "cluster.local/ns/" + d.Namespace + "/sa/" + sa
		if !slices.ContainsFunc(principals, func(p string) bool { return principalMatches(p, id) }) {
			e.add("AuthorizationPolicy %s: Deployment %s sends digests as %s, which the ingest rule does not allow", policy, d.Name, id)
		}
	}
}

// namespaceLabels are a Namespace's labels as a NetworkPolicy sees them
// (Kubernetes adds kubernetes.io/metadata.name).
func (b *bundle) namespaceLabels(name string) map[string]string {
	l := map[string]string{"kubernetes.io/metadata.name": name}
	for _, ns := range b.Namespaces {
		if ns.Name == name {
			for k, v := range ns.Labels {
				l[k] = v
			}
		}
	}
	return l
}

// checkCollectorNetworkPolicy: a NetworkPolicy isolates the collector's pods
// for ingress, lets every namespace whose workloads send digests reach the
// ingest port, and has no rule open to every source.
func (b *bundle) checkCollectorNetworkPolicy(e *errs, d *appsv1.Deployment, ingest *corev1.ServicePort) {
	var policies []*k8snetworkingv1.NetworkPolicy
	for _, np := range b.NetworkPolicies {
		if np.Namespace == d.Namespace && selects(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) &&
			slices.Contains(np.Spec.PolicyTypes, k8snetworkingv1.PolicyTypeIngress) {
			policies = append(policies, np)
		}
	}
	if len(policies) == 0 {
		e.add("no NetworkPolicy isolates the collector's pods for ingress")
		return
	}
	// The pod port the ingest Service port leads to (a NetworkPolicy sees
	// the pod's port, by number or by name).
	number, name := ingest.TargetPort.IntVal, ingest.TargetPort.StrVal
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if name != "" && cp.Name == name || number != 0 && cp.ContainerPort == number {
				number, name = cp.ContainerPort, cp.Name
			}
		}
	}
	ingestPort := func(r k8snetworkingv1.NetworkPolicyIngressRule) bool {
		for _, p := range r.Ports {
			if p.Port == nil || p.Port.IntValue() == int(number) || name != "" && p.Port.StrVal == name {
				return true
			}
		}
		return len(r.Ports) == 0
	}
	for _, np := range policies {
		for i, r := range np.Spec.Ingress {
			if len(r.From) == 0 {
				e.add("NetworkPolicy %s ingress[%d] admits every source", np.Name, i)
			}
			for _, peer := range r.From {
				if peer.IPBlock == nil && peer.NamespaceSelector == nil && peer.PodSelector == nil {
					e.add("NetworkPolicy %s ingress[%d] has an empty peer", np.Name, i)
				}
				if peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchLabels) == 0 && len(peer.NamespaceSelector.MatchExpressions) == 0 {
					e.add("NetworkPolicy %s ingress[%d] admits every namespace", np.Name, i)
				}
			}
		}
	}
	for _, fd := range b.filterDeployments() {
		nsLabels := b.namespaceLabels(fd.Namespace)
		reached := false
		for _, np := range policies {
			for _, r := range np.Spec.Ingress {
				if !ingestPort(r) {
					continue
				}
				for _, peer := range r.From {
					ns := peer.NamespaceSelector
					pods := peer.PodSelector
					reached = reached || ns != nil && len(ns.MatchExpressions) == 0 && selects(ns.MatchLabels, nsLabels) &&
						(pods == nil || len(pods.MatchLabels) == 0 || selects(pods.MatchLabels, fd.Spec.Template.Labels))
				}
			}
		}
		if !reached {
			e.add("no NetworkPolicy rule lets Deployment %s (namespace %s) reach the collector's port %d", fd.Name, fd.Namespace, number)
		}
	}
}
