package csvdrop

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"strings"
)

// maxMarker bounds how much of a marker file is read: a marker says "done" and perhaps
// a row count and a checksum, never more.
const maxMarker = 4 << 10

// promise is what a producer's marker vouches for, when it says more than "done": the
// number of data rows (the header excluded) and the SHA-256 of the whole file. Zero
// values mean the marker does not say.
type promise struct {
	rows   int64
	sha256 []byte
}

// readMarker reads and parses the marker at path. An empty marker promises nothing; a
// marker whose content cannot be read as "rows=N" and "sha256=HEX" lines (":" is
// accepted instead of "=", and a bare number is a row count) is a malformed export, since
// it means the producer and the gateway disagree about what "done" says.
func readMarker(path string) (promise, error) {
	f, err := os.Open(path)
	if err != nil {
		return promise{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMarker+1))
	if err != nil {
		return promise{}, fmt.Errorf("read marker: %w", err)
	}
	if len(b) > maxMarker {
		return promise{}, &rejection{reason: ReasonMalformed, err: fmt.Errorf("marker is over %d bytes", maxMarker)}
	}
	var p promise
	bad := func(format string, args ...any) (promise, error) {
		return promise{}, &rejection{reason: ReasonMalformed, err: fmt.Errorf("marker: "+format, args...)}
	}
	for _, line := range strings.Split(strings.TrimPrefix(string(b), bom), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if !ok {
			k, v = "rows", line
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "rows", "count", "rowcount":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return bad("row count %q is not a number", v)
			}
			p.rows = n
		case "sha256":
			sum, err := hex.DecodeString(v)
			if err != nil || len(sum) != sha256.Size {
				return bad("sha256 %q is not 64 hexadecimal digits", v)
			}
			p.sha256 = sum
		default:
			return bad("unknown line %q (want rows=N or sha256=HEX)", line)
		}
	}
	return p, nil
}

// check compares what was read with what the marker promised. A mismatch means the
// file is not (yet) the export the producer finished: rejected until it changes.
func (p promise) check(rows int64, sum hash.Hash) error {
	if p.rows > 0 && rows != p.rows {
		return &rejection{reason: ReasonIncomplete, err: fmt.Errorf("the marker promises %d rows, the file has %d", p.rows, rows)}
	}
	if p.sha256 != nil && sum != nil {
		if got := sum.Sum(nil); string(got) != string(p.sha256) {
			return &rejection{reason: ReasonIncomplete, err: errors.New("the file's SHA-256 differs from the marker's")}
		}
	}
	return nil
}
