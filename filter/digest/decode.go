package digest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"

	"github.com/shadowdiff/shadowdiff/filter/wire"
)

// retainDecoded bounds the decode buffer a decoder keeps for the next body;
// a larger one is dropped once the body is digested.
const retainDecoded = 256 << 10

// defaultDecodeBudget applies when BodyOptions.MaxDecodedBytes is not set.
const defaultDecodeBudget = 4 << 20

// decoder undoes content encodings, keeping its readers and output buffer
// from body to body.
type decoder struct {
	src     bytes.Reader
	limit   io.LimitedReader
	gzip    *gzip.Reader
	zlib    io.ReadCloser // implements zlib.Resetter
	deflate io.ReadCloser // implements flate.Resetter
	out     []byte
}

// decode undoes the content encoding of data within the budget. An error
// means the body could not be decoded: data is returned and the caller
// falls back to the wire bytes. The result is valid until release.
func (z *decoder) decode(d *wire.BodyDigest, data []byte, budget int) ([]byte, error) {
	var r io.Reader
	switch d.ContentEncoding {
	case "", "identity":
		return data, nil
	case "gzip", "x-gzip":
		z.src.Reset(data)
		if z.gzip == nil {
			zr, err := gzip.NewReader(&z.src)
			if err != nil {
				return data, fmt.Errorf("gzip: %w", err)
			}
			z.gzip = zr
		} else if err := z.gzip.Reset(&z.src); err != nil {
			return data, fmt.Errorf("gzip: %w", err)
		}
		r = z.gzip
	case "deflate":
		z.src.Reset(data)
		if isZlibHeader(data) {
			// RFC 9110 defines "deflate" as the zlib format, which
			// zlib-based servers send.
			if z.zlib == nil {
				zr, err := zlib.NewReader(&z.src)
				if err != nil {
					return data, fmt.Errorf("deflate: %w", err)
				}
				z.zlib = zr
			} else if err := z.zlib.(zlib.Resetter).Reset(&z.src, nil); err != nil {
				return data, fmt.Errorf("deflate: %w", err)
			}
			r = z.zlib
			break
		}
		// Some old servers send raw DEFLATE (RFC 1951) instead.
		if z.deflate == nil {
			z.deflate = flate.NewReader(&z.src)
		} else if err := z.deflate.(flate.Resetter).Reset(&z.src, nil); err != nil {
			return data, fmt.Errorf("deflate: %w", err)
		}
		r = z.deflate
	default:
		return data, fmt.Errorf("content-encoding %q is not decoded", d.ContentEncoding)
	}
	if budget <= 0 {
		budget = defaultDecodeBudget
	}
	z.limit = io.LimitedReader{R: r, N: int64(budget) + 1}
	out, err := readAll(&z.limit, z.out[:0])
	z.out = out
	if len(out) > budget {
		d.DecodeBudgetExceeded = true
		return out[:budget], nil
	}
	if err != nil {
		if d.Truncated && (err == io.ErrUnexpectedEOF || err == io.EOF) {
			return out, nil // a captured prefix ends mid-stream
		}
		return data, fmt.Errorf("%s: %w", d.ContentEncoding, err)
	}
	return out, nil
}

// isZlibHeader reports whether data starts with a zlib header (RFC 1950
// section 2.2) that compress/zlib accepts without a preset dictionary: method
// 8 (deflate), a window of at most 32 KiB, no FDICT bit (HTTP has no way to
// agree on a dictionary) and a check value that makes CMF*256+FLG a multiple
// of 31. Raw DEFLATE rarely passes this check, so anything else is read as
// raw DEFLATE, as browsers do.
func isZlibHeader(data []byte) bool {
	if len(data) < 2 {
		return false
	}
	cmf, flg := data[0], data[1]
	return cmf&0x0f == 8 && cmf>>4 <= 7 && flg&0x20 == 0 && (uint(cmf)<<8|uint(flg))%31 == 0
}

// release lets go of the body just decoded: the buffer is kept for the next
// one unless it is large.
func (z *decoder) release() {
	z.src.Reset(nil)
	z.limit.R = nil
	if cap(z.out) > retainDecoded {
		z.out = nil
	}
}

// readAll is io.ReadAll appending to b.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	if cap(b) == 0 {
		b = make([]byte, 0, 512)
	}
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}
