"""Developer tooling that is never deployed: template reading, local stack, benchmarks."""
