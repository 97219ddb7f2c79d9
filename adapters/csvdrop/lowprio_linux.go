//go:build linux

package csvdrop

import (
	"runtime"
	"syscall"
)

// buildNice is the nice value of the thread that builds an index: building takes a
// core for minutes at district scale (docs/PERFORMANCE.md, "District scale"), and
// requests must come first.
const buildNice = 10

// lowerPriority locks the calling goroutine to its thread and lowers that thread's
// priority. It never unlocks: the goroutine must be one of its own, whose thread then
// ends with it instead of returning to the scheduler's pool at the lower priority.
func lowerPriority() {
	runtime.LockOSThread()
	// On Linux a thread id names one thread for setpriority. Failing to lower it only
	// costs the requests some latency, so the error is ignored.
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), buildNice)
}
