package plugin

import "testing"

// TestStripShadowSuffix: the suffix is found wherever Envoy's
// shadowAppendedHost puts it, before the port and after an IPv6 literal.
func TestStripShadowSuffix(t *testing.T) {
	for _, tc := range []struct {
		authority, host string
		suffixed        bool
	}{
		{"shop-shadow", "shop", true},
		{"shop-shadow:8080", "shop:8080", true},
		{"shop.default.svc.cluster.local-shadow:80", "shop.default.svc.cluster.local:80", true},
		{"10.0.0.7-shadow:8080", "10.0.0.7:8080", true},
		{"[fd00::1]-shadow", "[fd00::1]", true},
		{"[fd00::1]-shadow:8080", "[fd00::1]:8080", true},
		{"[::ffff:10.0.0.7]-shadow", "[::ffff:10.0.0.7]", true},
		{"shop", "shop", false},
		{"shop:8080", "shop:8080", false},
		{"[fd00::1]", "[fd00::1]", false},
		{"[fd00::1]:8080", "[fd00::1]:8080", false},
		{"shadow", "shadow", false},
		{"shadow:8080", "shadow:8080", false},
		{"shadow-shop", "shadow-shop", false},
		{"shop-shadow-v2:8080", "shop-shadow-v2:8080", false},
		{"shop-shadowy", "shop-shadowy", false},
		{"shop:8080-shadow", "shop:8080-shadow", false}, // suffix after the port
		{"-shadow", "-shadow", false},
		{"-shadow:8080", "-shadow:8080", false},
		{"", "", false},
	} {
		host, suffixed := stripShadowSuffix(tc.authority)
		if host != tc.host || suffixed != tc.suffixed {
			t.Errorf("stripShadowSuffix(%q) = %q, %v; want %q, %v", tc.authority, host, suffixed, tc.host, tc.suffixed)
		}
	}
}
