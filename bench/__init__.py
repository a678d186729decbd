"""lessonq's benchmarks: `make bench` (quick) and `make bench-full` (rewrites BENCHMARKS.md)."""
