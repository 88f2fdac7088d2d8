package envoy

import (
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// convertBootstrap reduces a validated bootstrap to the subset, checking
// names and cross-references (routes, mirrors and plugins name clusters).
func convertBootstrap(b *bootstrapv3.Bootstrap) (*Config, error) {
	if err := onlyFields("", b, "node", "static_resources", "admin"); err != nil {
		return nil, err
	}
	cfg := &Config{}
	if n := b.GetNode(); n != nil {
		if err := onlyFields("node", n, "id", "cluster", "metadata"); err != nil {
			return nil, err
		}
		cfg.Node = n
	}
	if a := b.GetAdmin(); a != nil {
		if err := onlyFields("admin", a, "address"); err != nil {
			return nil, err
		}
		if a.GetAddress() == nil {
			return nil, pathErrorf("admin", "address is required")
		}
		addr, err := socketAddress("admin.address", a.GetAddress())
		if err != nil {
			return nil, err
		}
		cfg.Admin = &Admin{Address: addr}
	}
	sr := b.GetStaticResources()
	if sr == nil {
		return nil, pathErrorf("static_resources", "required")
	}
	if err := onlyFields("static_resources", sr, "listeners", "clusters"); err != nil {
		return nil, err
	}
	clusterNames := map[string]bool{}
	for i, c := range sr.GetClusters() {
		path := index("static_resources.clusters", i)
		cc, err := convertCluster(path, c)
		if err != nil {
			return nil, err
		}
		if clusterNames[cc.Name] {
			return nil, pathErrorf(field(path, "name"), "duplicate cluster %q", cc.Name)
		}
		clusterNames[cc.Name] = true
		cfg.Clusters = append(cfg.Clusters, cc)
	}
	listenerNames := map[string]bool{}
	for i, l := range sr.GetListeners() {
		path := index("static_resources.listeners", i)
		lc, err := convertListener(path, l, clusterNames)
		if err != nil {
			return nil, err
		}
		if listenerNames[lc.Name] {
			return nil, pathErrorf(field(path, "name"), "duplicate listener %q", lc.Name)
		}
		listenerNames[lc.Name] = true
		cfg.Listeners = append(cfg.Listeners, lc)
	}
	return cfg, nil
}

func convertListener(path string, l *listenerv3.Listener, clusters map[string]bool) (*Listener, error) {
	if err := onlyFields(path, l, "name", "address", "filter_chains", "per_connection_buffer_limit_bytes"); err != nil {
		return nil, err
	}
	if l.GetAddress() == nil {
		return nil, pathErrorf(field(path, "address"), "required")
	}
	addr, err := socketAddress(field(path, "address"), l.GetAddress())
	if err != nil {
		return nil, err
	}
	lc := &Listener{Name: l.GetName(), Address: addr, BufferLimit: defaultBufferLimit}
	if lc.Name == "" {
		lc.Name = addr
	}
	if v := l.GetPerConnectionBufferLimitBytes(); v != nil {
		lc.BufferLimit = int(v.GetValue())
	}
	chains := l.GetFilterChains()
	if len(chains) != 1 {
		return nil, pathErrorf(field(path, "filter_chains"), "exactly one filter chain is supported, got %d", len(chains))
	}
	fcPath := index(field(path, "filter_chains"), 0)
	if err := onlyFields(fcPath, chains[0], "filters", "name"); err != nil {
		return nil, err
	}
	filters := chains[0].GetFilters()
	if len(filters) != 1 {
		return nil, pathErrorf(field(fcPath, "filters"), "exactly one network filter (the HTTP connection manager) is supported, got %d", len(filters))
	}
	fPath := index(field(fcPath, "filters"), 0)
	if lc.HCM, err = convertHCM(fPath, filters[0], clusters); err != nil {
		return nil, err
	}
	return lc, nil
}
