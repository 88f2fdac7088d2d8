package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// printer writes a command's result in the chosen --output format.
type printer struct {
	format string
	w      io.Writer
}

func (o *globalOptions) printer(w io.Writer) *printer { return &printer{format: o.output, w: w} }

func (p *printer) structured() bool { return p.format == "json" || p.format == "yaml" }
func (p *printer) wide() bool       { return p.format == "wide" }

// protoJSON is the stable, indented JSON of a message: protojson with
// lowerCamelCase names (as grpcurl shows them), scalars even when zero, and
// its whitespace normalised (protojson varies it on purpose).
func protoJSON(m proto.Message, indent bool) ([]byte, error) {
	raw, err := protojson.MarshalOptions{EmitDefaultValues: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	var out bytes.Buffer
	if indent {
		err = json.Indent(&out, raw, "", "  ")
	} else {
		err = json.Compact(&out, raw)
	}
	return out.Bytes(), err
}

// message prints m as JSON or YAML, or with table otherwise.
func (p *printer) message(m proto.Message, table func(*tabwriter.Writer)) error {
	if !p.structured() {
		return p.table(table)
	}
	b, err := protoJSON(m, true)
	if err != nil {
		return err
	}
	return p.document(b)
}

// value prints a Go value (with json tags) as JSON or YAML, or with table.
func (p *printer) value(v any, table func(*tabwriter.Writer)) error {
	if !p.structured() {
		return p.table(table)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return p.document(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func (p *printer) document(jsonDoc []byte) error {
	if p.format == "yaml" {
		y, err := yaml.JSONToYAML(jsonDoc)
		if err != nil {
			return err
		}
		_, err = p.w.Write(y)
		return err
	}
	_, err := fmt.Fprintf(p.w, "%s\n", jsonDoc)
	return err
}

// stream prints one message of a stream: a JSON line, a YAML document, or
// a line of text.
func (p *printer) stream(m proto.Message, line string) error {
	switch p.format {
	case "json":
		b, err := protoJSON(m, false)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	case "yaml":
		b, err := protoJSON(m, true)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "---\n%s", y)
		return err
	}
	_, err := fmt.Fprintln(p.w, line)
	return err
}

func (p *printer) table(f func(*tabwriter.Writer)) error {
	tw := tabwriter.NewWriter(p.w, 0, 8, 3, ' ', 0)
	f(tw)
	return tw.Flush()
}

// row writes tab-separated cells; tabs and newlines inside cells become spaces.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}
