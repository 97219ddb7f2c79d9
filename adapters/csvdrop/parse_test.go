package csvdrop

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/hrss"
)

func hrssLayout(t testing.TB) *layout {
	t.Helper()
	cfg, err := parseBinding(hrss.Binding("/srv/hrss"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.layout
}

func encode(t testing.TB, rows []dataset.Insurance) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := hrss.Encode(&buf, rows); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkParseExport parses and indexes the demo's export (tens of thousands of rows),
// what a swap costs off to the side.
func BenchmarkParseExport(b *testing.B) {
	rows := dataset.Generate(dataset.DefaultSeed, dataset.DefaultSize).Insurance
	data := encode(b, rows)
	l := hrssLayout(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		e, err := l.parse(context.Background(), bytes.NewReader(data), len(rows))
		if err != nil {
			b.Fatal(err)
		}
		if e.rows != len(rows) {
			b.Fatalf("%d rows, want %d", e.rows, len(rows))
		}
	}
	b.ReportMetric(float64(len(rows)), "rows/op")
}

// FuzzParseExport feeds the parser arbitrary bytes, starting from the simulator's real
// output. Whatever the input, the parser must not panic, must reject only with a
// malformedError (there is no I/O to fail), and what it accepts must be a consistent
// index: every row in range, every key found under the unified field its column maps to.
func FuzzParseExport(f *testing.F) {
	ds := dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 20, Enterprises: 5})
	real := encode(f, ds.Insurance)
	f.Add(real)
	f.Add(encode(f, ds.Insurance[:1]))
	f.Add(bytes.TrimPrefix(real, []byte("\uFEFF")))
	f.Add(bytes.ReplaceAll(real, []byte("\r\n"), []byte("\n")))
	f.Add(real[:len(real)/2])
	f.Add([]byte{})
	f.Add([]byte("\uFEFFSFZH,XM,DWTYSHXYDM,XZLX,CBZT,SCCBNY,ZHJFNY\r\n"))
	f.Add([]byte("\uFEFFSFZH,XM,DWTYSHXYDM,XZLX,CBZT,SCCBNY,ZHJFNY\r\n\" x\",\"\"\"\",,110,1,200001,200001\r\n"))

	l := hrssLayout(f)
	binding := hrss.Binding("/srv/hrss")
	unified := map[string]string{} // legacy column → unified field
	for _, fm := range binding.Fields {
		unified[fm.From] = fm.To
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := l.parse(context.Background(), bytes.NewReader(data), 0)
		if err != nil {
			if r, ok := errors.AsType[*rejection](err); !ok || r.reason != ReasonMalformed {
				t.Fatalf("rejected with %T %v, want a malformed rejection", err, err)
			}
			return
		}
		if e.rows <= 0 || len(e.values) != e.rows*len(l.fields) {
			t.Fatalf("%d rows, %d values for %d fields", e.rows, len(e.values), len(l.fields))
		}
		for _, k := range l.keys {
			for key, rows := range e.index[k.op] {
				if key == "" || key != strings.TrimSpace(key) {
					t.Fatalf("%s indexed under key %q", k.op, key)
				}
				for _, r := range rows {
					if r < 0 || int(r) >= e.rows {
						t.Fatalf("%s: row %d out of range", k.op, r)
					}
					if got := e.record(l.fields, r)[unified[k.column]]; got != key {
						t.Fatalf("%s: record under key %q has %s %q", k.op, key, unified[k.column], got)
					}
				}
			}
		}
	})
}
