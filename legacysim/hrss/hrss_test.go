package hrss_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/adapters/csvdrop"
	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/hrss"
)

var day = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func small() *dataset.Dataset {
	return dataset.Generate(dataset.DefaultSeed, dataset.Size{Citizens: 300, Enterprises: 30})
}

func TestWriteExport(t *testing.T) {
	dir := t.TempDir()
	ds := small()
	path, err := hrss.WriteExport(dir, ds, day)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "shebao_20261127.csv"); path != want {
		t.Fatalf("path %q, want %q", path, want)
	}
	if _, err := os.Stat(path + ".done"); err != nil {
		t.Fatalf("marker: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("the directory holds %d entries, want the export and its marker only", len(entries))
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := bytes.CutPrefix(b, []byte("\uFEFF"))
	if !ok {
		t.Fatal("no byte order mark")
	}
	if n, crlf := bytes.Count(body, []byte("\n")), bytes.Count(body, []byte("\r\n")); n != crlf || n != len(ds.Insurance)+1 {
		t.Fatalf("%d line feeds, %d CRLF, want %d CRLF lines", n, crlf, len(ds.Insurance)+1)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"SFZH", "XM", "DWTYSHXYDM", "XZLX", "CBZT", "SCCBNY", "ZHJFNY"}; !reflect.DeepEqual(rows[0], want) {
		t.Fatalf("header %v, want %v", rows[0], want)
	}
	for i, r := range ds.Insurance {
		want := []string{r.IDNumber, r.Name, r.EmployerCode, r.Type, r.Status, r.FirstMonth, r.LastPaidMonth}
		if !reflect.DeepEqual(rows[i+1], want) {
			t.Fatalf("row %d = %v, want %v", i+1, rows[i+1], want)
		}
	}
	wantLiu := []string{dataset.LiuYang, "刘洋", "", "110", "1", "201001", "202610"}
	found := false
	for _, r := range rows {
		found = found || reflect.DeepEqual(r, wantLiu)
	}
	if !found {
		t.Error("the self-paid fixture row 刘洋 with an empty employer is missing")
	}
}

func TestWriteExportReplacesTheDaysExport(t *testing.T) {
	dir := t.TempDir()
	ds := small()
	if _, err := hrss.WriteExport(dir, ds, day); err != nil {
		t.Fatal(err)
	}
	ds.Insurance = ds.Insurance[:3]
	path, err := hrss.WriteExport(dir, ds, day)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n := bytes.Count(b, []byte("\r\n")); n != 4 {
		t.Fatalf("rewritten export has %d lines, want 4", n)
	}
}

func TestWriteExportFailureLeavesNoMarker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if _, err := hrss.WriteExport(dir, small(), day); err == nil {
		t.Fatal("want an error for a missing directory")
	}
	if _, err := os.Stat(filepath.Join(dir, hrss.FileName(day)+hrss.MarkerSuffix)); err == nil {
		t.Fatal("a marker exists for a failed export")
	}
}

// TestEncodeStreams checks that memory does not grow with the export: the allocations of
// a hundred rows and of a hundred thousand are the same handful.
func TestEncodeStreams(t *testing.T) {
	base := small().Insurance
	allocs := func(n int) float64 {
		rows := make([]dataset.Insurance, n)
		for i := range rows {
			rows[i] = base[i%len(base)]
		}
		return testing.AllocsPerRun(1, func() {
			if err := hrss.Encode(io.Discard, rows); err != nil {
				t.Fatal(err)
			}
		})
	}
	few, many := allocs(100), allocs(100_000)
	if many > few || many > 20 {
		t.Fatalf("%v allocations for 100 rows, %v for 100,000: the encoder does not stream", few, many)
	}
}

// TestBindingYAMLRoundTrip checks that the binding says everything the adapter needs, as
// a configuration file would carry it.
func TestBindingYAMLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := hrss.WriteExport(dir, small(), day); err != nil {
		t.Fatal(err)
	}
	orig := hrss.Binding(dir)
	text, err := yaml.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	var got config.Department
	if err := yaml.Unmarshal(text, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, orig) {
		t.Fatalf("round trip changed the binding:\n%s\ngot  %+v\nwant %+v", text, got, orig)
	}
	for _, s := range []string{"keyColumn: SFZH", "keyColumn: DWTYSHXYDM", "batch: 1000", "month: \"200601\""} {
		if !strings.Contains(string(text), s) {
			t.Errorf("YAML lacks %q:\n%s", s, text)
		}
	}

	src, err := csvdrop.Open(context.Background(), got, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := src.Fetch(context.Background(), "byCitizen", []string{dataset.ZhangWei})
	if err != nil {
		t.Fatal(err)
	}
	want := adapters.Record{"idNumber": dataset.ZhangWei, "name": "张伟", "employer": dataset.E1,
		"insuranceType": "PENSION", "status": "ACTIVE", "since": "2016-05", "lastPaidMonth": "2026-10"}
	if len(res[dataset.ZhangWei]) != 2 || !reflect.DeepEqual(res[dataset.ZhangWei][0], want) {
		t.Fatalf("张伟: %v, want two records, the first %v", res[dataset.ZhangWei], want)
	}
}

func BenchmarkEncode(b *testing.B) {
	rows := dataset.Generate(dataset.DefaultSeed, dataset.DefaultSize).Insurance
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := hrss.Encode(&buf, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportMetric(float64(len(rows)), "rows/op")
}
