package app

import (
	"path/filepath"
	"testing"

	"pudong.gov.cn/gateway/adapters/csvdrop"
	"pudong.gov.cn/gateway/legacysim/hrss"
)

// A CSV department without an index directory gets one under the data directory (the
// drop directory may be read-only); one that names its own keeps it; the configuration's
// maps are not changed.
func TestWithIndexDir(t *testing.T) {
	d := hrss.Binding("/srv/exchange/hrss")
	got := withIndexDir(d, "/var/lib/gateway")
	want := filepath.Join("/var/lib/gateway", "csv-index", "hrss")
	for name, op := range got.Operations {
		if op.Params[csvdrop.ParamIndexDir] != want {
			t.Errorf("%s: indexDir %q, want %q", name, op.Params[csvdrop.ParamIndexDir], want)
		}
		if _, changed := d.Operations[name].Params[csvdrop.ParamIndexDir]; changed {
			t.Errorf("%s: the configuration's params were changed", name)
		}
	}
	d.Operations["byCitizen"].Params[csvdrop.ParamIndexDir] = "/fast/disk"
	if got := withIndexDir(d, "/var/lib/gateway"); got.Operations["byEmployer"].Params[csvdrop.ParamIndexDir] != "" {
		t.Error("an indexDir the binding sets was overridden")
	}
}
