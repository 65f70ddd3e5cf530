"""Gateware of the accelerator (Amaranth HDL 0.5), bit-exact to ``snnfpga.model.golden``.

* ``core.Core``: the whole network behind streams: a command (character, reset) in, logits and
  the sampled next character out; load port for every memory; performance counters.
* ``memmap``: how the model's tensors are packed into the core's memory words.
* ``lif.LIFUnit`` (neuron update), ``event_queue.EventQueue`` (spike ids between time steps),
  ``sampler.Sampler`` (argmax / Gumbel-max) with ``lfsr.Lfsr32`` (random draws).

``tests/hw`` checks each block and the core against the golden model in Amaranth's simulator;
``snnfpga.sim`` and ``tests/sim`` do the same on their Verilog in Verilator.
"""
