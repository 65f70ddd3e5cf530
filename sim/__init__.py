"""Co-simulation of the gateware against the golden model (cocotb + Verilator).

Empty until the accelerator core lands.
"""
