"""Board descriptions, bitstream builds and flashing (iCEBreaker, ULX3S, OrangeCrab, Arty A7).

Empty until the board support lands.
"""
