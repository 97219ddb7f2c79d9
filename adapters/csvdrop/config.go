package csvdrop

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"pudong.gov.cn/gateway/adapters"
	"pudong.gov.cn/gateway/config"
)

// Operation params the adapter reads. keyColumn is the operation's own; pattern, marker
// and poll describe the export that serves every operation, so they may be given on any
// operation and must agree wherever they are given more than once.
const (
	ParamKeyColumn = "keyColumn" // legacy column whose value is the lookup key (required)
	ParamPattern   = "pattern"   // glob of export file names in Dir, e.g. "shebao_*.csv" (required)
	ParamMarker    = "marker"    // suffix of the marker that makes an export complete
	ParamPoll      = "poll"      // how often Dir is scanned, a Go duration
	ParamSettle    = "settle"    // how long an export must stay unchanged before it is read
	ParamMaxShrink = "maxShrink" // the largest drop in rows accepted without an override, e.g. 10%
	ParamIndexDir  = "indexDir"  // where exports' indexes are kept; relative to Dir; default DefaultIndexDir
)

// Defaults for the optional params.
const (
	DefaultMarker = ".done"
	DefaultPoll   = 2 * time.Second
	// DefaultSettle is long enough for a producer that writes steadily to have changed
	// the file's size or time between two looks, short enough not to delay a finished
	// export noticeably.
	DefaultSettle = time.Second
	// DefaultMaxShrink: a nightly export loses far less than a tenth of its rows in a day;
	// one that does is far more likely cut short than a real change.
	DefaultMaxShrink = 0.10
	// AcceptSuffix names the operator's override: an export whose name+AcceptSuffix
	// exists in Dir is loaded even though it shrank beyond maxShrink.
	AcceptSuffix = ".accept"
	// DefaultIndexDir, inside Dir, keeps the indexes beside the exports they index,
	// hidden from the pattern, when the binding names no indexDir. The gateway names one
	// under its own data directory, since a drop directory is often read-only.
	DefaultIndexDir = ".gateway-index"
)

// exportParams describe the export that serves every operation.
var exportParams = []string{ParamPattern, ParamMarker, ParamPoll, ParamSettle, ParamMaxShrink, ParamIndexDir}

// parseFraction reads "10%" or "0.1" as 0.1; 100% (any shrink accepted) is the most.
func parseFraction(v string) (float64, error) {
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
	if err != nil {
		return 0, errors.New("want a percentage such as 10% or a fraction such as 0.1")
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 || math.IsNaN(f) {
		return 0, errors.New("must be between 0% and 100%")
	}
	return f, nil
}

// settings is a validated binding.
type settings struct {
	dept    string
	dir     string
	pattern string
	marker  string
	poll    time.Duration
	settle  time.Duration
	shrink  float64 // largest accepted fraction of rows lost
	index   string  // the index directory
	layout  *layout
}

// parseBinding validates d and reports every problem at once, so that whoever edits the
// configuration fixes it in one round.
func parseBinding(d config.Department, log *slog.Logger) (*settings, error) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if d.ID == "" {
		bad("id is required")
	}
	if d.Protocol != config.ProtocolCSV {
		bad("protocol is %q, want csv", d.Protocol)
	}
	if d.Dir == "" {
		bad("dir is required")
	}
	if len(d.Operations) == 0 {
		bad("no operations are configured")
	}
	if len(d.Fields) == 0 {
		bad("no fields are mapped")
	}
	m, err := adapters.NewMapping(d.Fields, d.Codes)
	if err != nil {
		bad("%v", err)
	}

	s := &settings{dept: d.ID, dir: d.Dir}
	keys := map[string]string{}
	// shared holds, for pattern, marker and poll, the first operation that set each and
	// the value it set, so a disagreement can name both operations.
	type setBy struct{ op, value string }
	shared := map[string]setBy{}
	for _, op := range slices.Sorted(maps.Keys(d.Operations)) {
		o := d.Operations[op]
		if o.Batch < 0 {
			bad("operation %s: batch %d is negative", op, o.Batch)
		}
		if k := strings.TrimSpace(o.Params[ParamKeyColumn]); k == "" {
			bad("operation %s: param %s is required", op, ParamKeyColumn)
		} else {
			keys[op] = k
		}
		for _, p := range exportParams {
			v, ok := o.Params[p]
			if !ok {
				continue
			}
			if prev, seen := shared[p]; seen && prev.value != v {
				bad("operations %s and %s disagree on %s (%q, %q): one export serves every operation",
					prev.op, op, p, prev.value, v)
				continue
			}
			shared[p] = setBy{op, v}
		}
		for p := range o.Params {
			switch p {
			case ParamKeyColumn, ParamPattern, ParamMarker, ParamPoll, ParamSettle, ParamMaxShrink, ParamIndexDir:
			default:
				log.Warn("csvdrop: unknown operation param ignored", "department", d.ID, "operation", op, "param", p)
			}
		}
	}

	s.pattern = shared[ParamPattern].value
	switch {
	case s.pattern == "":
		bad("param %s is required on at least one operation", ParamPattern)
	case strings.ContainsAny(s.pattern, `/\`):
		bad("param %s %q must be a file name pattern, not a path", ParamPattern, s.pattern)
	default:
		if _, err := filepath.Match(s.pattern, ""); err != nil {
			bad("param %s %q: %v", ParamPattern, s.pattern, err)
		}
	}

	s.marker = DefaultMarker
	if v, ok := shared[ParamMarker]; ok {
		s.marker = v.value
		if s.marker == "" || strings.ContainsAny(s.marker, `/\`) {
			bad("param %s %q must be a non-empty file name suffix", ParamMarker, s.marker)
		}
	}

	duration := func(param string, def time.Duration, zeroOK bool) time.Duration {
		v, ok := shared[param]
		if !ok {
			return def
		}
		p, err := time.ParseDuration(v.value)
		switch {
		case err != nil:
			bad("param %s %q is not a duration such as 2s", param, v.value)
		case p < 0 || (p == 0 && !zeroOK):
			bad("param %s %q must be positive", param, v.value)
		default:
			return p
		}
		return def
	}
	s.poll = duration(ParamPoll, DefaultPoll, false)
	s.settle = duration(ParamSettle, DefaultSettle, true)

	s.index = filepath.Join(d.Dir, DefaultIndexDir)
	if v, ok := shared[ParamIndexDir]; ok {
		switch {
		case strings.TrimSpace(v.value) == "":
			bad("param %s is empty", ParamIndexDir)
		case filepath.IsAbs(v.value):
			s.index = v.value
		default:
			s.index = filepath.Join(d.Dir, v.value)
		}
	}

	s.shrink = DefaultMaxShrink
	if v, ok := shared[ParamMaxShrink]; ok {
		f, err := parseFraction(v.value)
		if err != nil {
			bad("param %s %q: %v", ParamMaxShrink, v.value, err)
		} else {
			s.shrink = f
		}
	}

	if len(errs) > 0 {
		return nil, fmt.Errorf("csvdrop: department %q: invalid binding: %s", d.ID, strings.Join(errs, "; "))
	}
	s.layout = newLayout(m, d.Fields, d.Codes, keys)
	return s, nil
}
