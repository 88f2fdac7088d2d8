package envoy
