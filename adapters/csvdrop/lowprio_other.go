//go:build !linux

package csvdrop

// lowerPriority does nothing where threads cannot be given a priority of their own.
func lowerPriority() {}
