// Package oci builds shadowdiff's container images without a Docker daemon,
// with go-containerregistry, into OCI image layouts that `crane push` reads:
//
//   - the Wasm filter in the format Istio's WasmPlugin pulls,
//   - the collector and the demo's sample service as minimal images: one
//     static binary, a non-root user, no shell.
//
// Builds are reproducible: file times and the image's creation time come
// from Options.Created, so the same inputs give the same digests.
package oci

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the user and group the service images run as (distroless's "nonroot").
const NonRoot = 65532

// Paths inside the images.
const (
	// WasmFile is the name Istio's image fetcher looks for in the layer.
	WasmFile       = "plugin.wasm"
	CollectorPath  = "/collector"
	SampleAppPath  = "/sampleapp"
	CollectorData  = "/var/lib/shadowdiff"
	Source         = "https://github.com/shadowdiff/shadowdiff"
	refNameKey     = "org.opencontainers.image.ref.name"
	createdBy      = "shadowdiff examples/oci"
	defaultVersion = "dev"
)

// Options are common to every image.
type Options struct {
	// Version becomes the org.opencontainers.image.version label and the
	// layout's ref name (the tag crane push would use).
	Version string
	// Created stamps the image and every file; zero means the Unix epoch,
	// so builds are reproducible.
	Created time.Time
	// Arch is the GOARCH of the service binaries (amd64, arm64).
	Arch string
}

func (o Options) norm() Options {
	if o.Version == "" {
		o.Version = defaultVersion
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0).UTC()
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	return o
}

// File is one entry of a layer.
type File struct {
	Path string // absolute, "/collector"
	Mode int64  // permission bits (and sticky bit); directories get TypeDir
	Dir  bool
	UID  int
	GID  int
	Data []byte
}

// Layer builds a gzip-compressed OCI layer from files, in path order with
// parent directories first, every time set to created.
func Layer(files []File, created time.Time) (v1.Layer, error) {
	files = append([]File(nil), files...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		name := path.Clean(f.Path)
		if !path.IsAbs(name) || name == "/" {
			return nil, fmt.Errorf("oci: layer path %q must be absolute", f.Path)
		}
		h := &tar.Header{
			Name: name[1:], Mode: f.Mode, Uid: f.UID, Gid: f.GID,
			ModTime: created, Format: tar.FormatPAX,
		}
		if f.Dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("oci: tar %s: %w", name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("oci: tar %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("oci: tar: %w", err)
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// image assembles a single-layer OCI image (OCI manifest and config media types).
func image(layer v1.Layer, platform v1.Platform, cfg v1.Config, o Options) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: createdBy},
	})
	if err != nil {
		return nil, fmt.Errorf("oci: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("oci: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Variant = platform.Architecture, platform.OS, platform.Variant
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("oci: config: %w", err)
	}
	return img, nil
}

func labels(title, description string, o Options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       title,
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
}

// FilterImage packs the Wasm filter the way Istio pulls it: the "compat"
// variant of the Wasm image spec, an ordinary OCI image with one
// application/vnd.oci.image.layer.v1.tar+gzip layer whose tar holds
// plugin.wasm. Istio tries that variant first; unlike the "oci" artifact
// variant (custom media types, raw .wasm layer) every registry and tool
// (crane, docker, skopeo) handles it.
func FilterImage(wasm []byte, o Options) (v1.Image, error) {
	o = o.norm()
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, fmt.Errorf("oci: filter is not a WebAssembly module")
	}
	layer, err := Layer([]File{{Path: "/" + WasmFile, Mode: 0o644, Data: wasm}}, o.Created)
	if err != nil {
		return nil, err
	}
	return image(layer, v1.Platform{OS: "wasip1", Architecture: "wasm"},
		v1.Config{Labels: labels("shadowdiff-filter", "shadowdiff Proxy-Wasm filter for Envoy and Istio", o)}, o)
}

// Files every service image carries besides its binary: a passwd entry
// for the non-root user (so tools show a name) and a writable /tmp.
func baseFiles() []File {
	return []File{
		{Path: "/etc", Dir: true, Mode: 0o755},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRoot, NonRoot))},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRoot))},
		{Path: "/home", Dir: true, Mode: 0o755},
		{Path: "/home/nonroot", Dir: true, Mode: 0o700, UID: NonRoot, GID: NonRoot},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
	}
}

func user() string { return fmt.Sprintf("%d:%d", NonRoot, NonRoot) }

// CollectorImage wraps a static linux binary of ./collector/cmd/collector:
// runs as 65532, exposes gRPC 9090 (ingest, query, health) and HTTP 9091
// (metrics, console), and keeps its store in the volume /var/lib/shadowdiff,
// which the image creates owned by the user so it works without a mount too.
func CollectorImage(binary []byte, o Options) (v1.Image, error) {
	o = o.norm()
	if err := checkELF(binary); err != nil {
		return nil, fmt.Errorf("oci: collector: %w", err)
	}
	files := append(baseFiles(),
		File{Path: CollectorPath, Mode: 0o755, Data: binary},
		File{Path: "/var", Dir: true, Mode: 0o755},
		File{Path: "/var/lib", Dir: true, Mode: 0o755},
		File{Path: CollectorData, Dir: true, Mode: 0o700, UID: NonRoot, GID: NonRoot},
	)
	layer, err := Layer(files, o.Created)
	if err != nil {
		return nil, err
	}
	return image(layer, v1.Platform{OS: "linux", Architecture: o.Arch}, v1.Config{
		Entrypoint:   []string{CollectorPath},
		User:         user(),
		WorkingDir:   CollectorData,
		Env:          []string{"SHADOWDIFF_DATA_DIR=" + CollectorData},
		ExposedPorts: map[string]struct{}{"9090/tcp": {}, "9091/tcp": {}},
		Volumes:      map[string]struct{}{CollectorData: {}},
		Labels:       labels("shadowdiff-collector", "shadowdiff collector: pairs response digests and reports regressions", o),
	}, o)
}

// SampleAppImage wraps a static linux binary of ./e2e/cmd/sampleapp, the
// demo shop of examples/istio, listening on 8080.
func SampleAppImage(binary []byte, o Options) (v1.Image, error) {
	o = o.norm()
	if err := checkELF(binary); err != nil {
		return nil, fmt.Errorf("oci: sampleapp: %w", err)
	}
	layer, err := Layer(append(baseFiles(), File{Path: SampleAppPath, Mode: 0o755, Data: binary}), o.Created)
	if err != nil {
		return nil, err
	}
	return image(layer, v1.Platform{OS: "linux", Architecture: o.Arch}, v1.Config{
		Entrypoint:   []string{SampleAppPath},
		Cmd:          []string{"--addr=:8080"},
		User:         user(),
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Labels:       labels("shadowdiff-sampleapp", "shadowdiff demo shop service (v1/v2)", o),
	}, o)
}

// checkELF refuses what cannot run in a scratch image: non-ELF files and
// dynamically linked binaries (they need a loader and a libc the image
// lacks; build with CGO_ENABLED=0).
func checkELF(b []byte) error {
	if !bytes.HasPrefix(b, []byte("\x7fELF")) {
		return fmt.Errorf("not a linux (ELF) binary")
	}
	if static, err := isStatic(b); err != nil {
		return err
	} else if !static {
		return fmt.Errorf("binary is dynamically linked; build it with CGO_ENABLED=0")
	}
	return nil
}

// WriteLayout writes img as the only image of a fresh OCI layout at dir,
// tagged by its ref name annotation; `crane push DIR REF` pushes it.
func WriteLayout(dir string, img v1.Image, tag string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("oci: clear %s: %w", dir, err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("oci: layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refNameKey: tag})); err != nil {
		return fmt.Errorf("oci: write image to %s: %w", dir, err)
	}
	return nil
}

// ReadLayout returns the single image of the layout at dir and its ref name.
func ReadLayout(dir string) (v1.Image, string, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", fmt.Errorf("oci: read layout %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, "", fmt.Errorf("oci: read layout %s: %w", dir, err)
	}
	if len(m.Manifests) != 1 {
		return nil, "", fmt.Errorf("oci: layout %s holds %d manifests, want 1", dir, len(m.Manifests))
	}
	d := m.Manifests[0]
	img, err := idx.Image(d.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("oci: read layout %s: %w", dir, err)
	}
	return img, d.Annotations[refNameKey], nil
}
