package oci

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const root = "../.." // the module root, from examples/oci

var (
	buildMu  sync.Mutex
	binCache = map[string][]byte{}
	binErr   = map[string]error{}
)

// build compiles a package of the module with env into a temp file once
// per test binary and returns its bytes.
func build(t *testing.T, pkg string, env ...string) ([]byte, error) {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + strings.Join(env, " ")
	if b, ok := binCache[key]; ok || binErr[key] != nil {
		return b, binErr[key]
	}
	dir, err := os.MkdirTemp("", "ocitest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "bin")
	args := []string{"build", "-trimpath", "-o", out}
	if strings.Contains(key, "wasip1") {
		args = append(args, "-buildmode=c-shared")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		binErr[key] = errors.New(strings.TrimSpace(string(msg)))
		return nil, binErr[key]
	}
	b, err := os.ReadFile(out)
	binCache[key], binErr[key] = b, err
	return b, err
}

func staticLinux(t *testing.T, pkg string) ([]byte, error) {
	return build(t, pkg, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
}

// filterWasm is bin/filter.wasm (make filter), or the filter built here.
func filterWasm(t *testing.T) []byte {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(root, "bin", "filter.wasm")); err == nil {
		return b
	}
	b, err := build(t, "./filter/cmd/filter", "GOOS=wasip1", "GOARCH=wasm")
	if err != nil {
		t.Skipf("no bin/filter.wasm and ./filter/cmd/filter does not build yet, so the filter image is not tested: %v", err)
	}
	return b
}

// roundTrip writes img as a layout and reads it back, as crane push would.
func roundTrip(t *testing.T, img v1.Image, tag string) v1.Image {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(dir, img, tag); err != nil {
		t.Fatal(err)
	}
	got, ref, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ref != tag {
		t.Errorf("layout ref name %q, want %q", ref, tag)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("layout digest %s, built %s", d, want)
	}
	return got
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

// single checks the OCI media types and returns the entries of the one layer,
// read the way Istio's fetcher reads it (compressed stream, gunzip, tar).
func single(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s, config %s: want OCI media types", m.MediaType, m.Config.MediaType)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	entries := map[string]entry{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = entry{h, data}
	}
	return entries
}

func TestFilterImageAsIstioPullsIt(t *testing.T) {
	wasm := filterWasm(t)
	img, err := FilterImage(wasm, Options{Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	entries := single(t, roundTrip(t, img, "0.1.0"))
	if len(entries) != 1 {
		t.Errorf("layer entries %v, want only %s", keys(entries), WasmFile)
	}
	if e, ok := entries[WasmFile]; !ok || string(e.data) != string(wasm) {
		t.Errorf("layer does not hold the filter as %s", WasmFile)
	}
	cf, _ := img.ConfigFile()
	if cf.OS != "wasip1" || cf.Architecture != "wasm" || cf.Config.Labels["org.opencontainers.image.version"] != "0.1.0" {
		t.Errorf("config: os %q arch %q labels %v", cf.OS, cf.Architecture, cf.Config.Labels)
	}
}

func TestFilterImageRejectsNonWasm(t *testing.T) {
	if _, err := FilterImage([]byte("\x7fELF..."), Options{}); err == nil {
		t.Error("an ELF file was packed as the filter")
	}
}

func keys(m map[string]entry) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// checkServiceImage checks what every service image promises.
func checkServiceImage(t *testing.T, img v1.Image, binPath string, binary []byte, ports []string) (*v1.ConfigFile, map[string]entry) {
	t.Helper()
	entries := single(t, roundTrip(t, img, "0.1.0"))
	e, ok := entries[strings.TrimPrefix(binPath, "/")]
	if !ok || string(e.data) != string(binary) || e.hdr.Mode&0o111 == 0 {
		t.Errorf("%s missing, different or not executable", binPath)
	}
	if p := entries["etc/passwd"]; !strings.Contains(string(p.data), "nonroot:x:65532:65532") {
		t.Errorf("/etc/passwd has no nonroot user: %q", p.data)
	}
	if tmp := entries["tmp/"]; tmp.hdr == nil || tmp.hdr.Mode&0o1777 != 0o1777 {
		t.Error("no world-writable sticky /tmp")
	}
	for name, en := range entries {
		if !en.hdr.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %s, want the epoch (reproducible)", name, en.hdr.ModTime)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{binPath}) || c.User != "65532:65532" {
		t.Errorf("entrypoint %v user %q", c.Entrypoint, c.User)
	}
	var got []string
	for p := range c.ExposedPorts {
		got = append(got, p)
	}
	slices.Sort(got)
	if !slices.Equal(got, ports) {
		t.Errorf("exposed ports %v, want %v", got, ports)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || len(cf.RootFS.DiffIDs) != 1 || len(cf.History) != 1 {
		t.Errorf("config: os %q arch %q diff_ids %d history %d", cf.OS, cf.Architecture, len(cf.RootFS.DiffIDs), len(cf.History))
	}
	return cf, entries
}

func TestCollectorImage(t *testing.T) {
	bin, err := staticLinux(t, "./collector/cmd/collector")
	if err != nil {
		t.Skipf("./collector/cmd/collector does not build yet, so the collector image is not tested: %v", err)
	}
	img, err := CollectorImage(bin, Options{Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	cf, entries := checkServiceImage(t, img, CollectorPath, bin, []string{"9090/tcp", "9091/tcp"})
	if _, ok := cf.Config.Volumes[CollectorData]; !ok || cf.Config.WorkingDir != CollectorData {
		t.Errorf("volumes %v workdir %q, want %s", cf.Config.Volumes, cf.Config.WorkingDir, CollectorData)
	}
	if !slices.Contains(cf.Config.Env, "SHADOWDIFF_DATA_DIR="+CollectorData) {
		t.Errorf("env %v does not point the data dir at the volume", cf.Config.Env)
	}
	d := entries[strings.TrimPrefix(CollectorData, "/")+"/"]
	if d.hdr == nil || d.hdr.Uid != NonRoot || d.hdr.Gid != NonRoot {
		t.Errorf("%s is not a directory owned by %d", CollectorData, NonRoot)
	}
}

func TestSampleAppImageRuns(t *testing.T) {
	bin, err := staticLinux(t, "./e2e/cmd/sampleapp")
	if err != nil {
		t.Fatal(err)
	}
	img, err := SampleAppImage(bin, Options{Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	cf, entries := checkServiceImage(t, img, SampleAppPath, bin, []string{"8080/tcp"})
	if !slices.Equal(cf.Config.Cmd, []string{"--addr=:8080"}) {
		t.Errorf("cmd %v", cf.Config.Cmd)
	}
	// The binary taken out of the image runs here (same OS and arch).
	exe := filepath.Join(t.TempDir(), "sampleapp")
	if err := os.WriteFile(exe, entries["sampleapp"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "--print-manifest").Output()
	if err != nil || !strings.Contains(string(out), `"changes"`) {
		t.Errorf("extracted sampleapp --print-manifest: %v, %.100s", err, out)
	}
}

func TestImagesAreReproducible(t *testing.T) {
	bin, err := staticLinux(t, "./e2e/cmd/sampleapp")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := SampleAppImage(bin, Options{Version: "1"})
	b, _ := SampleAppImage(bin, Options{Version: "1"})
	c, _ := SampleAppImage(bin, Options{Version: "1", Created: time.Unix(1700000000, 0)})
	da, _ := a.Digest()
	db, _ := b.Digest()
	dc, _ := c.Digest()
	if da != db {
		t.Errorf("two builds of the same input: %s and %s", da, db)
	}
	if da == dc {
		t.Error("the creation time does not reach the image")
	}
}

func TestServiceImagesRejectUnrunnableBinaries(t *testing.T) {
	if _, err := CollectorImage([]byte("#!/bin/sh\n"), Options{}); err == nil {
		t.Error("a shell script was accepted as the collector")
	}
	// A dynamically linked binary of this machine needs a loader the image lacks.
	for _, p := range []string{"/bin/ls", "/usr/bin/env"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if static, _ := isStatic(b); static {
			continue
		}
		if _, err := SampleAppImage(b, Options{}); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
			t.Errorf("%s: %v, want a dynamically-linked error", p, err)
		}
		return
	}
	t.Skip("no dynamically linked binary on this machine to try")
}
