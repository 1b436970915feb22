"""The parts of benchmarks/bench_ros.py (run that script; its docstring says what is measured)."""
