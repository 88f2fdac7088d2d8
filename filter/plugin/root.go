package plugin

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/shadowdiff/shadowdiff/filter/config"
	"github.com/shadowdiff/shadowdiff/filter/digest"
	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// defaultKey is used when no hash key is configured. It is public, so hashes
// of guessable values (small ids, enums) can be reversed by anyone holding
// the collector's data; the plugin warns when it falls back to it.
const defaultKey = "shadowdiff-default-key-set-SHADOWDIFF_HASH_KEY"

// Root is one plugin instance: the configuration, the sender and the
// counters every stream of the VM shares.
type Root struct {
	host     Host
	now      func() time.Time
	cfg      *config.Config
	role     wire.Role
	workload wire.Workload
	key      digest.Key
	bodies   *digest.BodyDigester
	headers  digest.HeaderOptions
	metrics  *metrics
	sender   *sender
	free     []*Stream

	// trailers digests every trailer; trailerDigests is its scratch space.
	trailers       digest.HeaderOptions
	trailerDigests []wire.HeaderDigest
	// tickPeriod is the sender's tick; digests holds the responses that
	// wait for their digest (pending.go).
	tickPeriod time.Duration
	digests    digestQueue
	// captured counts the body bytes streams hold, in flight or queued
	// (body.max_total_bytes).
	captured int
	// warnedUnmarked: warnUnmarked has spoken.
	warnedUnmarked bool
}

// NewRoot makes a plugin instance on host. now may be nil (time.Now).
func NewRoot(host Host, now func() time.Time) *Root {
	if now == nil {
		now = time.Now
	}
	return &Root{host: host, now: now}
}

// OnConfigure parses the plugin configuration and starts the sender. An
// error refuses the configuration: the proxy does not start the plugin.
func (r *Root) OnConfigure(data []byte) error {
	m, err := newMetrics(r.host)
	if err != nil {
		return err
	}
	r.metrics = m
	cfg, err := config.Parse(data)
	if err != nil {
		m.configErrors.Add(1)
		r.host.Log(LogCritical, err.Error())
		return err
	}
	r.cfg = cfg
	r.role = map[string]wire.Role{config.RolePrimary: wire.RolePrimary, config.RoleSecondary: wire.RoleSecondary, config.RoleCandidate: wire.RoleCandidate}[cfg.Role]

	secret := cfg.HashKey
	if secret == "" && cfg.HashKeyEnv != "" {
		secret = os.Getenv(cfg.HashKeyEnv)
		if secret != "" && len(secret) < 16 {
			err := fmt.Errorf("shadowdiff plugin config: hash_key_env: $%s holds %d bytes, want at least 16", cfg.HashKeyEnv, len(secret))
			m.configErrors.Add(1)
			r.host.Log(LogCritical, err.Error())
			return err
		}
	}
	if secret == "" {
		secret = defaultKey
		r.host.Log(LogWarn, "shadowdiff: no hash key (hash_key, or $"+cfg.HashKeyEnv+"): using the public default key; "+
			"hashes of guessable values can be reversed. Give every role the same secret key.")
	}
	r.key = digest.NewKey([]byte(secret))
	r.workload = r.resolveWorkload()
	r.bodies = digest.NewBodyDigester(digest.BodyOptions{
		MaxDecodedBytes: cfg.Body.MaxDecodedBytes,
		JSON: digest.JSONOptions{Key: r.key, MaxFields: cfg.Body.MaxFields,
			Raw: func(p string) bool { return cfg.RawAllowed(bodyField(p)) }},
	})
	exclude := cfg.Headers.Exclude
	if len(exclude) == 0 {
		exclude = digest.DefaultExcludedHeaders
	}
	r.headers = digest.HeaderOptions{Key: r.key, Include: cfg.Headers.Include, Exclude: exclude,
		Raw: func(name string) bool { return cfg.RawAllowed("headers." + name) }}

	r.trailers = digest.HeaderOptions{Key: r.key}

	r.sender = newSender(r.host, cfg, m, r.now)
	tick := time.Duration(cfg.Batch.FlushInterval)
	if b := time.Duration(cfg.Reconnect.InitialBackoff); b < tick {
		tick = b
	}
	r.tickPeriod = max(tick, 10*time.Millisecond)
	if err := r.host.SetTickPeriod(r.tickPeriod); err != nil {
		return fmt.Errorf("set tick period: %w", err)
	}
	mode := ""
	if cfg.AssumeShadow {
		// The mode that answers live writes locally, should any arrive.
		mode = "; assume_shadow: every request is treated as a mirror, its writes answered by the filter"
	}
	authority := cfg.Collector.Authority
	if authority == "" {
		authority = cfg.Collector.Cluster // what Envoy sends then
	}
	r.host.Log(LogInfo, fmt.Sprintf("shadowdiff: %s sidecar of %s/%s (%s) sending digests to cluster %q (authority %q)%s",
		cfg.Role, r.workload.Namespace, r.workload.Name, r.workload.Version, cfg.Collector.Cluster, authority, mode))
	return nil
}

// bodyField maps a body-relative digest path to the query namespace.
func bodyField(p string) string {
	switch {
	case p == "":
		return "body"
	case strings.HasPrefix(p, "[]"):
		return "body" + p
	}
	return "body." + p
}

// resolveWorkload fills what the config leaves out from the node metadata
// Istio gives every sidecar.
func (r *Root) resolveWorkload() wire.Workload {
	w := wire.Workload{Name: r.cfg.Workload.Name, Namespace: r.cfg.Workload.Namespace,
		Version: r.cfg.Workload.Version, Instance: r.cfg.Workload.Instance}
	// Valid UTF-8 once here, so that the encoder need not check the
	// workload of every digest (wire.Workload).
	prop := func(path ...string) string {
		v, _ := r.host.Property(path...)
		return strings.ToValidUTF8(string(v), "\uFFFD")
	}
	if w.Name == "" {
		w.Name = prop("xds", "node", "metadata", "WORKLOAD_NAME")
	}
	if w.Namespace == "" {
		w.Namespace = prop("xds", "node", "metadata", "NAMESPACE")
	}
	if w.Version == "" {
		w.Version = prop("xds", "node", "metadata", "LABELS", "version")
	}
	if w.Instance == "" {
		if w.Instance = prop("xds", "node", "metadata", "NAME"); w.Instance == "" {
			w.Instance = prop("xds", "node", "id")
		}
	}
	w.PluginName = prop("plugin_name")
	return w
}

// trailersHash is one keyed hash of the response trailers, independent of
// their order: the keyed per-name digests headers get (names lower-cased,
// values of a repeated name joined), sorted by name, hashed in turn. It is
// 0 when there are none.
func (r *Root) trailersHash(ts []Header) uint64 {
	if len(ts) == 0 {
		return 0
	}
	r.trailerDigests = digest.AppendHeaderDigests(r.trailerDigests[:0], ts, &r.trailers)
	h := r.key.New()
	for _, t := range r.trailerDigests {
		h.WriteUint64(uint64(len(t.Name)))
		h.WriteString(t.Name)
		h.WriteUint64(t.ValueHash)
	}
	clear(r.trailerDigests) // drop the names: they point into the stream
	return h.Sum64()
}

// sampled reports whether the request with this pairing key is digested.
// The key's hash decides, so the primary, secondary and candidate sidecars
// all pick the same requests and their digests still pair up.
func (r *Root) sampled(key string) bool {
	if r.cfg.SamplePercent >= 100 {
		return true
	}
	return float64(digest.FNV1a(key)%10000) < r.cfg.SamplePercent*100
}

// OnTick digests queued responses, flushes batches and reconnects.
func (r *Root) OnTick() {
	if r.sender != nil {
		r.digestPending()
		r.sender.tick()
	}
}

// OnDone ends the plugin instance: the proxy tears the root context down
// (a plugin or listener update, a drain) and deletes it right after.
// Digests still queued (responses waiting for their digest included), and
// batches sent but not acknowledged, can no longer be delivered or
// confirmed: they are counted as dropped (shutdown), and the collector
// stream is reset.
func (r *Root) OnDone() {
	if r.sender != nil {
		r.dropPendingDigests()
		r.sender.shutdown()
	}
}

// OnStreamMessage delivers a message of the collector stream.
func (r *Root) OnStreamMessage(id uint32, msg []byte) {
	if r.sender != nil {
		r.sender.onMessage(id, msg)
	}
}

// OnStreamClose reports the end of the collector stream.
func (r *Root) OnStreamClose(id uint32, grpcStatus int32, message string) {
	if r.sender != nil {
		r.sender.onClose(id, grpcStatus, message)
	}
}

// maxFreeStreams bounds the released streams a root keeps for reuse: about
// the streams one worker has in flight at once.
const maxFreeStreams = 256

// NewStream starts the per-request state of one HTTP stream, reusing a
// released one when there is one.
func (r *Root) NewStream() *Stream {
	if n := len(r.free); n > 0 {
		s := r.free[n-1]
		r.free = r.free[:n-1]
		return s
	}
	return &Stream{root: r}
}

// warnUnmarked says once, at a secondary or candidate, that a request came
// without a shadow's marks: live traffic reaching a shadow, or (more
// likely) a mirror from Istio 1.28 or later, which no longer appends
// "-shadow" to the Host. Either way it is not digested and its writes are
// not blocked, which the user must hear about.
func (r *Root) warnUnmarked() {
	if r.warnedUnmarked {
		return
	}
	r.warnedUnmarked = true
	r.host.Log(LogWarn, fmt.Sprintf("shadowdiff: this %s sidecar received a request not marked as a shadow (no \"-shadow\" Host suffix, no %s header): "+
		"it is neither digested nor guarded against side effects (not_digested.wrong_direction). Istio 1.28 and later mirror without the suffix: "+
		"set assume_shadow: true if only mirrors reach this workload, or DISABLE_SHADOW_HOST_SUFFIX=false on istiod", r.cfg.Role, r.cfg.ShadowHeader))
}
