// Package fsync makes changes to a directory durable: a file created, renamed or linked
// into it survives a crash only once the directory itself is synced.
package fsync

import (
	"fmt"
	"os"
)

// Dir syncs the directory dir, so that the names created, renamed or removed in it
// before the call are on the disk.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
