package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadClock returns the CPU time of the calling OS thread, which must be
// locked to the goroutine (runtime.LockOSThread).
func threadClock() (func() time.Duration, error) {
	read := func() (time.Duration, error) {
		var ts unix.Timespec
		err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
		return time.Duration(ts.Nano()), err
	}
	if _, err := read(); err != nil {
		return nil, err
	}
	return func() time.Duration { d, _ := read(); return d }, nil
}
