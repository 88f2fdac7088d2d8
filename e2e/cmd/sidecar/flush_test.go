package main

import (
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

func TestFlushWriterHoldsRecordsUntilFlushOrClose(t *testing.T) {
	var out testenv.SyncBuffer
	w := newFlushWriter(&out, time.Hour)
	if _, err := w.Write([]byte("msg=access path=/a\n")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "" {
		t.Fatalf("written before a flush: %q", out.String())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "msg=access path=/a\n" {
		t.Fatalf("after close: %q", got)
	}
}

func TestFlushWriterFlushesOnItsInterval(t *testing.T) {
	var out testenv.SyncBuffer
	w := newFlushWriter(&out, 5*time.Millisecond)
	defer w.Close()
	if _, err := w.Write([]byte("msg=access\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "msg=access") {
		if time.Now().After(deadline) {
			t.Fatal("the record was never flushed")
		}
		time.Sleep(time.Millisecond)
	}
}
