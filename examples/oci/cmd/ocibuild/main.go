// Command ocibuild writes shadowdiff's images as OCI layouts, without a
// Docker daemon (`make oci` runs it):
//
//	ocibuild --out bin/oci --version 0.1.0 --arch amd64 \
//	  --filter bin/filter.wasm --collector bin/oci/build/collector --sampleapp bin/oci/build/sampleapp
//
// gives bin/oci/shadowdiff-filter, bin/oci/shadowdiff-collector and
// bin/oci/shadowdiff-sampleapp, each pushable with
// `crane push bin/oci/shadowdiff-filter $REGISTRY/shadowdiff-filter:0.1.0`.
// An empty input flag skips that image. The creation time is
// $SOURCE_DATE_EPOCH when set, else the Unix epoch (reproducible digests).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shadowdiff/shadowdiff/examples/oci"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ocibuild:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ocibuild", flag.ContinueOnError)
	out := fs.String("out", "bin/oci", "directory that receives one OCI layout per image")
	version := fs.String("version", "dev", "image version: label and layout tag")
	arch := fs.String("arch", "amd64", "GOARCH the service binaries were built for")
	filter := fs.String("filter", "", "the Wasm filter (bin/filter.wasm)")
	collector := fs.String("collector", "", "static linux binary of ./collector/cmd/collector")
	sampleapp := fs.String("sampleapp", "", "static linux binary of ./e2e/cmd/sampleapp")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	created := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		created = time.Unix(sec, 0).UTC()
	}
	opts := oci.Options{Version: *version, Created: created, Arch: *arch}

	builds := []struct {
		name, input string
		build       func([]byte, oci.Options) (v1.Image, error)
	}{
		{"shadowdiff-filter", *filter, oci.FilterImage},
		{"shadowdiff-collector", *collector, oci.CollectorImage},
		{"shadowdiff-sampleapp", *sampleapp, oci.SampleAppImage},
	}
	built := 0
	for _, b := range builds {
		if b.input == "" {
			continue
		}
		data, err := os.ReadFile(b.input)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		img, err := b.build(data, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		dir := filepath.Join(*out, b.name)
		if err := oci.WriteLayout(dir, img, *version); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		fmt.Fprintf(stdout, "%-40s %s\n", dir, digest)
		built++
	}
	if built == 0 {
		return errors.New("nothing to build: pass --filter, --collector and/or --sampleapp")
	}
	return nil
}
