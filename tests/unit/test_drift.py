"""The drift rule: apply on the recorded base unless the base branch changed a touched file."""

from proposals.drift import COMPARE_FILE_CAP, Comparison, comparison_from, decide

BASE, HEAD = "b" * 40, "h" * 40


def ahead(*files: str, complete: bool = True) -> Comparison:
    return Comparison("ahead", frozenset(files), complete)


def test_an_unmoved_branch_is_no_drift() -> None:
    drift = decide({"a.py"}, BASE, BASE, None)
    assert not drift.stale and drift.reason == "none"


def test_changes_to_untouched_files_leave_the_proposal_valid() -> None:
    drift = decide({"a.py"}, BASE, HEAD, ahead("README.md", "docs/x.md"))
    assert not drift.stale and drift.reason == "untouched" and drift.changed_elsewhere == 2
    assert drift.head == HEAD


def test_a_change_to_a_touched_file_makes_the_proposal_stale_and_names_it() -> None:
    drift = decide({"a.py", "b.py"}, BASE, HEAD, ahead("b.py", "README.md"))
    assert drift.stale and drift.reason == "touched" and drift.files == ("b.py",)


def test_a_rename_on_the_base_branch_counts_on_both_names() -> None:
    payload = {
        "status": "ahead",
        "files": [{"filename": "new.py", "previous_filename": "a.py", "status": "renamed"}],
    }
    drift = decide({"a.py"}, BASE, HEAD, comparison_from(payload))
    assert drift.stale and drift.files == ("a.py",)


def test_a_rewritten_base_branch_is_stale_even_without_touched_files() -> None:
    for status in ("diverged", "behind"):
        drift = decide({"a.py"}, BASE, HEAD, Comparison(status, frozenset(), True))
        assert drift.stale and drift.reason == "rewritten"


def test_a_capped_file_list_is_stale_because_we_cannot_see_everything() -> None:
    files = [{"filename": f"f{i}.py"} for i in range(COMPARE_FILE_CAP)]
    comparison = comparison_from({"status": "ahead", "files": files})
    assert not comparison.complete
    drift = decide({"a.py"}, BASE, HEAD, comparison)
    assert drift.stale and drift.reason == "unknown"
