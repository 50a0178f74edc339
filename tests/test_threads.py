"""The thread policy (``lvc.threads``, issue 23): counts from cores, workers and the
load, the overrides, worker pools, and decoding that does not depend on any of it."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import lvc
from lvc import threads
from lvc.cli.main import cli
from lvc.errors import BadInputError


@pytest.fixture
def machine(monkeypatch):
    """4 cores, nothing else running, no LVC_THREADS."""
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(threads, "others_running", lambda: 0)
    return monkeypatch


def test_count_is_cores_over_workers_small_kernels_capped_by_the_load(machine):
    assert threads.threads_for() == 4 and threads.threads_for(2) == 2
    assert threads.threads_for(3) == 1 and threads.threads_for(8) == 1
    assert threads.threads_for(small_kernels=True) == 4
    machine.setattr(threads, "others_running", lambda: 3)
    assert threads.threads_for() == 4 and threads.threads_for(2) == 2
    assert threads.threads_for(small_kernels=True) == 1
    assert threads.threads_for(2, small_kernels=True) == 1
    machine.setattr(threads, "others_running", lambda: 2)
    assert threads.threads_for(small_kernels=True) == 2
    machine.setattr(threads, "others_running", lambda: 9)
    assert threads.threads_for(small_kernels=True) == 1


def test_overrides(machine):
    machine.setenv(threads.ENV, "3")
    assert threads.threads_for(2) == 3
    machine.setenv(threads.ENV, "torch")
    assert threads.threads_for() is None and threads.apply() is None
    machine.setenv(threads.ENV, "auto")
    assert threads.threads_for() == 4
    for bad in ("0", "-2", "many"):
        machine.setenv(threads.ENV, bad)
        with pytest.raises(BadInputError, match="LVC_THREADS"):
            threads.threads_for()


def test_cgroup_quota_caps_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: 1.5)
    assert threads.available_cores() == 1
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: None)
    assert threads.available_cores() == len(os.sched_getaffinity(0))


def test_others_running_takes_the_least_of_three_readings(monkeypatch):
    readings = iter([3, 1, 2])
    monkeypatch.setattr(threads, "_others_now", lambda: next(readings))
    assert threads.others_running() == 1
    monkeypatch.setattr(threads, "_others_now", lambda: 0)
    assert threads.others_running() == 0


def test_apply_sets_torch_and_blas_threads(machine):
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    try:
        machine.setenv(threads.ENV, "1")
        assert threads.apply() == 1 and torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        torch.set_num_threads(before)
        threads._applied.clear()


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", threads.ENV)}
    return {**env, **extra}


def test_import_sets_a_short_openmp_spin_unless_told_otherwise():
    code = "import lvc, os; print(os.environ.get('GOMP_SPINCOUNT'))"
    run = lambda env: subprocess.run([sys.executable, "-c", code], env=env,  # noqa: E731
                                     capture_output=True, text=True).stdout.strip()
    assert run(_env()) == "1000"
    assert run(_env(LVC_THREADS="torch")) == "None"
    assert run(_env(OMP_WAIT_POLICY="ACTIVE")) == "None"
    assert run(_env(GOMP_SPINCOUNT="5")) == "5"


def _workers_seen(_):
    return threads._workers.get(os.getpid())


def test_worker_pools_record_how_many_share_the_machine():
    from lvc.eval.parallel import map_ordered

    assert list(map_ordered(_workers_seen, [0, 1, 2], workers=2)) == [2, 2, 2]


def test_decoding_is_identical_under_every_policy(tmp_path):
    from lvc.samples import sample_image

    image = sample_image(96, 64, seed=4)
    digests = []
    for codec in ("liveaction-rgb", "mlicv2-tiny"):
        path = tmp_path / f"{codec}.lvc"
        path.write_bytes(lvc.encode(image, codec))
        code = (f"import lvc, hashlib; print(hashlib.sha256(lvc.decode({str(path)!r})"
                ".tobytes()).hexdigest())")
        outs = {setting: subprocess.run([sys.executable, "-c", code],
                                        env=_env(LVC_THREADS=setting), capture_output=True,
                                        text=True, check=True).stdout.strip()
                for setting in ("1", "2", "torch")}
        outs["here"] = hashlib.sha256(lvc.decode(path).tobytes()).hexdigest()
        assert len(set(outs.values())) == 1, (codec, outs)
        digests.append(outs["here"])
    assert digests[0] != digests[1]


def test_cli_threads_option_and_bad_environment():
    runner = CliRunner()
    result = runner.invoke(cli, ["--threads", "0", "list"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["list", "--json"], env={"LVC_THREADS": "lots"})
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "LVC_THREADS='lots'" in result.output
    before = os.environ.get(threads.ENV)
    try:
        assert runner.invoke(cli, ["--threads", "1", "list", "--json"]).exit_code == 0
        assert os.environ[threads.ENV] == "1"  # worker processes inherit it
    finally:
        if before is None:
            os.environ.pop(threads.ENV, None)
        else:
            os.environ[threads.ENV] = before


def test_dataloader_workers_share_the_cores(tmp_path):
    torch = pytest.importorskip("torch")
    from lvc.data import LVCDataset

    for i in range(4):
        (tmp_path / f"{i}.lvc").write_bytes(lvc.encode(np.full((8, 8, 3), i, np.uint8)))
    ds = LVCDataset(tmp_path, transform=lambda x: torch.get_num_threads())
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    limit = max(1, threads.available_cores() // 2)
    assert all(1 <= n <= limit for n in loader)
