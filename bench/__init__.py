"""Benchmarks: each prints its figures with the command that reproduced them."""
