// Package syncbuf is a buffer that concurrent writers may share: a logger's destination
// that a test reads while the code under test still writes to it.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer behind a mutex.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Cap is the buffer's capacity: the memory it holds.
func (s *Buffer) Cap() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Cap()
}
