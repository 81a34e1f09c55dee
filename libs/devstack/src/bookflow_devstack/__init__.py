"""Run bookflow on one machine: start or find a broker and PostgreSQL, run the five services as
processes, and look at topics. Used by `bookflow up`, the tests and the benchmarks."""
