"""benchmarks/track.py: stored asv results read back, compared with the one table of
targets, and the change since the previous commit (no timing asserted)."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import measure  # noqa: E402
import targets  # noqa: E402
import track  # noqa: E402

ENC = "entropy.residual_encode_x_compressai"
BITS = "entropy.residual_bits_over_ideal_pct"


def _store(folder: Path, commit: str, date: int, figures: dict, failed=False):
    """One asv (format 2) result file, as ``asv run --set-commit-hash`` writes it."""
    names = [t.name for t in targets.TARGETS]
    row = [[float("nan")] * len(names) if failed else [figures.get(n) for n in names],
           [[repr(n) for n in names]],
           "version", 0, 1.0]
    data = {"commit_hash": commit, "env_name": "existing-py", "date": date, "version": 2,
            "params": {}, "results": {"tracked.Figures.track_figure": row,
                                      "other.suite.time_x": [[1.0], [], "v", 0, 1.0]}}
    (folder / f"{commit[:8]}-existing-py.json").write_text(json.dumps(data))


@pytest.fixture
def history(tmp_path):
    (tmp_path / "vm").mkdir()
    (tmp_path / "vm" / "machine.json").write_text('{"machine": "vm", "version": 1}')
    _store(tmp_path / "vm", "a" * 40, 1000, {ENC: 4.4, BITS: 0.002})
    _store(tmp_path / "vm", "b" * 40, 2000, {ENC: 0.9, BITS: 0.002})
    _store(tmp_path / "vm", "c" * 40, 3000, {}, failed=True)  # a commit where it failed
    _store(tmp_path / "vm", "d" * 40, 4000, {ENC: 3.6, BITS: 0.2})
    return track.load(tmp_path, "vm")


def test_load_reads_every_commit_and_only_the_suite(history):
    assert sorted(history) == [c * 40 for c in "abcd"]
    date, figures = history["a" * 40]
    assert date == 1000 and figures[ENC] == 4.4 and "other.suite.time_x" not in figures
    assert set(history["c" * 40][1].values()) == {None}


def test_targets_and_change_since_previous(history):
    table = {t.name: (value, met, prev) for t, value, met, prev in track.rows(history, "d" * 40)}
    assert table[ENC] == (3.6, True, 0.9)  # "c" stored no value: "b" is the previous one
    assert table[BITS] == (0.2, False, 0.002)  # a "<=" target missed
    assert table["liveaction.encode_x_avif"] == (None, None, None)  # not measured
    assert track.rows(history, "b" * 40)[0][1:] == (0.9, False, 4.4)
    assert track.rows(history, "a" * 40)[0][3] is None  # nothing older


def test_render_shows_pass_fail_and_change(history):
    text = track.render(track.rows(history, "d" * 40))
    line = next(li for li in text.splitlines() if li.startswith(ENC))
    assert ">= 3x" in line and "pass" in line and "+300.0%" in line
    assert "FAIL" in next(li for li in text.splitlines() if li.startswith(BITS))
    assert "n/a" in next(li for li in text.splitlines() if li.startswith("pc."))
    hist = track.render_history(history)
    assert hist.splitlines()[0].split()[1:] == [c * 8 for c in "abcd"]


def test_one_table_of_targets_behind_suite_and_measurements():
    import importlib.util

    spec = importlib.util.spec_from_file_location("tracked", BENCH / "asv_suite" / "tracked.py")
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    assert {t.group for t in targets.TARGETS} == set(measure.GROUPS)
    assert suite.Figures.params == [t.name for t in targets.TARGETS]
    with pytest.raises(NotImplementedError):  # asv records it as skipped
        suite.Figures().setup({}, ENC)
    assert len(targets.BY_NAME) == len(targets.TARGETS)
    assert targets.BY_NAME[ENC].met(3.0) and not targets.BY_NAME[ENC].met(2.99)
    assert targets.BY_NAME[BITS].met(0.05) and not targets.BY_NAME[BITS].met(0.06)
    assert targets.BY_NAME["liveaction.decode_x_webp"].met(1.0) is None  # tracked only


def test_a_group_that_cannot_run_is_left_out(monkeypatch, capsys):
    def absent(quick):
        raise NotImplementedError("no data")

    def broken(quick):
        raise TypeError("old API")

    monkeypatch.setitem(measure.GROUPS, "pc", absent)
    monkeypatch.setitem(measure.GROUPS, "liveaction", broken)
    figures = measure.run(["pc", "liveaction", "container"], quick=True)  # container: 0.5 s
    assert set(figures) == set(targets.of_group("container"))
    err = capsys.readouterr().err
    assert "pc: skipped (no data)" in err and "liveaction: failed (TypeError: old API)" in err
