"""cgroup v2 limits, on a folder laid out as cgroupfs (this kernel's cgroupfs may be v1)."""

from pathlib import Path

import pytest

from bot.sandbox import cgroups
from bot.sandbox.cgroups import AgentCgroups, RunCgroup
from bot.sandbox.limits import Limits


@pytest.fixture
def cgroupfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setattr(cgroups, "_delegated", None)
    monkeypatch.setattr(cgroups, "RMDIR_TRIES", 1)
    mount = tmp_path / "cgroup"
    own = mount / "system.slice" / "farcaster.service"
    own.mkdir(parents=True)
    (mount / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma\n")
    (own / "cgroup.subtree_control").write_text("")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/system.slice/farcaster.service\n")
    return mount, self_cgroup


def test_the_worker_moves_to_a_leaf_and_its_cgroup_hands_memory_and_pids_down(cgroupfs):
    mount, self_cgroup = cgroupfs
    assert cgroups.delegate(mount, self_cgroup)
    own = mount / "system.slice" / "farcaster.service"
    assert (own / "farcaster-worker" / "cgroup.procs").read_text().isdigit()
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert cgroups.delegated() == AgentCgroups(own)


def test_no_cgroup_v2_with_memory_means_none(cgroupfs):
    mount, self_cgroup = cgroupfs
    (mount / "cgroup.controllers").write_text("cpu io\n")
    assert not cgroups.delegate(mount, self_cgroup)
    assert not cgroups.delegate(mount / "absent", self_cgroup)  # cgroup v1: no such file
    assert cgroups.delegated() is None


def test_a_run_gets_its_own_cgroup_with_the_limits(cgroupfs):
    mount, _ = cgroupfs
    parent = mount / "system.slice" / "farcaster.service"
    with AgentCgroups(parent).for_run(Limits(memory_bytes=123456, processes=77)) as run:
        assert run is not None
        assert (run.path / "memory.max").read_text() == "123456"
        assert (run.path / "memory.swap.max").read_text() == "0"
        assert (run.path / "pids.max").read_text() == "77"
        assert (run.path / "memory.oom.group").read_text() == "1"
        assert run.join_argv()[-1] == str(run.path / "cgroup.procs")


def test_the_kernels_counters_name_the_limit(tmp_path):
    run = RunCgroup(tmp_path)
    assert run.limit_hit() is None
    (tmp_path / "pids.events").write_text("max 3\n")
    assert run.limit_hit() == "agent_process_limit"
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
    assert run.limit_hit() == "agent_memory_limit"


def test_a_parent_that_refuses_a_child_cgroup_means_rlimits(tmp_path):
    with AgentCgroups(tmp_path / "missing").for_run(Limits()) as run:
        assert run is None
