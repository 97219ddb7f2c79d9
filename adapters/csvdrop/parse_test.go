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

// BenchmarkParseExport parses the demo's export (tens of thousands of rows) without
// indexing it: the reading and mapping part of what a swap costs off to the side.
func BenchmarkParseExport(b *testing.B) {
	rows := dataset.Generate(dataset.DefaultSeed, dataset.DefaultSize).Insurance
	data := encode(b, rows)
	l := hrssLayout(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		n, err := l.parse(context.Background(), bytes.NewReader(data), func(keys, values []string) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		if n != len(rows) {
			b.Fatalf("%d rows, want %d", n, len(rows))
		}
	}
	b.ReportMetric(float64(len(rows)), "rows/op")
}

// FuzzParseExport feeds the parser arbitrary bytes, starting from the simulator's real
// output. Whatever the input, the parser must not panic, must reject only with a
// malformed rejection (there is no I/O to fail), and what it accepts must be consistent:
// as many rows handed over as counted, every key trimmed and equal to the unified field
// its column maps to.
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
	at := map[string]int{} // unified field → position in values
	for i, name := range l.fields {
		at[name] = i
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		seen := 0
		n, err := l.parse(context.Background(), bytes.NewReader(data), func(keys, values []string) error {
			seen++
			if len(keys) != len(l.keys) || len(values) != len(l.fields) {
				t.Fatalf("%d keys, %d values for %d operations, %d fields", len(keys), len(values), len(l.keys), len(l.fields))
			}
			for i, k := range l.keys {
				if keys[i] != strings.TrimSpace(keys[i]) {
					t.Fatalf("%s key %q is not trimmed", k.Op, keys[i])
				}
				if keys[i] != "" && strings.TrimSpace(values[at[unified[k.Column]]]) != keys[i] {
					t.Fatalf("%s: row under key %q has %s %q", k.Op, keys[i], unified[k.Column], values[at[unified[k.Column]]])
				}
			}
			return nil
		})
		if err != nil {
			if r, ok := errors.AsType[*rejection](err); !ok || r.reason != ReasonMalformed {
				t.Fatalf("rejected with %T %v, want a malformed rejection", err, err)
			}
			return
		}
		if n <= 0 || n != seen {
			t.Fatalf("%d rows counted, %d handed over", n, seen)
		}
	})
}

// BenchmarkFetch looks one citizen up in the demo's indexed export: what an HRSS cache
// miss costs the gateway (docs/PERFORMANCE.md, "District scale").
func BenchmarkFetch(b *testing.B) {
	dir := b.TempDir()
	ds := dataset.Generate(dataset.DefaultSeed, dataset.DefaultSize)
	writeExport(b, dir, ds, day1)
	s, err := Open(b.Context(), hrss.Binding(dir), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	keys := []string{dataset.ZhangWei}
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.Fetch(b.Context(), "byCitizen", keys)
		if err != nil || len(got[dataset.ZhangWei]) != 2 {
			b.Fatalf("Fetch = %v, %v", got, err)
		}
	}
}
