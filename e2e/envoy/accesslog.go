package envoy

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// accessLog writes one record per request with the fields of Envoy's
// default access log format, in its order, as slog attributes:
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//	%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//	%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//	"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//
// plus the listener, route and cluster.
func (s *stream) accessLog() {
	req := func(name string) string {
		if s.reqHeaders == nil {
			return "-"
		}
		if v, ok := s.reqHeaders.Get(name); ok {
			return v
		}
		return "-"
	}
	path := req("x-envoy-original-path")
	if path == "-" {
		path = req(":path")
	}
	ust := "-"
	if s.respHeaders != nil {
		if v, ok := s.respHeaders.Get("x-envoy-upstream-service-time"); ok {
			ust = v
		}
	}
	flags := "-"
	if len(s.flags) > 0 {
		flags = strings.Join(s.flags, ",")
	}
	dash := func(v string) string {
		if v == "" {
			return "-"
		}
		return v
	}
	method := req(":method")
	if s.reqHeaders == nil {
		method, path = s.r.Method, s.r.RequestURI
	}
	s.l.srv.opts.AccessLogger.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("start_time", s.info.StartTime.UTC().Format(time.RFC3339Nano)),
		slog.String("method", method),
		slog.String("path", path),
		slog.String("protocol", s.info.Protocol),
		slog.Int("response_code", s.info.ResponseCode),
		slog.String("response_flags", flags),
		slog.Int64("bytes_received", s.info.BytesReceived),
		slog.Int64("bytes_sent", s.info.BytesSent),
		slog.Int64("duration_ms", time.Since(s.info.StartTime).Milliseconds()),
		slog.String("upstream_service_time", ust),
		slog.String("x_forwarded_for", req("x-forwarded-for")),
		slog.String("user_agent", req("user-agent")),
		slog.String("request_id", req("x-request-id")),
		slog.String("authority", req(":authority")),
		slog.String("upstream_host", dash(s.info.UpstreamAddress)),
		slog.String("listener", s.l.cfg.Name),
		slog.String("route", dash(s.info.RouteName)),
		slog.String("cluster", dash(s.info.ClusterName)),
	)
}
