"""The accelerator core: one character in, its logits and the sampled next character out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from amaranth.hdl import Array, Cat, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..model.config import ModelConfig
from ..model.modelfile import IntWeights
from .arith import const_mul
from .event_queue import EventQueue
from .lif import LIFUnit, accumulator_shape
from .memmap import DEFAULT_LANES, DEFAULT_READOUT_LANES, Geometry, MemId, pack_memories
from .sampler import TEMPERATURE_BITS, Sampler
from .spram import SPRAM_BLOCKS, SinglePortRAM

__all__ = ["Core", "Op", "COUNTERS", "COUNTER_BITS", "cycle_lower_bound"]

#: Width of every performance counter: 2**40 cycles are 12.7 hours at 24 MHz, 2**40 readout
#: operations 30 million characters. The protocol carries them in 6 bytes, zero-extended.
COUNTER_BITS = 40

#: Performance counters, in the order of the ``counters`` port.
COUNTERS = (
    "cycles",          # clock cycles spent on commands (from taking one to finishing it)
    "tokens",          # characters fed
    "spikes",          # spikes emitted (sum of the per-token spike counts)
    "syn_events",      # synaptic events: fan-out entries delivered
    "readout_ops",     # readout multiply-accumulates, zero features skipped
    "weight_reads",    # words read from the input, leak, readout and bias memories
    "fanout_reads",    # entries read from the fan-out lists (one per event: syn_events)
    "state_reads",     # words read from membranes, accumulators, spike counts, readout lists
    "state_writes",    # words written to membranes, accumulators, spike counts, readout lists
)


#: Memories built as :class:`~.spram.SinglePortRAM` (SB_SPRAM256KA blocks with ``spram``).
SINGLE_PORT = (MemId.FAN, MemId.WGT)


@dataclass(frozen=True)
class _Port:
    """The ``addr``/``en``/``data`` of one side of a single-port memory, like a memory port."""

    addr: Value
    en: Value
    data: Value


class Op(IntEnum):
    """Command of the ``cmd`` stream."""

    TOKEN = 0   # feed ``id``; emit logits and/or a sampled id as ``logits`` / ``sample`` ask
    RESET = 1   # clear membranes and pending spikes, seed the sampler's generator


def cycle_lower_bound(geom: Geometry, syn_events: int, readout_ops: int) -> int:
    """Cycles one character needs at least, set by the memory ports and lanes of the core.

    Every phase is bound by one memory that it reads one word per cycle::

        syn_events / S              fan-out list words of S entries (synapse phases)
      + T * N / P                   membrane words of P neurons (neuron phases)
      + ceil(V / R) * K             readout weight words of R characters, one for each of
                                    the token's K non-zero features (readout)

    ``K`` follows from the token's readout operations, ``readout_ops = V * K``. With
    ``geom.registered_reads`` a neuron-phase group takes two cycles and each readout block one
    more.
    """
    c = geom.config
    words_per_block = readout_ops // geom.vocab_size
    bound = (syn_events // geom.synapse_lanes + c.steps * geom.groups
             + geom.blocks * words_per_block)
    if geom.registered_reads:
        bound += c.steps * geom.groups + geom.blocks
    return bound


def memory_words(geom: Geometry, tokens: int, syn_events: int, readout_ops: int) -> dict:
    """Words the memory-access counters count for ``tokens`` tokens with these events.

    The core reads and writes its memories in a fixed pattern per phase, so the words follow
    from the counts and the geometry exactly (``K`` below is the number of non-zero features
    of a token, membrane features and spike counts, ``readout_ops = V * K``), with or without
    registered reads::

        fanout_reads    E                   one fan-out entry per synaptic event
        weight_reads    2*T*N/P + V         leak and input-weight words, biases
                        + B*K               readout weight words
        state_reads     E                   accumulators (synapse phases);
                        + T*N/P*(2 + S*P)   membrane, count and S*P accumulator words;
                        + B*K               a readout-list entry per weight word
        state_writes    E + T*N/P*(2 + S*P) likewise, and the K readout-list entries
                        + K

    (per token, ``E`` its synaptic events, ``B = ceil(V/R)``).
    """
    c = geom.config
    T, NG, P, NB = c.steps, geom.groups, geom.lanes, geom.blocks
    feats = readout_ops // geom.vocab_size        # sum over tokens of K
    neuron_phase = tokens * T * NG * (2 + geom.synapse_lanes * P)
    return {
        "fanout_reads": syn_events,
        "weight_reads": tokens * (2 * T * NG + geom.vocab_size) + NB * feats,
        "state_reads": syn_events + neuron_phase + NB * feats,
        "state_writes": syn_events + neuron_phase + feats,
    }


class Core(wiring.Component):
    """The spiking language model of ``snnfpga.model.golden``, bit for bit, in gateware.

    One ``TOKEN`` command runs SPEC.md section 3 for ``T`` time steps, then the readout of
    section 4, then (if asked) the sampler of section 5:

    * **synapse phase**: the event queue offers the ids of the neurons that spiked in the last
      step; each id's ``F`` fan-out entries are read, ``S`` per cycle (one word), and each is
      added into the target's accumulator in the bank of its synapse lane: ``S`` banks, so the
      ``S`` entries of a word never contend for a port. An accumulator is read in one cycle and
      written in the next; its read port is transparent to its write port, so an entry that
      follows another to the same target in the same lane sees the fresh sum (no
      read-modify-write hazard, no stall).
    * **neuron phase**: ``P`` LIF units update the ``P`` neurons of one word of the state
      memories per cycle, each taking the sum of its ``S`` accumulator banks, clear the
      accumulators, count their spikes and push the ids of the spiking ones into the event
      queue. The queue takes one id a cycle; when more than one of
      the ``P`` lanes spikes, the phase waits until the ids are pushed.
    * **readout**: the last time step's neuron phase writes two lists, (neuron, membrane
      feature) for every non-zero membrane feature and (neuron, spike count) for every neuron
      that spiked in the token. For each block of ``R`` characters, one cycle per list entry
      reads the entry and the weights of the ``R`` characters for it: a feature of zero costs
      nothing, and a closing step with no read ends the block. ``R`` logits are accumulated
      exactly. The finished block's logits go out one per cycle to the sampler and/or the
      ``logits`` stream while the next block's entries are read.

    The event queue holds ``N`` ids per step, so it never overflows (``event_queue.py``). The
    accumulators start every step at zero: the neuron phase writes zero back as it reads them.

    Parameters
    ----------
    config : ModelConfig
        The model configuration; all widths follow from it.
    vocab_size : int
        Characters of the vocabulary, ``V``.
    weights : IntWeights or None
        Initial contents of the weight memories (the shipped model), or zeros.
    lanes : int
        LIF units working in parallel, ``P``: a power of two dividing ``N`` (neuron ``n`` is
        lane ``n % P`` of word ``n // P``).
    readout_lanes : int
        Logits accumulated in parallel, ``R``.
    synapse_lanes : int or None
        Fan-out entries delivered in parallel, ``S``: a divisor of the fan-out ``F``
        (default: two if they divide it, else one).
    spram : bool
        Build the fan-out lists and the weights from the iCE40 UltraPlus SPRAM blocks. SPRAM
        cannot be initialised by the bitstream, so ``weights`` must then be None: every
        memory is loaded through the load port before the first token.
    registered_reads : bool
        A register on the read data of the fan-out lists and the weights
        (:class:`~.spram.SinglePortRAM` with ``registered``): their reads take two cycles
        instead of one, which ends the ECP5's longest paths (a block RAM's clock-to-out, the
        multiplexer over ~100 blocks, then a multiplier or an address) at that register; a
        fan-out read is issued from registers a cycle after its entry is taken, and so is a
        load-port request; a readout weight word's address is registered before its read;
        and a synaptic accumulator's read is registered before its sum is written (the sum
        of the entry ahead forwarded when both add into one accumulator). The arithmetic and
        the counters are unchanged; the cycles change: three more per synapse phase with
        events, two more per readout block, and the neuron phase takes two cycles a group.

    The accumulators' sums are exact in every bank (a bank holds part of the same sum), so the
    order and the banks the events are delivered in change no result.

    Attributes
    ----------
    cmd : In(stream)
        ``op`` (:class:`Op`), ``id`` (character), ``sample`` and ``logits`` (what ``TOKEN``
        emits), ``tq`` (temperature, SPEC.md section 5) and ``seed`` (LFSR state for
        ``RESET``, ``golden.seed_to_state(seed)``). Taken only when the core is idle.
    o_char : Out(stream)
        The sampled id of a ``TOKEN`` with ``sample`` set.
    o_logit : Out(stream)
        The ``V`` logits, id 0 first, of a ``TOKEN`` with ``logits`` set.
    mem_cmd : In(stream)
        Load port: ``write`` (1) or read (0) word ``addr`` of memory ``mem`` (:class:`MemId`)
        with ``data``. Taken only when the core is idle; a read answers on ``mem_rsp``. Offer
        ``cmd`` and ``mem_cmd`` one at a time (the command layer does): the core does not
        arbitrate between them, so that neither ``valid`` runs into the other's ``ready``.
    mem_rsp : Out(stream)
        The word a read asked for (zero-extended to the port width).
    o_spike : Out(valid, payload)
        Trace of the spikes as they enter the event queue: while ``valid``, ``payload.step``
        (time step within the token) and ``payload.neuron`` name one spike, in ascending
        neuron order within a step. For verification and debugging only: it has no ``ready``
        and cannot stall the core, and a build that leaves it unconnected loses no logic.
    counters : Out(array of COUNTER_BITS)
        The performance counters named in :data:`COUNTERS`.
    counters_clear : In(1)
        Zero every counter at the clock edge.
    busy : Out(1)
        A command is in progress.
    """

    def __init__(self, *, config: ModelConfig, vocab_size: int, weights: IntWeights | None = None,
                 lanes: int = DEFAULT_LANES, readout_lanes: int = DEFAULT_READOUT_LANES,
                 synapse_lanes: int | None = None, spram: bool = False,
                 registered_reads: bool = False):
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, not {config!r}")
        geom = Geometry(config, vocab_size, lanes, readout_lanes, registered_reads,
                        synapse_lanes)
        if weights is not None:
            weights.validate(config, vocab_size)
            if spram:
                raise ValueError("SPRAM cannot be initialised by the bitstream: build the core "
                                 "with weights=None and load them through the load port")
        if spram:   # fail here, naming the memory, if the SPRAM blocks cannot hold it
            need = {mid.name.lower(): SinglePortRAM.spram_blocks(geom.width(mid), geom.depth(mid))
                    for mid in SINGLE_PORT}
            if sum(need.values()) > SPRAM_BLOCKS:
                raise ValueError(f"the {' and '.join(need)} memories need "
                                 f"{' + '.join(map(str, need.values()))} SPRAM blocks; the UP5K "
                                 f"has {SPRAM_BLOCKS}")
        if spram and registered_reads:
            raise ValueError("registered_reads builds the memories from block RAM: it cannot be "
                             "combined with spram")
        self._spram = spram
        self._geom = geom
        self._weights = weights
        c = config
        self._id_shape = unsigned(max(1, ceil_log2(vocab_size)))
        # exact range of a logit (SPEC.md section 4): bias + N count terms + N membrane terms
        fc_max = c.steps << c.count_shift
        cnt_lo, cnt_hi = min(c.r_min * fc_max, 0), max(c.r_max * fc_max, 0)
        mem_lo = min(c.r_min * c.f_max, c.r_max * c.f_min)
        mem_hi = max(c.r_min * c.f_min, c.r_max * c.f_max)
        self._logit_shape = Shape.cast(range(c.b_min + c.neurons * (cnt_lo + mem_lo),
                                             c.b_max + c.neurons * (cnt_hi + mem_hi) + 1))
        cmd_layout = data.StructLayout({
            "op": 1, "id": self._id_shape, "sample": 1, "logits": 1,
            "tq": TEMPERATURE_BITS, "seed": 32,
        })
        mem_layout = data.StructLayout({
            "write": 1, "mem": 3, "addr": geom.addr_bits, "data": geom.data_bits,
        })
        super().__init__({
            "cmd":            In(stream.Signature(cmd_layout)),
            "o_char":         Out(stream.Signature(self._id_shape)),
            "o_logit":        Out(stream.Signature(signed(self._logit_shape.width))),
            "mem_cmd":        In(stream.Signature(mem_layout)),
            "mem_rsp":        Out(stream.Signature(geom.data_bits)),
            "o_spike":        Out(wiring.Signature({
                "valid": Out(1),
                "payload": Out(data.StructLayout({"step": range(max(c.steps, 2)),
                                                  "neuron": geom.target_bits}))})),
            "counters":       Out(COUNTER_BITS).array(len(COUNTERS)),
            "counters_clear": In(1),
            "busy":           Out(1),
        })

    @property
    def geometry(self) -> Geometry:
        return self._geom

    @property
    def registered_reads(self) -> bool:
        """The fan-out and weight reads take two cycles (see the parameter)."""
        return self._geom.registered_reads

    @property
    def logit_shape(self) -> Shape:
        """Exact shape of a logit for this configuration."""
        return self._logit_shape

    def counter(self, name: str):
        """The counter port named ``name`` (one of :data:`COUNTERS`)."""
        return self.counters[COUNTERS.index(name)]

    def elaborate(self, platform):
        m = Module()
        g = self._geom
        regs = g.registered_reads
        c = g.config
        P, R, N, F, T = g.lanes, g.readout_lanes, c.neurons, c.fanout, c.steps
        S, FW = g.synapse_lanes, g.fan_words
        NG, NB, V = g.groups, g.blocks, g.vocab_size
        init = pack_memories(g, self._weights) if self._weights is not None else {}

        # -- memories: every one has one datapath read port and one write port ------------------
        # The fan-out lists and the weights are single-port memories (SPRAM on the UP5K): no
        # cycle reads and writes them both, since the load port writes only while idle.
        rd, wr = {}, {}
        for mid in MemId:
            if mid in SINGLE_PORT:
                ram = SinglePortRAM(width=g.width(mid), depth=g.depth(mid),
                                    init=init.get(mid, []), spram=self._spram,
                                    registered=regs)
                m.submodules[f"mem_{mid.name.lower()}"] = ram
                rd[mid] = _Port(ram.r_addr, ram.r_en, ram.r_data)
                wr[mid] = _Port(ram.w_addr, ram.w_en, ram.w_data)
                continue
            mem = Memory(shape=g.width(mid), depth=g.depth(mid), init=init.get(mid, []))
            m.submodules[f"mem_{mid.name.lower()}"] = mem
            wr[mid] = mem.write_port()
            rd[mid] = mem.read_port()
        acc_shape = accumulator_shape(c)
        cnt_shape = unsigned(g.count_bits)
        # bank [k][i] holds synapse lane k's part of the accumulators of neurons n % P == i
        acc_rd = [[None] * P for _ in range(S)]
        acc_wr = [[None] * P for _ in range(S)]
        for k in range(S):
            for i in range(P):
                mem = Memory(shape=acc_shape, depth=NG, init=[])
                m.submodules[f"acc{k}_{i}" if S > 1 else f"acc{i}"] = mem
                acc_wr[k][i] = w = mem.write_port()
                acc_rd[k][i] = mem.read_port(transparent_for=(w,))
        acc_ports = [p for bank in acc_rd for p in bank]
        cnt_wr, cnt_rd = wr[MemId.CNT], rd[MemId.CNT]

        m.submodules.queue = queue = EventQueue(neurons=N)
        m.submodules.sampler = sampler = Sampler(config=c, vocab_size=V,
                                                 logit_bits=self._logit_shape.width)
        lifs = []
        for i in range(P):
            lif = LIFUnit(config=c)
            m.submodules[f"lif{i}"] = lif
            lifs.append(lif)
        wiring.connect(m, wiring.flipped(self.o_char), sampler.o_stream)

        # defaults: reads enabled only where a phase asks, nothing written
        for port in list(rd.values()) + acc_ports:
            m.d.comb += port.en.eq(0)

        # -- counters ---------------------------------------------------------------------------
        inc = {name: Signal(range(max(S * P + 2, R * 2, F) * 2 + 2), name=f"inc_{name}")
               for name in COUNTERS}
        # the increments that follow from data (spikes, non-zero features) or from the output
        # handshake (bias reads) are registered, so that no datapath runs on into a counter's
        # adder (on the iCE40 the LIF update and the spike counter were one long path, and the
        # board's link state through the logits' ready into the weight-read counter another,
        # the readout lists' tests of the registered potentials into the state-write counter a
        # third); those counters lag by a cycle, and the core is idle for many before a read
        for i, name in enumerate(COUNTERS):
            if name == "fanout_reads":   # one fan-out word per synaptic event: one register
                m.d.comb += self.counters[i].eq(self.counters[COUNTERS.index("syn_events")])
                continue
            step = inc[name]
            if name in ("spikes", "readout_ops", "weight_reads", "state_writes"):
                step = Signal.like(inc[name], name=f"inc_{name}_r")
                m.d.sync += step.eq(inc[name])
            with m.If(self.counters_clear):
                m.d.sync += self.counters[i].eq(0)
            with m.Else():
                m.d.sync += self.counters[i].eq(self.counters[i] + step)

        # -- command registers ------------------------------------------------------------------
        x = Signal(self._id_shape)            # character of the token in progress
        want_sample, want_logits = Signal(), Signal()
        tq = Signal(TEMPERATURE_BITS)
        t = Signal(range(max(T, 2)))          # time step
        m.d.comb += sampler.tq.eq(tq)

        # -- synapse phase pipeline: S0 fan-out read, S1 accumulator reads, S2 writes ----------
        # (S lanes side by side: lane k takes entry k of each fan-out word)
        j = Signal(range(max(FW, 2)))     # word of the list
        s1_valid, s2_valid = Signal(), Signal()
        fan_word = rd[MemId.FAN].data
        eb = g.target_bits + c.weight_bits
        s1_tgt = [fan_word[k * eb:k * eb + g.target_bits] for k in range(S)]
        s1_w = [fan_word[k * eb + g.target_bits:(k + 1) * eb].as_signed() for k in range(S)]
        s2_tgt = [Signal(g.target_bits, name=f"s2_tgt{k}") for k in range(S)]
        s2_w = [Signal(signed(c.weight_bits), name=f"s2_w{k}") for k in range(S)]
        syn_issue = Signal()              # an event's word j is taken this cycle
        ev = queue.o_stream
        # the address of word j of the popped id's list, read as the word is taken
        fan_addr = const_mul(ev.payload, FW) + j
        fan_en = ev.valid
        if regs:
            # registered reads: the fan-out read is issued a cycle after the entry is taken,
            # from registers (the event memory's clock-to-out and the address's route to ~60
            # block RAMs are two cycles), and its word arrives a cycle later still. With a
            # power-of-two fan-out the address is id and j side by side, without an adder.
            # (The UP5K build keeps the adder: its placement, with 1.4 % of timing margin,
            # was measured on that netlist, and this change alone moves it to 23.9 MHz.)
            if FW & (FW - 1) == 0:
                fan_addr = Cat(j[:ceil_log2(FW)], ev.payload) if FW > 1 else ev.payload
            fan_addr_q = Signal.like(fan_addr)
            fan_en = Signal()
            s0_wait = Signal()
            m.d.sync += [fan_addr_q.eq(fan_addr), fan_en.eq(syn_issue),
                         s0_wait.eq(fan_en), s1_valid.eq(s0_wait)]
            fan_addr = fan_addr_q
        else:
            m.d.sync += s1_valid.eq(syn_issue)
        m.d.sync += s2_valid.eq(s1_valid)
        # the stage that writes the accumulators: S2, or with registered reads S3 (below)
        wb_valid = s2_valid
        if regs:
            wb_valid = Signal()
            m.d.sync += wb_valid.eq(s2_valid)
        with m.If(s1_valid):
            m.d.sync += [a.eq(b) for a, b in zip(s2_tgt + s2_w, s1_tgt + s1_w, strict=True)]

        def lane_of(n):
            return n[:ceil_log2(P)] if P > 1 else Const(0, 1)

        def group_of(n):
            return n[ceil_log2(P):] if P > 1 else n

        # -- neuron phase: N0 issue the reads of group ng, N1 hold the words read, N2 compute and
        # write back ---------------------------------------------------------------------------
        ng = Signal(range(NG + 1))            # next group to read
        n1_valid = Signal()
        n1_wait = Signal() if regs else None   # registered reads: N1 waits a cycle
        n1_group = Signal(range(NG))
        G = g.win_groups_per_word
        win_addr = Signal(range(g.depth(MemId.WGT)))   # wgt word of group ng's input weights
        win_slot = Signal(range(max(G, 2)))            # ... and its slot in that word
        n1_slot = Signal(range(max(G, 2)))
        pend = Signal(P)                      # spiking lanes of the last group not yet pushed
        pend_group = Signal(range(NG))
        pend_lane = Signal(range(max(P, 2)))
        for i in reversed(range(P)):
            with m.If(pend[i]):
                m.d.comb += pend_lane.eq(i)
        push = Signal()
        m.d.comb += [
            queue.i_stream.payload.eq(Cat(pend_lane[:ceil_log2(P)], pend_group)
                                      if P > 1 else pend_group),
            queue.i_stream.valid.eq(pend != 0),
            push.eq(queue.i_stream.valid & queue.i_stream.ready),
        ]
        m.d.comb += [self.o_spike.valid.eq(push), self.o_spike.payload.step.eq(t),
                     self.o_spike.payload.neuron.eq(queue.i_stream.payload)]
        pend_after = Signal(P)
        m.d.comb += pend_after.eq(Mux(push, pend & ~(1 << pend_lane), pend))
        spikes = Signal(P)
        v_next = Signal(P * c.membrane_bits)
        cnt_old = Signal(P * cnt_shape.width)
        cnt_new = Signal(P * cnt_shape.width)
        # N2: the group's words, registered as N1 hands them on, so that no path runs from a
        # memory's read data through the LIF update into a write (the longest of the design)
        n2_valid = Signal()
        n2_group = Signal(range(NG))
        n2_consume = Signal()     # N2 writes back when at most one id is pending, going out now
        n1_advance = Signal()     # N1's words move into N2
        v_r = Signal(P * c.membrane_bits)
        leak_r = Signal(P * g.leak_bits)
        w_r = Signal(P * c.weight_bits)
        acc_r = [Signal(lif.acc.shape(), name=f"acc_r{i}") for i, lif in enumerate(lifs)]
        cnt_r = Signal(P * cnt_shape.width)
        with m.If(n1_advance):
            m.d.sync += [v_r.eq(rd[MemId.VMEM].data), leak_r.eq(rd[MemId.LEAK].data),
                         cnt_r.eq(cnt_rd.data), n2_group.eq(n1_group)]
            # the sum of the lanes' banks (exact in the accumulator's shape, SPEC.md 3.2)
            m.d.sync += [a.eq(sum(acc_rd[k][i].data for k in range(S)))
                         for i, a in enumerate(acc_r)]
            for i in range(P):
                m.d.sync += w_r.word_select(i, c.weight_bits).eq(
                    rd[MemId.WGT].data.word_select(n1_slot * P + i, c.weight_bits) if G > 1
                    else rd[MemId.WGT].data.word_select(i, c.weight_bits))
        for i, lif in enumerate(lifs):
            m.d.comb += [
                lif.v.eq(v_r.word_select(i, c.membrane_bits)),
                lif.leak.eq(leak_r.word_select(i, g.leak_bits)),
                lif.w_in.eq(w_r.word_select(i, c.weight_bits)),
                lif.drive_en.eq((t == 0) | int(c.input_every_step)),
                lif.acc.eq(acc_r[i]),
                spikes[i].eq(lif.spike),
                v_next.word_select(i, c.membrane_bits).eq(lif.v_next),
                cnt_old.word_select(i, cnt_shape.width).eq(
                    Mux(t == 0, 0, cnt_r.word_select(i, cnt_shape.width))),
                cnt_new.word_select(i, cnt_shape.width).eq(
                    cnt_old.word_select(i, cnt_shape.width) + lif.spike),
            ]
        popcount = sum(spikes[i] for i in range(P))

        # -- readout lists: written in the last time step's neuron phase -----------------------
        # The membrane list holds (neuron, feature) for each neuron whose membrane feature is
        # not zero, the count list (neuron, count) for each neuron that spiked in the token, both
        # in ascending neuron order; the readout reads only these (SPEC.md section 4: features
        # of zero are skipped). A group's entries are pushed one per list and cycle after the
        # group is written back; with P > 1 lanes the next group waits, as for the spikes.
        fb, cb = g.list_feature_bits, cnt_shape.width
        last_step = t == T - 1
        # the group's potentials and counts are registered as it is written back, and tested
        # from the registers (the LIF update is the design's longest path already)
        list_group = Signal(range(NG))
        v_q = Signal(P * c.membrane_bits)
        cnt_q = Signal(P * cb)
        with m.If(n2_consume):
            m.d.sync += [list_group.eq(n2_group), v_q.eq(v_next), cnt_q.eq(cnt_new)]
        fm_q = []
        for i in range(P):
            shifted = v_q.word_select(i, c.membrane_bits).as_signed() >> c.feature_shift
            fm_q.append(Mux(shifted > c.f_max, c.f_max, Mux(shifted < c.f_min, c.f_min, shifted)))

        def readout_list(name, width, nonzero, values):
            """A list memory and its writer; returns its read port, write enable, length and
            the lanes still pending after this cycle's push."""
            mem = Memory(shape=g.target_bits + width, depth=N, init=[])
            m.submodules[name] = mem
            wport, rport = mem.write_port(), mem.read_port()
            cand = Signal(P, name=f"{name}_cand")   # lanes of the group not yet pushed
            act = Signal(P, name=f"{name}_act")
            m.d.comb += act.eq(cand & Cat(*nonzero))
            length = Signal(range(N + 1), name=f"{name}_len")
            after = Signal(P, name=f"{name}_after")
            m.d.comb += [wport.addr.eq(length), wport.en.eq(act != 0)]
            if P == 1:
                m.d.comb += [wport.data.eq(Cat(list_group, values[0][:width])), after.eq(0)]
            else:
                lane = Signal(range(P), name=f"{name}_lane")
                for i in reversed(range(P)):
                    with m.If(act[i]):
                        m.d.comb += lane.eq(i)
                m.d.comb += [
                    wport.data.eq(Cat(lane, list_group,
                                      Array(v[:width] for v in values)[lane])),
                    after.eq(act & ~(Const(1, P) << lane)),
                ]
            with m.If(wport.en):
                m.d.sync += length.eq(length + 1)
            with m.If(n2_consume):
                m.d.sync += cand.eq(Mux(last_step, (1 << P) - 1, 0))
            with m.Else():
                m.d.sync += cand.eq(after)
            return rport, wport.en, length, after

        ml_rd, ml_we, m_len, m_after = readout_list(
            "mlist", fb, [f != 0 for f in fm_q], [f.as_unsigned() for f in fm_q])
        counts_q = [cnt_q.word_select(i, cb) for i in range(P)]
        cl_rd, cl_we, c_len, c_after = readout_list(
            "clist", cb, [k != 0 for k in counts_q], counts_q)

        # -- readout: L0 read a list entry, R0 issue its weight word, R1 products, R2 sum ------
        # Each block of R characters reads the membrane list, then the count list: one weight
        # word per entry. Then a closing operation, with a feature of zero and no memory read,
        # marks the block's end (and is its only one when both lists are empty).
        rb = Signal(range(NB + 1))            # block
        um = Signal(range(N + 1))             # membrane-list entry read next
        uc = Signal(range(N + 1))             # count-list entry read next
        in_clist = um == m_len
        null = in_clist & (uc == c_len)
        m.d.comb += [ml_rd.addr.eq(um), cl_rd.addr.eq(uc)]
        l_valid, l_kind, l_null = Signal(), Signal(), Signal()
        l_nv = Signal(range(R + 1))           # logits of the block
        l_rb = Signal.like(rb)                # block of the entry read
        lanes_valid = Signal(range(R + 1))
        m.d.comb += lanes_valid.eq(Mux(rb == NB - 1, V - (NB - 1) * R, R))
        ml_n, ml_f = ml_rd.data[:g.target_bits], ml_rd.data[g.target_bits:]
        if c.f_min < 0:
            ml_f = ml_f.as_signed()
        cl_n, cl_c = cl_rd.data[:g.target_bits], cl_rd.data[g.target_bits:]
        feat = Signal(range(min(c.f_min, 0), max(c.f_max, c.steps << c.count_shift) + 1))
        m.d.comb += feat.eq(Mux(l_null, 0, Mux(l_kind, cl_c << c.count_shift, ml_f)))
        # the readout's weight words: block b, list k (0 membranes, 1 counts), neuron n at
        # b * 2N + k * N + n (with N a power of two, the three side by side)
        wgt_addr = Signal(range(g.depth(MemId.WGT)))
        l_n = Mux(l_kind, cl_n, ml_n)
        m.d.comb += wgt_addr.eq(Cat(l_n, l_kind, l_rb) if N & (N - 1) == 0 else
                                const_mul(l_rb, 2 * N) + Mux(l_kind, N, 0) + l_n)
        wgt_en = l_valid & ~l_null
        # R0 -> R1: the weight word arrives a cycle after its read; with registered reads the
        # address is registered first (the list memory's clock-to-out does not run on into the
        # address pins of ~60 block RAMs) and the word takes two cycles: three stages
        stage = (l_valid, l_valid & l_null, l_nv, feat)
        if regs:
            wgt_addr_q, wgt_en_q, nv_q = Signal.like(wgt_addr), Signal(), Signal.like(l_nv)
            m.d.sync += [wgt_addr_q.eq(wgt_addr), wgt_en_q.eq(wgt_en), nv_q.eq(l_nv)]
            wgt_addr, wgt_en, wgt_nv = wgt_addr_q, wgt_en_q, nv_q
        else:
            wgt_nv = l_nv
        pipe_valid = []
        for k in range(3 if regs else 1):
            nxt = tuple(Signal.like(sig, name=f"ro{k}_{n}")
                        for sig, n in zip(stage, ("valid", "last", "nv", "feat"),
                                          strict=True))
            m.d.sync += [a.eq(b) for a, b in zip(nxt, stage, strict=True)]
            pipe_valid.append(nxt[0])
            stage = nxt
        m_valid, m_last, m_nv, m_feat = stage
        r2_nv = Signal(range(R + 1))
        r2_valid, r2_last = Signal(), Signal()
        ro_word = rd[MemId.WGT].data
        m.d.sync += [r2_valid.eq(m_valid), r2_last.eq(m_last), r2_nv.eq(m_nv)]
        prod_shape = self._logit_shape
        # R2: the products (a DSP multiplier each), registered every cycle; R3: the R sums,
        # cleared as a block's first entry is read and adding only valid products; the out
        # buffer takes them a cycle after the last (no adder of its own), and each logit's bias
        # is added as it goes out (below)
        r2_terms = [Signal(prod_shape, name=f"r2_term{i}") for i in range(R)]
        for i in range(R):
            w = ro_word.word_select(i, c.readout_bits).as_signed()
            m.d.sync += r2_terms[i].eq(w * m_feat)
        logits = [Signal(self._logit_shape, name=f"logit{i}") for i in range(R)]
        ro_clear = Signal()
        with m.If(ro_clear | r2_valid):
            for i in range(R):
                m.d.sync += logits[i].eq(Mux(ro_clear, 0, logits[i] + r2_terms[i]))
        r3_last = Signal()
        r3_nv = Signal(range(R + 1))
        m.d.sync += [r3_last.eq(r2_valid & r2_last), r3_nv.eq(r2_nv)]

        # out buffer: the R logits of a finished block, shifted out one a cycle
        obuf = [Signal(self._logit_shape, name=f"obuf{i}") for i in range(R)]
        ocount = Signal(range(R + 1))
        sent_s, sent_l = Signal(), Signal()   # this logit already taken by sampler / stream
        need_s = want_sample & ~sent_s
        need_l = want_logits & ~sent_l
        has = ocount != 0
        # the bias memory holds one bias a word; it is read ahead, so that its output is the
        # bias of the logit at the head of the buffer (logit ``oidx`` of the token)
        oidx = Signal(range(V + 1))
        head = Signal(self._logit_shape)
        m.d.comb += [
            head.eq(obuf[0] + rd[MemId.BIAS].data.as_signed()),
            sampler.i_stream.payload.eq(head),
            sampler.i_stream.valid.eq(has & need_s),
            self.o_logit.payload.eq(head),
            self.o_logit.valid.eq(has & need_l),
        ]
        took_s = sampler.i_stream.valid & sampler.i_stream.ready
        took_l = self.o_logit.valid & self.o_logit.ready
        done_s = ~want_sample | sent_s | took_s
        done_l = ~want_logits | sent_l | took_l
        shift_out = has & done_s & done_l
        with m.If(shift_out):
            m.d.sync += [sent_s.eq(0), sent_l.eq(0), ocount.eq(ocount - 1), oidx.eq(oidx + 1)]
            for i in range(R - 1):
                m.d.sync += obuf[i].eq(obuf[i + 1])
        with m.Else():
            with m.If(took_s):
                m.d.sync += sent_s.eq(1)
            with m.If(took_l):
                m.d.sync += sent_l.eq(1)
        block_done = r3_last
        with m.If(block_done):   # a block's closing step issues only with obuf empty
            m.d.sync += ocount.eq(r3_nv)
            for i in range(R):
                m.d.sync += obuf[i].eq(logits[i])

        # the sampled id may leave while the last logits still wait for the logits stream
        char_sent = Signal()
        with m.If(self.o_char.valid & self.o_char.ready):
            m.d.sync += char_sent.eq(1)

        # -- reset sequence ---------------------------------------------------------------------
        clr = Signal(range(NG + 1))

        # -- load port --------------------------------------------------------------------------
        mc = self.mem_cmd.payload
        if regs:
            # registered reads: a request is performed a cycle after it is taken, from
            # registers, so that the command layer's decision to offer it does not run on into
            # the enables of ~60 block RAMs
            take_mem = Signal()   # a request is taken this cycle
            lp_valid = Signal()
            lp = Signal.like(mc)
            m.d.sync += lp_valid.eq(take_mem)
            with m.If(take_mem):
                m.d.sync += lp.eq(mc)
            access = lp
        else:
            access = mc
        rsp_pending = Signal()
        rsp_mem = Signal(3)
        rd_data = Array(rd[mid].data for mid in MemId)
        m.d.comb += self.mem_rsp.payload.eq(rd_data[rsp_mem])
        with m.If(self.mem_rsp.valid & self.mem_rsp.ready):
            m.d.sync += self.mem_rsp.valid.eq(0)
        if regs:        # registered reads: the word is one more cycle away
            rsp_wait = Signal()
            with m.If(rsp_pending):
                m.d.sync += [rsp_pending.eq(0), rsp_wait.eq(1)]
            with m.If(rsp_wait):
                m.d.sync += [rsp_wait.eq(0), self.mem_rsp.valid.eq(1)]
        else:
            with m.If(rsp_pending):
                m.d.sync += [rsp_pending.eq(0), self.mem_rsp.valid.eq(1)]

        # -- the controller ---------------------------------------------------------------------
        busy = Signal()
        m.d.comb += [self.busy.eq(busy), inc["cycles"].eq(busy)]
        # during a load-port read, hold the read data until the response is taken
        hold_rsp = rsp_pending | self.mem_rsp.valid
        if regs:
            hold_rsp = hold_rsp | rsp_wait | lp_valid

        def perform(req):
            """The memory access of a load-port request (in IDLE)."""
            for mid in MemId:
                with m.If(req.mem == mid):
                    with m.If(req.write):
                        m.d.comb += wr[mid].en.eq(1)
                    with m.Else():
                        m.d.comb += rd[mid].en.eq(1)
            with m.If(~req.write):
                m.d.sync += [rsp_pending.eq(1), rsp_mem.eq(req.mem)]

        with m.FSM(name="ctrl"):
            with m.State("IDLE"):
                m.d.comb += [
                    self.cmd.ready.eq(~hold_rsp),
                    self.mem_cmd.ready.eq(~hold_rsp),
                ]
                # the load port's address and data reach every memory whether or not a request
                # is offered: only the enables wait for ``valid`` (a short path from the
                # command layer's state register; with registered reads, all from registers)
                for mid in MemId:
                    m.d.comb += [wr[mid].addr.eq(access.addr), rd[mid].addr.eq(access.addr),
                                 wr[mid].data.eq(access.data)]
                if regs:
                    with m.If(lp_valid):
                        perform(lp)
                with m.If(self.cmd.valid & self.cmd.ready):
                    m.d.sync += [
                        x.eq(self.cmd.payload.id),
                        want_sample.eq(self.cmd.payload.sample),
                        want_logits.eq(self.cmd.payload.logits),
                        tq.eq(self.cmd.payload.tq),
                        t.eq(0),
                        char_sent.eq(0),
                    ]
                    with m.If(self.cmd.payload.op == Op.RESET):
                        m.d.sync += clr.eq(0)
                        m.d.comb += [sampler.seed.eq(self.cmd.payload.seed),
                                     sampler.seed_load.eq(1)]
                        m.next = "CLEAR"
                    with m.Else():
                        m.d.comb += inc["tokens"].eq(1)
                        m.d.sync += [j.eq(0), m_len.eq(0), c_len.eq(0)]
                        m.next = "SYN"
                with m.Elif(self.mem_cmd.valid & self.mem_cmd.ready):
                    if regs:
                        m.d.comb += take_mem.eq(1)
                    else:
                        perform(mc)

            with m.State("CLEAR"):
                # zero the membranes; drop the pending spikes (swap to the empty buffer and
                # discard an id the queue may be offering)
                m.d.comb += [busy.eq(1), wr[MemId.VMEM].addr.eq(clr), wr[MemId.VMEM].data.eq(0),
                             wr[MemId.VMEM].en.eq(clr < NG)]
                with m.If(clr == 0):
                    m.d.comb += [queue.swap.eq(1), queue.o_stream.ready.eq(1)]
                with m.If(clr < NG):
                    m.d.sync += clr.eq(clr + 1)
                with m.Else():
                    m.next = "IDLE"

            with m.State("SYN"):
                m.d.comb += busy.eq(1)
                m.d.comb += [
                    syn_issue.eq(ev.valid),
                    rd[MemId.FAN].addr.eq(fan_addr),
                    rd[MemId.FAN].en.eq(fan_en),
                    ev.ready.eq(j == FW - 1),
                    inc["syn_events"].eq(Mux(ev.valid, S, 0)),
                    inc["state_reads"].eq(Mux(s1_valid, S, 0)),     # accumulators read ...
                    inc["state_writes"].eq(Mux(wb_valid, S, 0)),    # ... and written back
                ]
                with m.If(ev.valid):
                    m.d.sync += j.eq(Mux(j == FW - 1, 0, j + 1))
                syn_done = (queue.cur_level == 0) & ~s1_valid & ~s2_valid & ~wb_valid
                with m.If(syn_done & ~s0_wait & ~fan_en if regs else syn_done):
                    m.d.sync += [ng.eq(0), n1_valid.eq(0), n2_valid.eq(0), win_slot.eq(0),
                                 win_addr.eq(g.win_base + const_mul(x, g.win_row_words))]
                    m.next = "NEU"

            with m.State("NEU"):
                m.d.comb += busy.eq(1)
                m.d.comb += [n2_consume.eq(n2_valid & (pend_after == 0) & (m_after == 0)
                                           & (c_after == 0)),
                             n1_advance.eq(n1_valid & ~n1_wait & (~n2_valid | n2_consume)
                                           if regs else
                                           n1_valid & (~n2_valid | n2_consume))]
                issue = (~n1_valid | n1_advance) & (ng < NG)
                if regs:   # the other memories hold their words meanwhile
                    m.d.sync += n1_wait.eq(issue)
                m.d.comb += [
                    rd[MemId.VMEM].addr.eq(ng), rd[MemId.LEAK].addr.eq(ng),
                    rd[MemId.WGT].addr.eq(win_addr), cnt_rd.addr.eq(ng),
                    rd[MemId.VMEM].en.eq(issue), rd[MemId.LEAK].en.eq(issue),
                    rd[MemId.WGT].en.eq(issue), cnt_rd.en.eq(issue),
                    inc["weight_reads"].eq(Mux(issue, 2, 0)),
                    inc["state_reads"].eq(Mux(issue, 2 + S * P, 0)),
                ]
                for port in acc_ports:
                    m.d.comb += [port.addr.eq(ng), port.en.eq(issue)]
                with m.If(issue):
                    m.d.sync += [ng.eq(ng + 1), n1_group.eq(ng), n1_valid.eq(1),
                                 n1_slot.eq(win_slot)]
                    with m.If(win_slot == G - 1):
                        m.d.sync += [win_slot.eq(0), win_addr.eq(win_addr + 1)]
                    with m.Else():
                        m.d.sync += win_slot.eq(win_slot + 1)
                with m.Elif(n1_advance):
                    m.d.sync += n1_valid.eq(0)
                with m.If(n1_advance):
                    m.d.sync += n2_valid.eq(1)
                with m.Elif(n2_consume):
                    m.d.sync += n2_valid.eq(0)
                with m.If(n2_consume):
                    m.d.comb += [
                        wr[MemId.VMEM].addr.eq(n2_group), wr[MemId.VMEM].data.eq(v_next),
                        wr[MemId.VMEM].en.eq(1),
                        cnt_wr.addr.eq(n2_group), cnt_wr.data.eq(cnt_new), cnt_wr.en.eq(1),
                        inc["spikes"].eq(popcount),
                    ]
                    for port in (p for bank in acc_wr for p in bank):
                        m.d.comb += [port.addr.eq(n2_group), port.data.eq(0), port.en.eq(1)]
                    m.d.sync += [pend.eq(spikes), pend_group.eq(n2_group)]
                with m.Elif(push):
                    m.d.sync += pend.eq(pend_after)
                # words written: the group's, and an entry into each readout list pushed now
                m.d.comb += inc["state_writes"].eq(Mux(n2_consume, 2 + S * P, 0) + ml_we + cl_we)
                # the lists' last entries are written as the phase ends (no queue swap to wait for)
                with m.If((ng == NG) & ~n1_valid & ~n2_valid & (pend == 0) & (m_after == 0)
                          & (c_after == 0)):
                    m.d.comb += queue.swap.eq(1)
                    with m.If(t == T - 1):
                        m.d.sync += [rb.eq(0), um.eq(0), uc.eq(0), oidx.eq(0)]
                        m.d.comb += [rd[MemId.BIAS].addr.eq(0), rd[MemId.BIAS].en.eq(1),
                                     inc["weight_reads"].eq(1)]
                        m.next = "READOUT"
                    with m.Else():
                        m.d.sync += [t.eq(t + 1), j.eq(0)]
                        m.next = "SYN"

            with m.State("READOUT"):
                m.d.comb += busy.eq(1)
                # read the next logit's bias as the head logit leaves
                bias_next = Signal()
                m.d.comb += [bias_next.eq(shift_out & (oidx < V - 1)),
                             rd[MemId.BIAS].addr.eq(oidx + 1), rd[MemId.BIAS].en.eq(bias_next)]
                # a block starts once the previous one has left the pipeline (its sums are in
                # the out buffer), and closes only once the buffer has sent them on: the sums of
                # one block go out while the next block's entries are read
                busy_pipe = l_valid | r2_valid | block_done
                for v_ in pipe_valid:
                    busy_pipe = busy_pipe | v_
                empty = (ocount == 0) & ~busy_pipe
                ro_issue = (rb < NB) & ((um != 0) | (uc != 0) | ~busy_pipe) & (
                    ~null | (ocount == 0))
                m.d.comb += [
                    ml_rd.en.eq(ro_issue & ~in_clist), cl_rd.en.eq(ro_issue & in_clist & ~null),
                    rd[MemId.WGT].addr.eq(wgt_addr), rd[MemId.WGT].en.eq(wgt_en),
                    inc["weight_reads"].eq(wgt_en + bias_next),
                    inc["state_reads"].eq(ro_issue & ~null),      # a list entry
                    inc["readout_ops"].eq(Mux(wgt_en, wgt_nv, 0)),
                ]
                m.d.comb += ro_clear.eq(ro_issue & (um == 0) & (uc == 0))
                m.d.sync += [l_valid.eq(ro_issue),
                             l_kind.eq(in_clist), l_null.eq(null), l_nv.eq(lanes_valid),
                             l_rb.eq(rb)]
                with m.If(ro_issue):
                    with m.If(null):
                        m.d.sync += [um.eq(0), uc.eq(0), rb.eq(rb + 1)]
                    with m.Elif(in_clist):
                        m.d.sync += uc.eq(uc + 1)
                    with m.Else():
                        m.d.sync += um.eq(um + 1)
                with m.If((rb == NB) & empty):
                    m.next = "FINISH"

            with m.State("FINISH"):
                # wait until the sampler has handed its id over (when sampling)
                m.d.comb += busy.eq(1)
                with m.If(~want_sample | char_sent | (self.o_char.valid & self.o_char.ready)):
                    m.next = "IDLE"

        # synapse stage 1: read each lane's target's accumulator; stage 2: write the new sums
        for k in range(S):
            for i in range(P):
                rp = acc_rd[k][i]
                with m.If(s1_valid & (lane_of(s1_tgt[k]) == i)):
                    m.d.comb += [rp.addr.eq(group_of(s1_tgt[k])), rp.en.eq(1)]
        if not regs:
            for k in range(S):
                for i in range(P):
                    rp, wp = acc_rd[k][i], acc_wr[k][i]
                    with m.If(s2_valid & (lane_of(s2_tgt[k]) == i)):
                        m.d.comb += [wp.addr.eq(group_of(s2_tgt[k])),
                                     wp.data.eq(rp.data + s2_w[k]), wp.en.eq(1)]
        else:
            # registered reads: the accumulator read is registered in S2 and the sum written in S3,
            # so that no path runs from a block RAM's output through the adder into its input (the
            # ECP5's longest path with two synapse lanes). An entry read in cycle c sees the writes
            # of cycles up to c (the read port is transparent), not the one of cycle c+1: the
            # entry ahead of it, whose sum it takes from ``lw_sum`` when their targets agree.
            for k in range(S):
                s3_tgt = Signal(g.target_bits, name=f"s3_tgt{k}")
                s3_w = Signal(signed(c.weight_bits), name=f"s3_w{k}")
                s3_acc = Signal(acc_shape, name=f"s3_acc{k}")
                lw_valid = Signal(name=f"lw_valid{k}")     # this lane wrote in the last cycle ...
                lw_tgt = Signal(g.target_bits, name=f"lw_tgt{k}")
                lw_sum = Signal(acc_shape, name=f"lw_sum{k}")   # ... this sum to this target
                with m.If(s2_valid):
                    m.d.sync += [s3_tgt.eq(s2_tgt[k]), s3_w.eq(s2_w[k]),
                                 s3_acc.eq(Array(acc_rd[k][i].data for i in range(P))[
                                     lane_of(s2_tgt[k])] if P > 1 else acc_rd[k][0].data)]
                base = Mux(lw_valid & (lw_tgt == s3_tgt), lw_sum, s3_acc)
                new_sum = Signal(acc_shape, name=f"s3_sum{k}")
                m.d.comb += new_sum.eq(base + s3_w)
                m.d.sync += [lw_valid.eq(wb_valid), lw_tgt.eq(s3_tgt), lw_sum.eq(new_sum)]
                for i in range(P):
                    wp = acc_wr[k][i]
                    with m.If(wb_valid & (lane_of(s3_tgt) == i)):
                        m.d.comb += [wp.addr.eq(group_of(s3_tgt)), wp.data.eq(new_sum), wp.en.eq(1)]
        return m
