"""goroscope: find goroutine leaks in archives of Go goroutine dumps."""

__version__ = "0.1.0"
