"""The evaluation core: rules compiled against the devices, the per-condition indexes and
kernels, and the evaluator that turns committed readings into alarm events."""
