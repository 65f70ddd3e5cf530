"""Gateware of the accelerator (Amaranth HDL): event queue, weight memories, LIF units, readout.

Empty until the accelerator core lands; its arithmetic is defined by ``snnfpga.model.golden``.
"""
