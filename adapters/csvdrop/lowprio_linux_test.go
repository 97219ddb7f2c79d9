//go:build linux

package csvdrop

import (
	"syscall"
	"testing"
)

func TestLowerPriority(t *testing.T) {
	nice := make(chan int, 1)
	go func() {
		lowerPriority()
		// Getpriority's raw value is 20 - nice on Linux.
		p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		if err != nil {
			t.Error(err)
		}
		nice <- 20 - p
	}()
	if got := <-nice; got < buildNice {
		t.Fatalf("the build thread's nice is %d, want at least %d", got, buildNice)
	}
	self, _ := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if 20-self >= buildNice {
		t.Fatal("the caller's thread was lowered too")
	}
}
