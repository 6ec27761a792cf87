"""chainrule's benchmark suite: chainrule, PyTorch, scikit-learn and a hand-written numpy MLP
trained side by side on the same data from the same weights, each in its own process.

Run it with `python -m benchmarks` (or `make bench`); `python -m benchmarks --help` lists the
options. docs/performance.md explains the workloads, the matmul limit and the goals.
"""
