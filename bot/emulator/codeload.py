"""The codeload host: where a tarball redirect lands.

Like GitHub's signed codeload URLs it needs no ``Authorization``: the unguessable token in
the query string is the credential. A token is bound to one repository and commit and
expires after ``codeload_lifetime_seconds`` (five minutes, as for private repositories);
anything else answers 404. The archive is ``git archive --format=tar.gz`` with the
top-level directory ``<owner>-<repo>-<sha7>/``, as GitHub names it.
"""

from fastapi import APIRouter, Response

from bot.emulator.deps import Em
from bot.emulator.errors import not_found

router = APIRouter()


@router.get("/codeload/{owner}/{repo}/legacy.tar.gz/{sha}")
def download(em: Em, owner: str, repo: str, sha: str, token: str = "") -> Response:
    with em.lock:
        link = em.codeloads.get(token)
        record = em.repo(owner, repo)
        valid = (
            link is not None
            and record is not None
            and link.sha == sha
            and (link.owner, link.repo) == (record.owner, record.name)
            and link.expires_at > em.now()
        )
        if not valid or record is None:
            raise not_found()
        prefix = f"{record.owner}-{record.name}-{sha[:7]}"
        git = record.git
    # Objects are immutable, so the archive is built outside the lock.
    data = git.archive(sha, prefix + "/")
    return Response(
        content=data,
        media_type="application/x-gzip",
        headers={"content-disposition": f"attachment; filename={prefix}.tar.gz"},
    )
