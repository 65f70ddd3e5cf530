"""``snnfpga energy`` and the benchmark, on small inputs."""

import json

from snnfpga.energy import bench
from snnfpga.sw_driver.cli import main


def test_energy_command_estimates(capsys):
    assert main(["energy", "--prompt", "ROMEO:", "-n", "10", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "energy (estimated) on icebreaker" in out
    assert "dense / event-driven" in out


def test_energy_command_json(capsys):
    assert main(["energy", "-n", "5", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["label"] == "estimated" and d["cycles_exact"] is True
    assert d["dense_over_event"] > 1


def test_measure_without_a_monitor_is_a_plain_error(capsys):
    assert main(["energy", "--measure", "--backend", "board", "--port", "socket://x:1"]) == 2
    err = capsys.readouterr().err
    assert "no current monitor attached" in err and "fitted: false" in err


def test_benchmark_and_plot(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 40)
    png = tmp_path / "sweep.png"
    js = tmp_path / "b.json"
    assert bench.main(["--text", str(text), "--chars", "60", "--sweep-chars", "30",
                       "--thresholds", "192,384", "--plot", str(png), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "energy per synaptic event" in out and "dense / event-driven" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads(js.read_text())["sweep"]
    assert [r["threshold"] for r in rows] == [192, 384]
    assert rows[0]["firing_rate"] > rows[1]["firing_rate"]
    assert rows[0]["energy_per_char_j"] > rows[1]["energy_per_char_j"]
