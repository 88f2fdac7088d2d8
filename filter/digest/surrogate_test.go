package digest

import (
	"reflect"
	"testing"
)

// A \u escape that is not half of a valid surrogate pair stands for U+FFFD
// on its own, and the escape after it is read normally: encoding/json reads
// them so, and the digest must not depend on how a string was escaped.
func TestSurrogateEscapesDigestLikeTheirDecodedString(t *testing.T) {
	opts := &JSONOptions{Key: NewKey([]byte("surrogate-test-key-0123"))}
	for _, c := range []struct{ escaped, plain string }{
		{`"\ud800\u0000"`, "\"\ufffd\\u0000\""},
		{`"\ud800x"`, "\"\ufffdx\""},
		{`"\udc00\ud83d\ude00"`, "\"\ufffd\U0001F600\""},
		{`"\ud83d\ude00"`, "\"\U0001F600\""},
		{`"\ud83d\u0041"`, "\"\ufffdA\""},
	} {
		got, err := DigestJSON([]byte(c.escaped), opts)
		if err != nil {
			t.Fatalf("%s: %v", c.escaped, err)
		}
		want, err := DigestJSON([]byte(c.plain), opts)
		if err != nil {
			t.Fatalf("%s: %v", c.plain, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s digests differently from %s:\n%+v\n%+v", c.escaped, c.plain, got, want)
		}
	}
	if _, err := DigestJSON([]byte(`"\ud800\uZZZZ"`), opts); err == nil {
		t.Error("a bad escape after a lone surrogate was accepted")
	}
}
