//go:build !linux

package main

import (
	"errors"
	"time"
)

// threadClock is not available off Linux.
func threadClock() (func() time.Duration, error) {
	return nil, errors.New("-cputime: thread CPU time is read on Linux only")
}
