package csvdrop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/legacysim/dataset"
	"pudong.gov.cn/gateway/legacysim/hrss"
)

// The tests of this file reproduce issue 12, item 5: half-written and truncated exports
// were served as truth.

// withParams sets export params on the demo binding.
func withParams(d config.Department, kv ...string) config.Department {
	for _, op := range d.Operations {
		for i := 0; i < len(kv); i += 2 {
			op.Params[kv[i]] = kv[i+1]
		}
	}
	return d
}

// encoded is ds's export as bytes.
func encoded(t *testing.T, rows []dataset.Insurance) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := hrss.Encode(&b, rows); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// scanOnce is one look of the poller.
func scanOnce(t *testing.T, s *Source) time.Duration {
	t.Helper()
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	wait, err := s.scan(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	return wait
}

// An export written slowly while its marker already exists is not read until it has
// stopped changing: the poller's looks during the writing see it grow and leave it.
func TestSlowlyWrittenExportWaitsUntilSettled(t *testing.T) {
	dir := t.TempDir()
	ds := smallDataset()
	writeExport(t, dir, ds, day1)
	s, _ := open(t, withParams(hrss.Binding(dir), ParamSettle, "300ms"))

	full := encoded(t, ds.Insurance)
	path := filepath.Join(dir, hrss.FileName(day(2)))
	if err := os.WriteFile(path+hrss.MarkerSuffix, nil, 0o644); err != nil { // the marker first
		t.Fatal(err)
	}
	for _, upTo := range []int{len(full) / 4, len(full) / 2, len(full) * 3 / 4} {
		if err := os.WriteFile(path, full[:upTo], 0o644); err != nil {
			t.Fatal(err)
		}
		if wait := scanOnce(t, s); wait <= 0 {
			t.Fatalf("a file written just now was not left to settle (wait %v)", wait)
		}
		assertServing(t, s, day1)
	}
	if err := os.WriteFile(path, full, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Rescan(t.Context()); err != nil { // waits for the settle time, then reads
		t.Fatal(err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("Rescan took %v, want about the settle time (300ms)", took)
	}
	assertServing(t, s, day(2))
	if _, _, rows := s.Current(); rows != len(ds.Insurance) {
		t.Fatalf("serving %d rows, want all %d", rows, len(ds.Insurance))
	}
	if s.Rejected() != 0 {
		t.Fatalf("Rejected() = %d: a file still being written is not a bad export", s.Rejected())
	}
}

// A marker that says how many rows, or which SHA-256, holds the file to it.
func TestMarkerPromises(t *testing.T) {
	ds := smallDataset()
	full := encoded(t, ds.Insurance)
	sum := sha256.Sum256(full)
	cut := bytes.LastIndex(full[:len(full)/2], []byte("\r\n")) + 2 // a cut at a row boundary parses well
	for _, tc := range []struct {
		name, marker string
		content      []byte
		want         string // "" loads; else the rejection reason
		says         string
	}{
		{"rows match", fmt.Sprintf("rows=%d\n", len(ds.Insurance)), full, "", ""},
		{"bare count and sha256 match", fmt.Sprintf("%d\nsha256: %x\n", len(ds.Insurance), sum), full, "", ""},
		{"fewer rows than promised", fmt.Sprintf("rows=%d\n", len(ds.Insurance)), full[:cut], ReasonIncomplete, "promises"},
		{"checksum differs", "sha256=" + hex.EncodeToString(sum[:]), full[:cut], ReasonIncomplete, "SHA-256"},
		{"unreadable marker", "done at 01:00", full, ReasonMalformed, "marker"},
		{"bad count", "rows=lots", full, ReasonMalformed, "row count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeExport(t, dir, ds, day1)
			s, logs := open(t, withParams(hrss.Binding(dir), ParamMaxShrink, "100%"))
			path := filepath.Join(dir, hrss.FileName(day(2)))
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+hrss.MarkerSuffix, []byte(tc.marker), 0o644); err != nil {
				t.Fatal(err)
			}
			settled(t, path, path+hrss.MarkerSuffix)
			for range 2 {
				if err := s.Rescan(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if tc.want == "" {
				assertServing(t, s, day(2))
				return
			}
			assertServing(t, s, day1)
			if s.RejectedFor(tc.want) != 1 || s.Rejected() != 1 {
				t.Errorf("RejectedFor(%s) = %d, Rejected() = %d; want 1, 1", tc.want, s.RejectedFor(tc.want), s.Rejected())
			}
			out := logs.String()
			if strings.Count(out, "level=ERROR msg=\"csvdrop: export rejected") != 1 || !strings.Contains(out, "reason="+tc.want) ||
				!strings.Contains(out, tc.says) {
				t.Errorf("want one error-level rejection, reason %s, saying %q:\n%s", tc.want, tc.says, out)
			}
		})
	}
}

// A truncated export (the 29,999 of 53,595 rows) is rejected with an error line
// and a count, and the previous export serves until an operator accepts the smaller one.
func TestShrunkExportNeedsAnOverride(t *testing.T) {
	dir := t.TempDir()
	ds := smallDataset()
	writeExport(t, dir, ds, day1)
	s, logs := open(t, hrss.Binding(dir))

	// Within the bound (10% by default) a smaller export is just the next day's.
	smaller := *ds
	smaller.Insurance = ds.Insurance[:len(ds.Insurance)*95/100]
	writeExport(t, dir, &smaller, day(2))
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertServing(t, s, day(2))

	truncated := *ds
	truncated.Insurance = ds.Insurance[:len(ds.Insurance)*56/100]
	writeExport(t, dir, &truncated, day(3))
	for range 2 {
		if err := s.Rescan(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	assertServing(t, s, day(2))
	if s.RejectedFor(ReasonShrunk) != 1 {
		t.Fatalf("RejectedFor(shrunk) = %d, want 1", s.RejectedFor(ReasonShrunk))
	}
	out := logs.String()
	if strings.Count(out, "level=ERROR") != 1 || !strings.Contains(out, "reason=shrunk") ||
		!strings.Contains(out, hrss.FileName(day(3))+AcceptSuffix) {
		t.Fatalf("want one error line naming the override:\n%s", out)
	}

	// A restart has no previous export in memory to compare with: the rejected export
	// must not have left an index that it would serve.
	s.Close()
	s, _ = open(t, hrss.Binding(dir))
	assertServing(t, s, day(2))

	if err := os.WriteFile(filepath.Join(dir, hrss.FileName(day(3))+AcceptSuffix), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	if file, _, rows := s.Current(); file != hrss.FileName(day(3)) || rows != len(truncated.Insurance) {
		t.Fatalf("after the override: serving %s with %d rows, want %s with %d", file, rows, hrss.FileName(day(3)), len(truncated.Insurance))
	}
}

// The age of the data is the export's: SnapshotTime is when its file was written.
func TestSnapshotTime(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, smallDataset(), day1)
	path := filepath.Join(dir, hrss.FileName(day1))
	old := time.Now().Add(-50 * time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	s, _ := open(t, hrss.Binding(dir))
	if got := s.SnapshotTime(); !got.Equal(old) {
		t.Fatalf("SnapshotTime() = %v, want the file's time %v", got, old)
	}
}

func TestExportParamsValidation(t *testing.T) {
	for _, tc := range []struct{ param, value, want string }{
		{ParamSettle, "-1s", "must be positive"},
		{ParamSettle, "soon", "not a duration"},
		{ParamMaxShrink, "150%", "between 0% and 100%"},
		{ParamMaxShrink, "a tenth", "percentage"},
		{ParamIndexDir, " ", "is empty"},
	} {
		_, err := Open(t.Context(), withParams(hrss.Binding("/srv/hrss"), tc.param, tc.value), nil)
		if err == nil || !strings.Contains(err.Error(), tc.param) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want an error saying %q", tc.param, tc.value, err, tc.want)
		}
	}
	for _, v := range []string{"0", "0%", "25%", "0.5", "100%"} {
		if _, err := parseFraction(v); err != nil {
			t.Errorf("maxShrink %s: %v", v, err)
		}
	}
}

// A restart serves the export from the index kept on disk, without reading the export
// again, and does not wait for a newer export that arrived meanwhile: that one is built
// in the background while the older one serves.
func TestRestartServesTheKeptIndex(t *testing.T) {
	dir := t.TempDir()
	ds := smallDataset()
	writeExport(t, dir, ds, day1)
	d := withParams(hrss.Binding(dir), ParamPoll, "10ms")
	first, logs := open(t, d)
	assertServing(t, first, day1)
	if !strings.Contains(logs.String(), "index=built") {
		t.Fatalf("the first start did not build the index:\n%s", logs)
	}
	first.Close()

	// day 2 arrives while the gateway is down, written just now: a full scan would
	// wait for it to settle.
	if _, err := hrss.WriteExport(dir, ds, day(2)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	second, logs := open(t, d)
	took := time.Since(start)
	if file, _, _ := second.Current(); file != hrss.FileName(day1) && file != hrss.FileName(day(2)) {
		t.Fatalf("serving %q after the restart", file)
	}
	if took > 500*time.Millisecond {
		t.Errorf("Open took %v: it waited for the new export instead of serving the kept index", took)
	}
	if !strings.Contains(logs.String(), "file="+hrss.FileName(day1)+" rows="+fmt.Sprint(len(ds.Insurance))+" index=kept") {
		t.Errorf("day 1 was not served from its kept index:\n%s", logs)
	}
	waitFor(t, func() bool { f, _, _ := second.Current(); return f == hrss.FileName(day(2)) })

	// The swap retires day 1's index: one index stays on disk.
	waitFor(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, DefaultIndexDir, "*.db"))
		return len(m) == 1 && strings.HasPrefix(filepath.Base(m[0]), hrss.FileName(day(2)))
	})
}

// A changed binding (here a code table) never serves an index built under the old one.
func TestChangedBindingRebuildsTheIndex(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir, smallDataset(), day1)
	s, _ := open(t, hrss.Binding(dir))
	s.Close()
	d := hrss.Binding(dir)
	d.Codes["insuranceType"][dataset.InsPension] = "OLD_AGE"
	s2, logs := open(t, d)
	if !strings.Contains(logs.String(), "index=built") {
		t.Fatalf("the index was not rebuilt for the new binding:\n%s", logs)
	}
	if got := fetch(t, s2, "byCitizen", dataset.ZhangWei)[dataset.ZhangWei][0]["insuranceType"]; got != "OLD_AGE" {
		t.Fatalf("insuranceType %q, want the new code table's OLD_AGE", got)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIndexDirParam(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	writeExport(t, dir, smallDataset(), day1)
	for _, tc := range []struct{ param, want string }{
		{elsewhere, elsewhere},
		{"idx", filepath.Join(dir, "idx")},
	} {
		s, _ := open(t, withParams(hrss.Binding(dir), ParamIndexDir, tc.param))
		assertServing(t, s, day1)
		if m, _ := filepath.Glob(filepath.Join(tc.want, hrss.FileName(day1)+".*.db")); len(m) != 1 {
			t.Errorf("indexDir %q: no index in %s", tc.param, tc.want)
		}
	}
}
