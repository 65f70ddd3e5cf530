# amaranth: UnusedElaboratable=no
"""EventQueue against a model of two Python lists: random pushes, pops, swaps, back-pressure."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402
from snnfpga.hw.event_queue import EventQueue  # noqa: E402


def run_random(neurons: int, cycles: int, seed: int, *, push_rate: float, pop_rate: float,
               swap_rate: float, early_swap_rate: float):
    """Drive the queue at random for ``cycles`` and check every cycle against the list model.

    The model: ``nxt`` collects pushes; ``cur`` is popped from the front; a swap makes ``nxt``
    the new ``cur``. A swap normally comes when ``cur`` is drained (the controller's rule); an
    early one drops ``cur`` except an id already offered on ``o_stream`` (stream rule 2).
    Returns counts of what happened, to check that the random run reached every case.
    """
    rng = np.random.default_rng(seed)
    dut = EventQueue(neurons=neurons)
    seen = dict(pops=0, pushes=0, swaps=0, early=0, early_held=0, full=0, push_with_swap=0,
                stalls=0)

    async def tb(ctx):
        cur: list[int] = []
        nxt: list[int] = []
        push_valid, push_id = 0, 0
        held = None
        for _ in range(cycles):
            # the pusher holds an offered id until it is taken (stream rule 2)
            if not push_valid and rng.random() < push_rate:
                push_valid, push_id = 1, int(rng.integers(0, neurons))
            ready = int(rng.random() < pop_rate)
            drained = not cur
            swap = int(rng.random() < (swap_rate if drained else early_swap_rate))
            ctx.set(dut.i_stream.valid, push_valid)
            ctx.set(dut.i_stream.payload, push_id)
            ctx.set(dut.o_stream.ready, ready)
            ctx.set(dut.swap, swap)
            _, _, i_ready, o_valid, o_payload, cur_level, next_level = await ctx.tick().sample(
                dut.i_stream.ready, dut.o_stream.valid, dut.o_stream.payload,
                dut.cur_level, dut.next_level)

            assert cur_level == len(cur), f"cur_level {cur_level}, model {len(cur)}"
            assert next_level == len(nxt), f"next_level {next_level}, model {len(nxt)}"
            assert i_ready == (len(nxt) < neurons), "push must stall exactly when next is full"
            if held is not None:
                assert o_valid and o_payload == held, "o_stream withdrew or changed an id"
            if o_valid:
                assert cur and o_payload == cur[0], f"offered {o_payload}, model head {cur[:1]}"
            popped = o_valid and ready
            if popped:
                cur.pop(0)
                seen["pops"] += 1
            held = o_payload if o_valid and not ready else None
            if push_valid and i_ready:
                nxt.append(push_id)
                push_valid = 0
                seen["pushes"] += 1
                seen["push_with_swap"] += swap
            elif push_valid:
                seen["full"] += 1
            if ready and not o_valid and cur:
                seen["stalls"] += 1
            if swap:
                seen["swaps"] += 1
                if cur:
                    seen["early"] += 1
                    seen["early_held"] += held is not None
                # only an id already offered survives an early swap, and it comes first
                cur = ([cur[0]] if held is not None else []) + nxt
                nxt = []

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return seen


@pytest.mark.parametrize("neurons", [1, 5, 8, 64])
def test_random_traffic_with_back_pressure(neurons):
    # steps long enough on average for "next" to fill up now and then
    seen = run_random(neurons, 3000, neurons, push_rate=0.6, pop_rate=0.6,
                      swap_rate=min(0.1, 0.6 / neurons), early_swap_rate=0.01)
    assert seen["pops"] > 150 and seen["swaps"] > 10 and seen["early"] > 0, seen
    assert seen["push_with_swap"] > 0 and seen["full"] > 0, seen
    if neurons > 1:
        assert seen["early_held"] > 0, seen


def test_full_rate_steps():
    """Every cycle a push and a ready pop; swaps as soon as the current step is drained."""
    seen = run_random(16, 2000, 3, push_rate=1.0, pop_rate=1.0, swap_rate=0.2,
                      early_swap_rate=0.0)
    assert seen["pops"] > 1000 and seen["early"] == 0, seen


def test_one_step_of_spikes_round_trips():
    """The intended use: N spikes pushed in one step come back in push order after a swap."""
    n = 32
    dut = EventQueue(neurons=n)
    ids = list(np.random.default_rng(5).permutation(n))
    got = []

    async def tb(ctx):
        for i in ids:
            ctx.set(dut.i_stream.payload, int(i))
            ctx.set(dut.i_stream.valid, 1)
            await ctx.tick().until(dut.i_stream.ready)
        ctx.set(dut.i_stream.valid, 0)
        assert not ctx.get(dut.i_stream.ready) and ctx.get(dut.next_level) == n
        ctx.set(dut.swap, 1)
        await ctx.tick()
        ctx.set(dut.swap, 0)
        assert ctx.get(dut.cur_level) == n and ctx.get(dut.next_level) == 0
        ctx.set(dut.o_stream.ready, 1)
        while len(got) < n:
            _, _, valid, payload = await ctx.tick().sample(dut.o_stream.valid,
                                                          dut.o_stream.payload)
            if valid:
                got.append(payload)
        assert ctx.get(dut.cur_level) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == ids


@pytest.mark.parametrize("neurons", [0, 1 << 17, True, 4.0])
def test_bad_neuron_count_is_named(neurons):
    with pytest.raises(ValueError, match=f"neurons must be an integer in 1 .. 65536, "
                                         f"not {neurons!r}"):
        EventQueue(neurons=neurons)
