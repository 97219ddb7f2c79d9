package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100 on every Linux
// architecture Go supports (the kernel converts its own HZ to it).
const clockTicks = 100

// procStat is what the harness needs from /proc/PID/stat.
type procStat struct {
	PPID         int
	UTime, STime uint64 // clock ticks
}

// parseProcStat parses one /proc/PID/stat line. The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so the fields are counted
// from the last ')'.
func parseProcStat(line string) (procStat, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return procStat{}, errors.New("no command name in parentheses")
	}
	f := strings.Fields(line[end+1:])
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var s procStat
	var err error
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("ppid: %w", err)
	}
	if s.UTime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("utime: %w", err)
	}
	if s.STime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("stime: %w", err)
	}
	return s, nil
}

// parseStatusKB returns a "Key:   123 kB" value of /proc/PID/status, in bytes.
func parseStatusKB(status, key string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected value %q", key, strings.TrimSpace(rest))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("%s: not in the status file", key)
}

// procRoot is /proc; a variable so that tests can point it at a fixture tree.
var procRoot = "/proc"

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(bytes.TrimSpace(b)))
}

// processTree is pid and every process descended from it (a node gateway may fork
// workers), found by scanning the parent ids in /proc.
func processTree(pid int) []int {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(p)
		if err != nil {
			continue
		}
		children[st.PPID] = append(children[st.PPID], p)
	}
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// usage is the resource use of a process tree at one moment.
type usage struct {
	CPUSeconds float64 // user+system time of the live processes so far
	PeakRSS    int64   // sum of VmHWM over the tree, bytes
	RSS        int64   // sum of VmRSS, bytes
}

// treeUsage reads the CPU time and memory of pid and its descendants.
func treeUsage(pid int) (usage, error) {
	var u usage
	for i, p := range processTree(pid) {
		st, err := readProcStat(p)
		if err != nil {
			if i == 0 {
				return usage{}, err
			}
			continue // a child that just exited
		}
		u.CPUSeconds += float64(st.UTime+st.STime) / clockTicks
		b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(p), "status"))
		if err != nil {
			continue
		}
		if hwm, err := parseStatusKB(string(b), "VmHWM"); err == nil {
			u.PeakRSS += hwm
		}
		if rss, err := parseStatusKB(string(b), "VmRSS"); err == nil {
			u.RSS += rss
		}
	}
	return u, nil
}

// resetPeakRSS sets VmHWM back to the current RSS of every process in the tree (writing
// 5 to clear_refs, Linux ≥ 4.0), so that each run reports its own peak rather than the
// process's since start-up. It reports whether that worked.
func resetPeakRSS(pid int) bool {
	ok := true
	for _, p := range processTree(pid) {
		if err := os.WriteFile(filepath.Join(procRoot, strconv.Itoa(p), "clear_refs"), []byte("5"), 0); err != nil {
			ok = false
		}
	}
	return ok
}
