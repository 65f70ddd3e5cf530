"""``snnfpga bench``: the seed's claims measured on held-out text, streaming.

The suite (:mod:`.suite`) runs the readout ablation, neuron pruning, weight and membrane
quantization, the sparsity and operation counts, and end-to-end trained baselines, then
writes a Markdown report with PNG plots (:mod:`.report`).
"""
