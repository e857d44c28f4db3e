import io
import os
import re
import stat
import tarfile
from pathlib import PurePosixPath

import pytest
import respx

from bot.core.errors import GitHubUnavailable, UnsafeSnapshot
from bot.core.settings import Settings
from bot.worker.checkout import (
    Member,
    MemberKind,
    archive_prefix,
    commit_base,
    diff_against_base,
    give_agent_a_repository,
    link_stays_inside,
    plan_extraction,
    relative_member_path,
    remove_tree,
    take_snapshot,
    unpack,
)
from tests.runner_support import (
    INSTALLATION,
    OWNER,
    REPO,
    git,
    github_factory,
    mock_github,
    sample_repository,
    tarball,
)

P = "octo-shop-abc1234"


def f(name, **kw):
    return Member(f"{P}/{name}" if name else P, kw.pop("kind", MemberKind.FILE), **kw)


def build_tar_gz(entries):
    """entries: (name, kind, payload) with payload = bytes for files, target for links."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "hard": tarfile.LNKTYPE,
                "chr": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("sym", "hard"):
                info.linkname = payload
            tar.addfile(info)
    return out.getvalue()


# -- pure rules ---------------------------------------------------------------------------


def test_the_prefix_is_the_one_top_level_folder():
    assert archive_prefix([P, f"{P}/a.py", f"{P}/pkg/b.py"]) == P


def test_an_archive_with_two_top_level_folders_is_refused():
    with pytest.raises(UnsafeSnapshot, match="one top-level folder"):
        archive_prefix([f"{P}/a.py", "other/b.py"])


def test_member_paths_lose_the_prefix():
    assert relative_member_path(f"{P}/pkg/a.py", P) == PurePosixPath("pkg/a.py")
    assert relative_member_path(P, P) is None


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("/etc/passwd", "absolute"),
        (f"{P}/../escape.py", "'..'"),
        (f"{P}/pkg/../../escape.py", "'..'"),
        (f"{P}/.git/config", ".git"),
        (f"{P}/sub/.git/hooks/post-checkout", ".git"),
        (f"{P}/.GIT/config", ".git"),
        ("elsewhere/a.py", "outside the folder"),
    ],
)
def test_member_paths_that_could_escape_or_plant_git_files_are_refused(name, rule):
    with pytest.raises(UnsafeSnapshot, match=re.escape(rule)):
        relative_member_path(name, P)


@pytest.mark.parametrize(
    ("link", "target", "inside"),
    [
        ("a", "b", True),
        ("pkg/a", "../b", True),
        ("pkg/a", "../../b", False),
        ("a", "../b", False),
        ("a", "/etc/passwd", False),
        ("pkg/sub/a", "../x/../../y", True),
        ("pkg/sub/a", "../../../y", False),
        ("a", "", False),
        ("a", ".", True),
    ],
)
def test_a_link_is_inside_only_if_its_target_stays_below_the_root(link, target, inside):
    assert link_stays_inside(PurePosixPath(link), target) is inside


def test_the_plan_strips_the_prefix_and_keeps_order_and_exec_bits():
    plan = plan_extraction(
        [
            f(""),
            f("pkg", kind=MemberKind.DIR),
            f("pkg/run.sh", mode=0o755),
            f("pkg/a.py"),
            f("link", kind=MemberKind.SYMLINK, linkname="pkg/a.py"),
        ]
    )
    assert [str(p.path) for p in plan] == ["pkg", "pkg/run.sh", "pkg/a.py", "link"]
    assert [p.executable for p in plan] == [False, True, False, False]


def test_device_files_and_fifos_are_refused():
    with pytest.raises(UnsafeSnapshot, match="device or a fifo"):
        plan_extraction([f(""), f("dev", kind=MemberKind.OTHER)])


def test_a_member_that_appears_twice_is_refused():
    with pytest.raises(UnsafeSnapshot, match="appears twice"):
        plan_extraction([f("a.py"), f("a.py")])


def test_a_file_replacing_an_implied_folder_is_refused():
    with pytest.raises(UnsafeSnapshot, match="appears twice"):
        plan_extraction([f("pkg/a.py"), f("pkg")])


def test_a_file_below_a_file_is_refused():
    with pytest.raises(UnsafeSnapshot, match="below a file"):
        plan_extraction([f("a"), f("a/b")])


def test_a_link_pointing_outside_is_refused():
    with pytest.raises(UnsafeSnapshot, match="points outside"):
        plan_extraction([f("evil", kind=MemberKind.SYMLINK, linkname="../../etc/passwd")])


def test_writing_through_a_link_is_refused_even_when_each_link_looks_harmless():
    # `x -> .` is inside, and `x/y -> ..` looks inside lexically, but through x it is ../
    with pytest.raises(UnsafeSnapshot, match="below a link"):
        plan_extraction(
            [
                f("x", kind=MemberKind.SYMLINK, linkname="."),
                f("x/y", kind=MemberKind.SYMLINK, linkname=".."),
            ]
        )


def test_a_hard_link_must_point_at_an_earlier_file_of_the_repository():
    ok = plan_extraction([f("a.py"), f("b.py", kind=MemberKind.HARDLINK, linkname=f"{P}/a.py")])
    assert ok[1].linkname == "a.py"
    with pytest.raises(UnsafeSnapshot, match="absolute"):
        plan_extraction([f("b.py", kind=MemberKind.HARDLINK, linkname="/etc/shadow")])
    with pytest.raises(UnsafeSnapshot, match="hard link"):
        plan_extraction([f("b.py", kind=MemberKind.HARDLINK, linkname=f"{P}/later.py")])


def test_an_empty_archive_plans_nothing():
    assert plan_extraction([]) == []


# -- unpacking ----------------------------------------------------------------------------


def test_unpack_writes_files_links_and_modes(tmp_path):
    archive = build_tar_gz(
        [
            (P, "dir", None),
            (f"{P}/pkg/a.py", "file", b"print('a')\n"),
            (f"{P}/link.py", "sym", "pkg/a.py"),
            (f"{P}/copy.py", "hard", f"{P}/pkg/a.py"),
        ]
    )
    dest = tmp_path / "work"
    dest.mkdir()
    assert unpack(archive, dest) == 2
    assert (dest / "pkg" / "a.py").read_text() == "print('a')\n"
    assert os.readlink(dest / "link.py") == "pkg/a.py"
    assert (dest / "copy.py").read_bytes() == b"print('a')\n"
    assert not (dest / P).exists()


@pytest.mark.parametrize(
    "entries",
    [
        [(f"{P}/../outside.txt", "file", b"pwned")],
        [(f"{P}/link", "sym", "../../outside.txt"), (f"{P}/link2", "file", b"x")],
        [(f"{P}/x", "sym", "."), (f"{P}/x/y", "sym", ".."), (f"{P}/x/y/outside.txt", "file", b"p")],
        [(f"{P}/dev", "chr", None)],
        [(f"{P}/pipe", "fifo", None)],
    ],
    ids=["dotdot", "link-out", "link-chain", "device", "fifo"],
)
def test_unpack_refuses_unsafe_archives_before_writing_anything(tmp_path, entries):
    dest = tmp_path / "a" / "work"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeSnapshot):
        unpack(build_tar_gz(entries), dest)
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["work"]


def test_a_corrupt_download_is_a_retryable_github_error(tmp_path):
    archive = build_tar_gz([(f"{P}/a.py", "file", b"x" * 10_000)])
    with pytest.raises(GitHubUnavailable) as caught:
        unpack(archive[: len(archive) // 2], tmp_path)
    assert caught.value.retryable


def test_an_archive_over_the_size_limit_is_refused(tmp_path):
    archive = build_tar_gz([(f"{P}/big.bin", "file", b"x" * 5000)])
    with pytest.raises(UnsafeSnapshot, match="over the limit"):
        unpack(archive, tmp_path, max_bytes=1000)


# -- the scratch repository ---------------------------------------------------------------


def snapshot_of(tmp_path, files, name="s"):
    root = tmp_path / name
    work = root / "work"
    for path, content in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    work.mkdir(parents=True, exist_ok=True)
    return commit_base(root, "f" * 40)


def test_the_same_tree_always_gives_the_same_base_commit(tmp_path):
    files = {"a.py": b"x = 1\n", "pkg/b.py": b"y = 2\n"}
    assert (
        snapshot_of(tmp_path, files, "one").base_commit
        == snapshot_of(tmp_path, files, "two").base_commit
    )


def test_the_diff_shows_what_the_agent_changed_added_and_deleted(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n", "gone.py": b"old\n"})
    (snap.work / "a.py").write_text("x = 2\n")
    (snap.work / "new.py").write_text("new\n")
    (snap.work / "gone.py").unlink()
    diff = diff_against_base(snap).decode()
    assert "-x = 1\n+x = 2\n" in diff
    assert "diff --git a/new.py b/new.py\nnew file mode 100644" in diff
    assert "diff --git a/gone.py b/gone.py\ndeleted file mode 100644" in diff


def test_no_change_gives_an_empty_diff(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"})
    assert diff_against_base(snap) == b""


def test_the_diff_ignores_what_the_agent_did_to_its_own_git(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"})
    give_agent_a_repository(snap)
    env_git = ["-c", "user.name=a", "-c", "user.email=a@b"]
    (snap.work / "a.py").write_text("x = 2\n")
    git(snap.work, *env_git, "commit", "-qam", "agent commit")
    git(snap.work, "checkout", "-q", "--orphan", "elsewhere")
    git(snap.work, "rm", "-q", "--cached", "-r", ".")
    diff = diff_against_base(snap).decode()
    assert "-x = 1\n+x = 2\n" in diff
    assert ".git" not in diff


def test_the_agent_gets_a_clean_repository_at_the_base(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"})
    give_agent_a_repository(snap)
    assert git(snap.work, "status", "--porcelain") == ""
    assert git(snap.work, "rev-parse", "HEAD") == snap.base_commit


def test_bytes_are_kept_exactly_whatever_gitattributes_says(tmp_path):
    crlf = b"line one\r\nline two\r\n"
    snap = snapshot_of(
        tmp_path,
        {".gitattributes": b"* text=auto eol=lf\n*.txt filter=evil\n", "a.txt": crlf},
    )
    (snap.work / "a.txt").write_bytes(crlf.replace(b"two", b"2"))
    diff = diff_against_base(snap)
    assert b"-line two\r\n+line 2\r\n" in diff


def test_files_ignored_upstream_but_committed_are_in_the_base(tmp_path):
    snap = snapshot_of(tmp_path, {".gitignore": b"*.cfg\n", "app.cfg": b"a=1\n"})
    (snap.work / "app.cfg").write_text("a=2\n")
    assert b"+a=2" in diff_against_base(snap)


def test_tool_leftovers_like_bytecode_are_not_proposed(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"})
    (snap.work / "__pycache__").mkdir()
    (snap.work / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0\1")
    (snap.work / ".pytest_cache").mkdir()
    (snap.work / ".pytest_cache" / "x").write_text("x")
    assert diff_against_base(snap) == b""


def test_binary_changes_come_as_binary_patches(tmp_path):
    snap = snapshot_of(tmp_path, {"logo.bin": b"\0\1\2"})
    (snap.work / "logo.bin").write_bytes(b"\0\1\3")
    assert b"GIT binary patch" in diff_against_base(snap)


def test_remove_tree_removes_folders_an_agent_made_read_only(tmp_path):
    root = tmp_path / "scratch"
    locked = root / "work" / "locked"
    locked.mkdir(parents=True)
    (locked / "f").write_text("x")
    os.chmod(locked / "f", 0o400)
    os.chmod(locked, stat.S_IRUSR | stat.S_IXUSR)
    remove_tree(root)
    assert not root.exists()


# -- download -----------------------------------------------------------------------------


def test_take_snapshot_follows_githubs_redirect_and_commits_the_tree(tmp_path, rsa_private_key_pem):
    settings = Settings(
        github_api_url="http://github.test/api/v3",
        github_app_id=1,
        github_private_key=rsa_private_key_pem,
        _env_file=None,
    )
    repository, sha = sample_repository(tmp_path / "origin")
    with respx.mock(assert_all_called=True) as router:
        routes = mock_github(router, tarball(repository, sha), sha)
        client = github_factory(settings)(INSTALLATION)
        snap = take_snapshot(client, OWNER, REPO, sha, tmp_path / "scratch")
    assert routes["tarball"].call_count == 1
    assert routes["codeload"].call_count == 1
    assert "authorization" not in routes["codeload"].calls.last.request.headers
    assert (snap.work / "inventory" / "pricing.py").read_text() == (
        repository / "inventory" / "pricing.py"
    ).read_text()
    assert snap.base_sha == sha
    assert diff_against_base(snap) == b""
