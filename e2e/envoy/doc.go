// Package envoy is the harness's Envoy stand-in: it reads an Envoy
// bootstrap v3 file and runs a documented subset of it, so the real
// filter.wasm can be tested with the same YAML that real Envoy runs.
//
// # Subset
//
// Bootstrap: node (id, cluster, and metadata with values of any kind:
// strings, numbers, bools, lists and nested structs such as Istio's
// LABELS; Config.Node keeps it whole for the Wasm host, which serves it as
// the xds.node property as Envoy does), static_resources.listeners,
// static_resources.clusters, admin.address.
//
// Listeners: socket_address (TCP), per_connection_buffer_limit_bytes
// (default 1 MiB, the stream buffer limit), one filter chain holding one
// envoy.filters.network.http_connection_manager.
//
// HTTP connection manager (v3): stat_prefix, codec_type (AUTO, HTTP1,
// HTTP2 as cleartext h2c), generate_request_id (x-request-id, a UUID v4, is
// added when absent), inline route_config, access_log with the stdout access
// logger (one slog record per request with Envoy's default fields),
// http_filters: any number of envoy.extensions.filters.http.wasm.v3.Wasm
// then envoy.extensions.filters.http.router.v3.Router, last.
//
// Routes: virtual hosts matched on the whole Host/:authority like Envoy
// (exact, then "*.suffix" / "*-suffix" wildcards longest first, then
// "prefix*" longest first, then "*"); routes matched in order on prefix,
// path or safe_regex (RE2, whole path without the query) and headers
// (string_match exact/prefix/suffix/contains, present_match, invert_match);
// the route's name is kept for StreamInfo.RouteName; route actions with
// cluster, timeout (default 15s, 0 disables), prefix_rewrite and
// request_mirror_policies (on the route, else the virtual host, else the
// route configuration).
//
// Mirroring follows Envoy: one random stream id per request decides every
// policy (id % denominator < numerator; no runtime_fraction means always),
// "-shadow" is appended to the authority's host before any port unless
// disable_shadow_host_suffix_append or host_rewrite_literal is set, the
// router copies every request header (x-request-id included) and streams
// the request body to each mirror, the mirror's response is discarded, and
// a mirror never delays or fails the primary request. CONNECT and upgrade
// requests are never mirrored (and are refused, as Envoy does without
// upgrade_configs).
//
// Clusters: STATIC and STRICT_DNS with load_assignment, ROUND_ROBIN,
// connect_timeout, dns_refresh_rate, dns_lookup_family, and HTTP/2 (h2c) via
// the envoy.extensions.upstreams.http.v3.HttpProtocolOptions
// explicit_http_config.
//
// Behaviour worth knowing, where the harness departs from Envoy or where
// Envoy's own choice matters:
//
//   - The route timeout starts when the request has been fully received
//     (Envoy's global timeout); a 504 "upstream request timeout" follows if
//     no response headers came, a reset otherwise. Shadows get the same
//     timeout from the moment they start.
//   - A filter's StopIteration on headers is Envoy's StopAllIterationAnd-
//     Watermark (what Wasm filters get): data is held for that filter, and
//     the downstream (or upstream) is no longer read once the held data
//     passes the buffer limit. StopAndBuffer on data buffers and calls the
//     filter again with the whole body: past the limit a request gets 413,
//     a response 500 while its headers are still held, a reset otherwise.
//   - A local reply goes through the encoder filters (in reverse order) when
//     none of them has run yet, straight to the client otherwise.
//   - The router matches the route again after the filters (Envoy clears
//     the route cache when a filter changes the headers).
//   - An HTTP/1 response that starts before the request is complete
//     carries "connection: close", and the connection is closed after it,
//     as Envoy does rather than wait for the rest of the request.
//   - A shadow whose upstream reads its body more slowly than the primary
//     is dropped once it lags by more than the buffer limit
//     (cluster.<name>.upstream_rq_shadow_dropped) instead of slowing the
//     primary down.
//   - Response flags in the access log: UF, UC, UT, UH, NR, NC, DC, LR.
//
// Everything else is rejected when the file is loaded, with an error that
// names the YAML path of the unsupported field; nothing is ignored.
//
// Admin: /stats (Envoy's "name: value" text format, ?filter=REGEX) with
// http.<stat_prefix>.downstream_rq_{total,1xx..5xx,active,too_large,timeout,
// response_before_rq_complete},
// downstream_cx_{total,active}, no_route, no_cluster;
// cluster.<name>.upstream_rq_{total,1xx..5xx,active,completed,timeout,tx_reset,shadow_dropped},
// upstream_cx_{total,connect_fail}; server.live; and Options.ExtraStats
// (the sidecar adds the Wasm plugins' metrics as wasmcustom.<name>).
// /ready answers 200 "LIVE" once every listener is up, 503 before;
// /server_info lists the listeners.
package envoy
