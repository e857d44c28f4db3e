"""A hostile agent that plants the server's secrets in its change: refused, and no trace kept."""

import json
import re
import sys
from pathlib import Path

import pytest

from bot.core.records import JobState
from bot.emulator.world import BOT_LOGIN, WEBHOOK_SECRET, World

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Made up, shaped like a classic personal access token.
PLANTED_TOKEN = "ghp_" + "Q7w" * 12


def planter_agents_file(box: World) -> Path:
    key_line = box.key_path.read_text().splitlines()[3]
    leak = f"x = 1\nHOOK = {WEBHOOK_SECRET!r}\nTOKEN = {PLANTED_TOKEN!r}\nKEY = {key_line!r}\n"
    # The values sit in the agents file (the operator's, outside the store and the logs),
    # and the agent prints them too: its log must be redacted wherever it goes.
    code = f"print({leak!r}); open('leak.py', 'w').write({leak!r})"
    path = box.root / "agents.toml"
    argv = json.dumps([sys.executable, "-c", code])  # a JSON array is a TOML array
    path.write_text(f"[agents.planter]\nargv = {argv}\n")
    return path


def files_holding(root: Path, values: list[str]) -> dict[str, list[str]]:
    """Every database and log file under ``root`` that holds one of ``values``."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and (".db" in path.name or path.suffix == ".log"):
            data = path.read_bytes()
            held = [value for value in values if value.encode() in data]
            if held:
                found[str(path.relative_to(root))] = held
    return found


def test_planted_secrets_are_refused_and_found_in_neither_the_database_nor_the_logs(
    box: World,
) -> None:
    box.start_server(workers=1, env={"FARCASTER_AGENTS_FILE": str(planter_agents_file(box))})
    number = box.open_issue("plant secrets")
    box.comment(number, "/farcaster run planter leave something behind")
    job = box.wait_for_state(box.only_job().id, JobState.TOMBSTONED, JobState.DONE, timeout=60)
    assert job.state is JobState.TOMBSTONED
    box.wait_for_outbox()
    tombstone = box.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "secret_in_diff"
    summary = tombstone.summary
    assert "`leak.py` line 2 (this server's webhook secret)" in summary
    assert "`leak.py` line 3 (a GitHub token)" in summary
    assert "`leak.py` line 4 (a line of this server's GitHub App private key)" in summary
    assert box.store.latest_proposal(job.id) is None
    comments = box.github_client().list_issue_comments(box.owner, box.repo, number)
    (report,) = [c["body"] for c in comments if c["user"]["login"] == BOT_LOGIN]
    assert "leak.py" in report
    assert box.state()["farcaster_branches"] == {} and box.state()["pulls"]["total"] == 0

    box.stop_processes()  # the logs are complete, the database quiet
    key_line = box.key_path.read_text().splitlines()[3]
    secrets = [WEBHOOK_SECRET, PLANTED_TOKEN, key_line]
    for text in (summary, report):
        assert not [value for value in secrets if value in text]
    assert list(box.root.glob("*.db")), "the SQLite database file is where we look"
    assert list(box.root.glob("*.log")), "the process logs are where we look"
    assert files_holding(box.root, secrets) == {}
    # httpx logs the tarball's signed redirect URL at INFO: its token is redacted.
    logs = "".join(path.read_text(errors="replace") for path in box.root.rglob("*.log"))
    assert "token=[REDACTED]" in logs
    assert set(re.findall(r"[?&]token=([^&\s\"]+)", logs)) == {"[REDACTED]"}


def filter_planter_agents_file(box: World, marker: Path) -> Path:
    # Every git configuration the agent might reach; with the sandbox, ../base.git is out
    # of reach (a read-only error, ignored here), and the work tree's .git is its own.
    code = (
        "import os\n"
        "for git_dir in ('../base.git', '.git'):\n"
        "    try:\n"
        "        open(git_dir + '/config', 'a').write("
        f'\'[filter "evil"]\\n\\tclean = "touch {marker}; cat"\\n\')\n'
        "        os.makedirs(git_dir + '/info', exist_ok=True)\n"
        "        open(git_dir + '/info/attributes', 'w').write('* filter=evil\\n')\n"
        "    except OSError as exc:\n"
        "        print('refused:', exc)\n"
        "open('.gitattributes', 'w').write('* filter=evil\\n')\n"
        "open('README.md', 'a').write('changed\\n')\n"
    )
    argv = json.dumps([sys.executable, "-c", code])
    path = box.root / "agents.toml"
    path.write_text(f"[agents.filterer]\nargv = {argv}\n")
    return path


def test_a_clean_filter_planted_in_any_git_config_never_runs(box: World) -> None:
    marker = box.root / "the-filter-ran"
    agents = filter_planter_agents_file(box, marker)
    box.start_server(workers=1, env={"FARCASTER_AGENTS_FILE": str(agents)})
    number = box.open_issue("plant a filter")
    box.comment(number, "/farcaster run filterer plant a filter")
    job = box.wait_for_state(box.only_job().id, JobState.TOMBSTONED, JobState.DONE, timeout=60)
    assert job.state is JobState.TOMBSTONED
    tombstone = box.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "git_dir"
    assert "`.git/config`" in tombstone.summary
    assert not marker.exists()
    assert box.state()["farcaster_branches"] == {}
