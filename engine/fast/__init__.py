"""Speed only: fused runs, Winograd, chunked convolution and the benchmark.

Each run here has a plain equivalent in engine.layers that the tests compare it with.
"""
