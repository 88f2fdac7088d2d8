package config

import (
	"strings"
	"testing"
)

func TestBodyMaxTotalBytes(t *testing.T) {
	c, err := Parse([]byte(`{"role":"primary"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Body.MaxTotalBytes != 64<<20 {
		t.Errorf("default body.max_total_bytes %d, want 64 MiB", c.Body.MaxTotalBytes)
	}
	if c, err = Parse([]byte(`{"role":"primary","body":{"max_body_bytes":4096,"max_total_bytes":4096}}`)); err != nil || c.Body.MaxTotalBytes != 4096 {
		t.Errorf("max_total_bytes equal to max_body_bytes: %v %+v", err, c)
	}
	for _, in := range []string{
		`{"role":"primary","body":{"max_total_bytes":1024}}`, // below max_body_bytes (1 MiB)
		`{"role":"primary","body":{"max_total_bytes":2147483648}}`,
		`{"role":"primary","body":{"max_total_bytes":"64MiB"}}`,
	} {
		_, err := Parse([]byte(in))
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != "body.max_total_bytes" || !strings.Contains(err.Error(), "body.max_total_bytes") {
			t.Errorf("%s: error %v, want it about body.max_total_bytes", in, err)
		}
	}
}
