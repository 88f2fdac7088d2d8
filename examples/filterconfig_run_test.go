package examples

import (
	"os"
	"os/exec"
	"testing"
)

// The pluginConfig check against the filter's own parser lives in
// filterconfig_test.go behind the "filterconfig" build tag, so this package
// compiles before filter/config exists. Once it does, this test runs it.
func TestPluginConfigsWithFilterValidation(t *testing.T) {
	if _, err := os.Stat("../filter/config"); err != nil {
		t.Skip("filter/config does not exist yet: pluginConfigs are checked structurally only")
	}
	cmd := exec.Command("go", "test", "-count=1", "-tags", "filterconfig", "-run", "^TestPluginConfigsPassFilterValidation$", ".")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pluginConfigs against filter/config.Parse: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
