"""A single-port weight memory: generic Amaranth memory, or the iCE40 UltraPlus SPRAM blocks."""

from __future__ import annotations

from amaranth.hdl import Array, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["SinglePortRAM", "SPRAM_WORDS", "SPRAM_WIDTH", "SPRAM_BLOCKS"]

#: Geometry of one ``SB_SPRAM256KA`` block and the number of blocks on the UP5K.
SPRAM_WORDS = 16384
SPRAM_WIDTH = 16
SPRAM_BLOCKS = 4


class SinglePortRAM(wiring.Component):
    """``depth`` words of ``width`` bits with one access a cycle: a read or a write.

    The read data appears one cycle after ``r_en`` and holds until the next read. A cycle must
    not assert both ``r_en`` and ``w_en`` (the core never does: the load port writes only
    while the core is idle); after a write, ``r_data`` is undefined until the next read, as
    on the SPRAM.

    With ``spram=False`` this is an Amaranth memory (any device, and every simulation). With
    ``spram=True`` it is built from ``SB_SPRAM256KA`` blocks of 16,384 x 16 bits: words wider
    than 16 bits take blocks side by side, deeper memories blocks stacked (the address bits
    above the 14th select the stack, and a register keeps the selection of the last read for
    the output multiplexer). SPRAM cannot be initialised by the bitstream, so ``init`` must be
    empty: the contents arrive through the write port at run time.

    With ``registered`` (``spram=False`` only) a register follows the memory's read data, and
    the word appears *two* cycles after ``r_en`` (and holds as before). On the ECP5 a memory of
    ~100 block RAMs ends in a multiplexer over their outputs, after a 5.8 ns clock-to-out
    (Yosys leaves the blocks' own output registers unused): the register ends that path there,
    instead of running it on into a multiplier or an address.

    Parameters
    ----------
    width, depth : int
        Word width in bits and number of words.
    init : sequence of int
        Initial contents (``spram=False`` only).
    spram : bool
        Build from ``SB_SPRAM256KA`` instances (iCE40 UltraPlus).
    registered : bool
        A register on the read data: read latency 2 instead of 1 (see above).
    """

    def __init__(self, *, width: int, depth: int, init=(), spram: bool = False,
                 registered: bool = False):
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be positive, not {width} and {depth}")
        if registered and spram:
            raise ValueError("registered is for a block-RAM memory (spram=False): the SPRAM "
                             "build has one-cycle reads")
        init = list(init)
        if spram:
            if any(init):
                raise ValueError("SPRAM cannot be initialised by the bitstream: build without "
                                 "initial contents and write them through the load port")
            blocks = self.spram_blocks(width, depth)
            if blocks > SPRAM_BLOCKS:
                raise ValueError(f"{depth} x {width} bit needs {blocks} SPRAM blocks; the "
                                 f"UP5K has {SPRAM_BLOCKS}")
        self._width, self._depth, self._init, self._spram = width, depth, init, spram
        self._registered = registered
        super().__init__({
            "r_addr": In(range(depth)), "r_en": In(1), "r_data": Out(width),
            "w_addr": In(range(depth)), "w_en": In(1), "w_data": In(width),
        })

    @property
    def read_latency(self) -> int:
        """Cycles from ``r_en`` to the word on ``r_data``."""
        return 2 if self._registered else 1

    @staticmethod
    def spram_blocks(width: int, depth: int) -> int:
        """``SB_SPRAM256KA`` blocks a ``depth`` x ``width`` memory takes."""
        return -(-depth // SPRAM_WORDS) * -(-width // SPRAM_WIDTH)

    def elaborate(self, platform):
        m = Module()
        if not self._spram:
            mem = Memory(shape=self._width, depth=self._depth, init=self._init)
            m.submodules.mem = mem
            rp, wp = mem.read_port(), mem.write_port()
            m.d.comb += [rp.addr.eq(self.r_addr), rp.en.eq(self.r_en),
                         wp.addr.eq(self.w_addr), wp.en.eq(self.w_en), wp.data.eq(self.w_data)]
            if not self._registered:
                m.d.comb += self.r_data.eq(rp.data)
                return m
            q = Signal(self._width)
            read1 = Signal()          # the memory's read data is the word of the last read
            m.d.sync += read1.eq(self.r_en)
            with m.If(read1):
                m.d.sync += q.eq(rp.data)
            m.d.comb += self.r_data.eq(q)
            return m

        rows = -(-self._depth // SPRAM_WORDS)
        cols = -(-self._width // SPRAM_WIDTH)
        addr = Signal(14 + max(rows - 1, 0).bit_length())
        m.d.comb += addr.eq(Mux(self.w_en, self.w_addr, self.r_addr))
        data_in = Signal(cols * SPRAM_WIDTH)
        m.d.comb += data_in.eq(self.w_data)
        row = addr[14:] if rows > 1 else Const(0, 1)
        row_q = Signal(range(max(rows, 2)))
        with m.If(self.r_en):
            m.d.sync += row_q.eq(row)
        outs = []
        for r in range(rows):
            sel = row == r
            dout = Signal(cols * SPRAM_WIDTH, name=f"dout{r}")
            for c in range(cols):
                m.submodules[f"spram_{r}_{c}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=addr[:14],
                    i_DATAIN=data_in[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH],
                    i_MASKWREN=Const(0b1111, 4),
                    i_WREN=self.w_en & sel,
                    i_CHIPSELECT=(self.r_en | self.w_en) & sel,
                    i_CLOCK=ClockSignal(),
                    i_STANDBY=Const(0, 1),
                    i_SLEEP=Const(0, 1),
                    i_POWEROFF=Const(1, 1),   # active low: powered
                    o_DATAOUT=dout[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH],
                )
            outs.append(dout)
        m.d.comb += self.r_data.eq(Array(outs)[row_q][:self._width] if rows > 1
                                   else outs[0][:self._width])
        return m

