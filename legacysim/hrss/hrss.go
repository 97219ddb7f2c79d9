// Package hrss simulates the Human Resources and Social Security bureau's social-insurance
// system the way the gateway meets it: nightly CSV batch exports dropped into a directory,
// each made visible by a ".done" marker once complete. The gateway reads them through the
// generic CSV-drop adapter with the binding returned by Binding.
package hrss

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"pudong.gov.cn/gateway/config"
	"pudong.gov.cn/gateway/internal/fsync"
	"pudong.gov.cn/gateway/legacysim/dataset"
)

// Legacy column names of the export, in file order, as the bureau's system names them.
const (
	ColIDNumber      = "SFZH"       // 身份证号
	ColName          = "XM"         // 姓名
	ColEmployer      = "DWTYSHXYDM" // 单位统一社会信用代码, empty for flexible employment
	ColType          = "XZLX"       // 险种类型
	ColStatus        = "CBZT"       // 参保状态
	ColFirstMonth    = "SCCBNY"     // 首次参保年月, yyyyMM
	ColLastPaidMonth = "ZHJFNY"     // 最后缴费年月, yyyyMM
)

// Export naming: the bureau's file for one day, and the marker it drops once the file is
// whole.
const (
	FilePrefix   = "shebao_"
	FileSuffix   = ".csv"
	MarkerSuffix = ".done"
)

// FileName is the export's name for day, e.g. shebao_20261127.csv.
func FileName(day time.Time) string {
	return FilePrefix + day.Format("20060102") + FileSuffix
}

// Header is the export's header row.
func Header() []string {
	return []string{ColIDNumber, ColName, ColEmployer, ColType, ColStatus, ColFirstMonth, ColLastPaidMonth}
}

// bom is the UTF-8 byte order mark that the bureau's export tool writes first, for
// spreadsheet programs.
const bom = "\uFEFF"

// WriteExport writes the day's export of ds's insurance rows (EachInsurance) into dir and returns its path. The
// rows are streamed through a small buffer, so memory stays flat however large the export;
// the file is written under a temporary name, synced and renamed, and only then is its
// marker created, so a reader that honours the marker never sees a partial export, even
// when the day's export is rewritten.
func WriteExport(dir string, ds *dataset.Dataset, day time.Time) (path string, err error) {
	path = filepath.Join(dir, FileName(day))
	tmp, err := os.CreateTemp(dir, "."+FileName(day)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("hrss export: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := encode(tmp, ds.EachInsurance); err != nil {
		return "", fmt.Errorf("hrss export %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("hrss export %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("hrss export %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("hrss export %s: %w", path, err)
	}
	// The export's name is on the disk before its marker exists, so a marker never
	// survives a crash that loses the file it vouches for.
	if err := fsync.Dir(dir); err != nil {
		return "", fmt.Errorf("hrss export %s: %w", path, err)
	}
	if err := writeMarker(path + MarkerSuffix); err != nil {
		return "", fmt.Errorf("hrss export %s: marker: %w", path, err)
	}
	if err := fsync.Dir(dir); err != nil {
		return "", fmt.Errorf("hrss export %s: %w", path, err)
	}
	return path, nil
}

// Encode writes rows as the bureau's export does: a byte order mark, the header, one
// CRLF-terminated line per row, values in the bureau's own codes. It holds no more than
// a fixed 64 KiB buffer, whatever the number of rows.
func Encode(w io.Writer, rows []dataset.Insurance) error {
	return encode(w, func(fn func(dataset.Insurance) error) error {
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// encode writes the rows that each yields, as Encode does.
func encode(w io.Writer, each func(func(dataset.Insurance) error) error) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(bom); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if err := cw.Write(Header()); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	line := make([]string, 7)
	n := 0
	if err := each(func(r dataset.Insurance) error {
		n++
		line[0], line[1], line[2], line[3] = r.IDNumber, r.Name, r.EmployerCode, r.Type
		line[4], line[5], line[6] = r.Status, r.FirstMonth, r.LastPaidMonth
		if err := cw.Write(line); err != nil {
			return fmt.Errorf("write row %d: %w", n, err)
		}
		return nil
	}); err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func writeMarker(name string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// Binding is the gateway's binding of the bureau's export directory dir: what a
// production configuration file says for the real system, with only dir differing.
func Binding(dir string) config.Department {
	export := func(keyColumn string) config.Operation {
		return config.Operation{Batch: 1000, Params: map[string]string{
			"keyColumn": keyColumn,
			"pattern":   FilePrefix + "*" + FileSuffix,
			"marker":    MarkerSuffix,
			"poll":      "2s",
		}}
	}
	return config.Department{
		ID:       "hrss",
		Name:     "浦东新区人力资源和社会保障局",
		Protocol: "csv",
		Dir:      dir,
		Operations: map[string]config.Operation{
			"byCitizen":  export(ColIDNumber),
			"byEmployer": export(ColEmployer),
		},
		Fields: []config.FieldMap{
			{From: ColIDNumber, To: "idNumber"},
			{From: ColName, To: "name"},
			{From: ColEmployer, To: "employer"},
			{From: ColType, To: "insuranceType", Code: "insuranceType"},
			{From: ColStatus, To: "status", Code: "insuranceStatus"},
			{From: ColFirstMonth, To: "since", Month: "200601"},
			{From: ColLastPaidMonth, To: "lastPaidMonth", Month: "200601"},
		},
		Codes: map[string]map[string]string{
			"insuranceType": {
				dataset.InsPension:      "PENSION",
				dataset.InsUnemployment: "UNEMPLOYMENT",
				dataset.InsMedical:      "MEDICAL",
				dataset.InsWorkInjury:   "WORK_INJURY",
				dataset.InsMaternity:    "MATERNITY",
			},
			"insuranceStatus": {
				dataset.InsStatusActive:    "ACTIVE",
				dataset.InsStatusSuspended: "SUSPENDED",
				dataset.InsStatusEnded:     "TERMINATED",
			},
		},
	}
}
