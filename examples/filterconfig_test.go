package examples

import (
	"testing"

	"github.com/shadowdiff/shadowdiff/filter/config"
)

// Every pluginConfig the examples ship passes the filter's own validation
// (filter/config.Parse, strict: unknown fields and bad values are errors).
func TestPluginConfigsPassFilterValidation(t *testing.T) {
	b, err := loadDir(istioDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, wp := range b.WasmPlugins {
		raw, err := pluginConfigJSON(wp.Spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse(raw); err != nil {
			t.Errorf("WasmPlugin %s: pluginConfig %s: %v", wp.Meta.Name, raw, err)
		}
	}
	// The validation is strict, so the check above means something.
	if _, err := config.Parse([]byte(`{"role":"primary","collector":{"cluster":"c"},"colector":{}}`)); err == nil {
		t.Error("config.Parse accepted an unknown field")
	}
}
