package csvdrop

import (
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
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
)

// Defaults for the optional params.
const (
	DefaultMarker = ".done"
	DefaultPoll   = 2 * time.Second
)

// settings is a validated binding.
type settings struct {
	dept    string
	dir     string
	pattern string
	marker  string
	poll    time.Duration
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
		for _, p := range []string{ParamPattern, ParamMarker, ParamPoll} {
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
			case ParamKeyColumn, ParamPattern, ParamMarker, ParamPoll:
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

	s.poll = DefaultPoll
	if v, ok := shared[ParamPoll]; ok {
		p, err := time.ParseDuration(v.value)
		switch {
		case err != nil:
			bad("param %s %q is not a duration such as 2s", ParamPoll, v.value)
		case p <= 0:
			bad("param %s %q must be positive", ParamPoll, v.value)
		default:
			s.poll = p
		}
	}

	if len(errs) > 0 {
		return nil, fmt.Errorf("csvdrop: department %q: invalid binding: %s", d.ID, strings.Join(errs, "; "))
	}
	s.layout = newLayout(m, d.Fields, keys)
	return s, nil
}
