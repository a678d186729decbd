"""The development stack: Redis, kubesim and lessonq's processes on this machine, for the demo,
`lessonq up`, the tests and the benchmarks. Nothing in the product imports it."""
