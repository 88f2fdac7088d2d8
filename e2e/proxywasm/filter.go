package proxywasm

import "github.com/shadowdiff/shadowdiff/e2e/httpfilter"

// NewFilter returns the filter of one stream, bound to one VM for its life.
func (p *Plugin) NewFilter(cb httpfilter.Callbacks) httpfilter.Filter {
	return passthrough{}
}

type passthrough struct{}

func (passthrough) DecodeHeaders(*httpfilter.Headers, bool) httpfilter.Status {
	return httpfilter.Continue
}
func (passthrough) DecodeData(*httpfilter.Buffer, bool) httpfilter.Status { return httpfilter.Continue }
func (passthrough) DecodeTrailers(*httpfilter.Headers) httpfilter.Status  { return httpfilter.Continue }
func (passthrough) EncodeHeaders(*httpfilter.Headers, bool) httpfilter.Status {
	return httpfilter.Continue
}
func (passthrough) EncodeData(*httpfilter.Buffer, bool) httpfilter.Status { return httpfilter.Continue }
func (passthrough) EncodeTrailers(*httpfilter.Headers) httpfilter.Status  { return httpfilter.Continue }
func (passthrough) Log()                                                  {}
func (passthrough) Destroy()                                              {}
