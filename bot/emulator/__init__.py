"""A local GitHub emulator: exactly the REST subset Farcaster uses, stateful and real.

GitHub is out of reach from our machines; the end-to-end suite and ``make demo`` run the
real server and workers against this emulator instead. It is a FastAPI app
(:func:`create_app`) served by uvicorn (``farcaster emulator``), with:

- **Real App authentication.** ``POST /app/installations/{id}/access_tokens`` verifies the
  RS256 JWT against the App's *public* key (``iss``, ``exp``, ``iat`` checked) and issues
  ``ghs_`` tokens that expire; every other API route wants ``Authorization: token ...``.
- **Real git.** Each repository is a bare repository on disk; blobs, trees, commits and refs
  go through git plumbing, so every SHA is git's and identical inputs give identical SHAs.
- **GitHub's answers.** Paths, status codes, JSON field names and error bodies as GitHub's
  REST docs give them (``{"message": ..., "documentation_url": ..., "status": ...}``).
- **An admin API** under ``/_emulator/`` to set the world up, act as humans (comments that
  deliver signed webhooks), bend it (rate limits, the clock) and count effects from outside.

URLs (``BASE`` is what ``farcaster emulator`` prints, e.g. ``http://127.0.0.1:PORT``)::

    BASE/api/v3/...        GitHub REST (GHES style): FARCASTER_GITHUB_API_URL=BASE/api/v3
    BASE/codeload/...      tarball downloads (the 302 target; token in the URL, no auth)
    BASE/settings/apps/new the App-manifest page (GitHub's web flow)
    BASE/_emulator/...     the admin API (no auth; listen on loopback)

GitHub routes served (all under ``/api/v3``)::

    POST  /app/installations/{id}/access_tokens         JWT -> 201 {token, expires_at, ...}
    GET   /app                                          JWT
    GET/PATCH /app/hook/config                      JWT; {url, secret: "********", ...}
    GET   /app/hook/deliveries?per_page=&cursor=&status= JWT; newest first, Link rel="next"
    GET   /app/hook/deliveries/{id}                     JWT; + url, request, response
    POST  /app/hook/deliveries/{id}/attempts            JWT -> 202 {}; redelivered in the
                                                        background (see api_hooks.py)
    GET   /repos/{o}/{r}/installation                   JWT
    POST  /app-manifests/{code}/conversions             no auth -> 201 {id, slug, pem, ...}
    GET   /repos/{o}/{r}
    GET   /repos/{o}/{r}/git/ref/heads/{branch}         404 Not Found if missing
    POST  /repos/{o}/{r}/git/refs                       422 Reference already exists
    PATCH /repos/{o}/{r}/git/refs/heads/{branch}        422 Update is not a fast forward
    DELETE /repos/{o}/{r}/git/refs/heads/{branch}       204; 422 Reference does not exist
    GET   /repos/{o}/{r}/git/blobs/{sha}   POST .../git/blobs (utf-8 or base64)
    GET   /repos/{o}/{r}/git/trees/{sha}?recursive=1   POST .../git/trees (base_tree; sha null
                                                        deletes; sha or content per entry)
    GET   /repos/{o}/{r}/git/commits/{sha} POST .../git/commits (author/committer dates kept)
    GET   /repos/{o}/{r}/compare/{base}...{head}        files[].filename/status/...
    GET   /repos/{o}/{r}/tarball/{ref}                  302 -> BASE/codeload/... (tar.gz,
                                                        top directory <owner>-<repo>-<sha7>/)
    GET   /repos/{o}/{r}/pulls?head=owner:branch&state=all|open|closed
    POST  /repos/{o}/{r}/pulls                          422 "A pull request already exists..."
    GET   /repos/{o}/{r}/pulls/{n}                      labels, requested_reviewers/_teams
    GET   /repos/{o}/{r}/pulls/{n}/commits              oldest first, at most 250 in all
    GET   /repos/{o}/{r}/pulls/{n}/files                filename, status, patch... (3000 max)
    GET   /repos/{o}/{r}/pulls/{n}/comments             review comments (per_page, page)
    GET   /repos/{o}/{r}/pulls/comments/{id}
    POST  /repos/{o}/{r}/pulls/{n}/comments/{id}/replies {body} -> 201; 422 for a reply
    POST  /repos/{o}/{r}/pulls/{n}/requested_reviewers  {reviewers, team_reviewers} -> 201;
                                                        422 author or non-collaborator
    POST  /repos/{o}/{r}/issues/{n}/labels              {labels} -> 200 the issue's labels
    GET/POST /repos/{o}/{r}/issues/{n}/comments         (per_page, page)
    GET/PATCH /repos/{o}/{r}/issues/comments/{id}
    POST  /repos/{o}/{r}/issues/comments/{id}/reactions 201 new, 200 already there
    POST  /repos/{o}/{r}/check-runs    GET/PATCH .../check-runs/{id}
    GET   /repos/{o}/{r}/commits/{ref}/check-runs?check_name=   {total_count, check_runs}
    GET   /repos/{o}/{r}/collaborators/{user}/permission        {permission, role_name, user}

Every ``/api/v3`` response carries ``x-ratelimit-limit/remaining/reset/used/resource``.

Admin API (JSON in, JSON out; errors use GitHub's shape)::

    GET   /_emulator/                       readiness probe: {emulator, web_url, api_url}
    POST  /_emulator/apps                   {app_id?, name?, slug?, owner?, public_key_pem? |
                                             private_key_pem?, webhook_url?, webhook_secret?,
                                             permissions?, events?} -> the App (+
                                             private_key_pem when the emulator made the key)
    PATCH /_emulator/apps/{id}              {webhook_url?, webhook_secret?}
    POST  /_emulator/installations          {app_id, account, installation_id?, deliver?}
                                             (deliver: installation.created to the App)
    DELETE /_emulator/installations/{id}?user=  uninstall: installation.deleted; its tokens
                                             answer 401, minting one 404
    POST  /_emulator/app-manifests          {manifest, owner?} -> {code}
    POST  /_emulator/repos                  {owner, name, files? | folder?, default_branch?,
                                             private?, owner_type? ("Organization"), message?,
                                             author?} -> {repository, head, git_dir}
    POST  /_emulator/repos/{o}/{r}/commits  a human's push: {branch, files, message?, user?,
                                             from?, force?, author?} -> {sha, tree, branch,
                                             parent, before, delivery} (push)
    DELETE /_emulator/repos/{o}/{r}/branches/{b}?user=  a human deletes a branch (push,
                                             deleted: true)
    GET   /_emulator/repos/{o}/{r}/files?ref=  {ref, sha, files: {path: text}}
    PUT   /_emulator/repos/{o}/{r}/collaborators/{user}  {permission: admin|maintain|write|
                                             triage|read|none}
    POST  /_emulator/repos/{o}/{r}/issues   {title, body?, user?}
    POST  /_emulator/repos/{o}/{r}/pulls    a human's PR: {head, base?, title, body?, user?,
                                             deliver? (true)} -> the PR + delivery
                                             (pull_request.opened)
    POST  /_emulator/repos/{o}/{r}/pulls/{n}/reopen     {user?} -> {pull_request, delivery}
                                             (pull_request.reopened; 422 when merged)
    POST  /_emulator/repos/{o}/{r}/issues/{n}/comments  {user, body, author_association?,
                                             deliver? (true)} -> {comment, delivery}
    POST  /_emulator/repos/{o}/{r}/pulls/{n}/close      {user?, merge?} -> {pull_request,
                                             delivery (pull_request.closed), push_delivery
                                             (a merge's push to the base, sent first)}
    POST  /_emulator/repos/{o}/{r}/pulls/{n}/review-comments  {user, body, path, line,
                                             side?, start_line?, start_side?, commit_id?,
                                             in_reply_to?} -> {comment, delivery}
                                             (pull_request_review_comment.created; 422 off
                                             the diff, see reviews.py)
    POST  /_emulator/repos/{o}/{r}/check-runs/{id}/rerequest {user?} -> {delivery}
                                             (check_run.rerequested, to the run's App only)
    GET   /_emulator/deliveries?event=&action=   every delivery and its attempts
    GET   /_emulator/deliveries/{id}        each App's copy, with the exact payload
    POST  /_emulator/deliveries/{id}/redeliver   same id, same bytes -> delivery summary
    GET   /_emulator/hook-deliveries?app_id=&status=  every attempt, as the API lists it
    POST  /_emulator/deliveries/drain       {timeout?}: wait for background deliveries
    POST  /_emulator/rate-limit             {kind: secondary|primary, count, retry_after}, or
                                             {kind: content, per_minute? (80), per_hour?
                                             (500), enabled?}: GitHub's content-creation
                                             limit, enforced (see ratelimit.py)
    POST  /_emulator/outage                 {seconds? | count?, status? (502)}: the API
                                             answers 5xx, webhooks still go out (outage.py)
    POST  /_emulator/tokens/revoke          {installation_id?}: every token answers 401
                                             Bad credentials from now on (a GitHub reset)
    POST  /_emulator/clock                  {offset_seconds? | advance_seconds?}
    POST  /_emulator/settings               {sign_commits: bool}: the App's commits get a
                                             gpgsig header, so identical inputs no longer
                                             give identical SHAs (GitHub may sign them);
                                             {deliver_own_events: bool}: the App's own
                                             comments, PRs and check runs deliver their
                                             webhooks, as on GitHub (own_events.py)
    GET   /_emulator/journal?method=&path=&contains=&status=&since=&limit=
                                             {entries: [{seq, time, method, path, query,
                                             status, duration_ms, summary}], last_seq}
    GET   /_emulator/state                  counts per repository (see census.py)
    GET   /_emulator/repos/{o}/{r}/issues/{n}/comments   comments with their edit history
    GET   /_emulator/repos/{o}/{r}/issues/comments/{id}  one comment, with its history
    GET   /_emulator/repos/{o}/{r}/ref-log?ref=   every ref move: before, after, forced, by,
                                             via (api | push | merge), at (admin_history.py)

A delivery summary is ``{"id": <X-GitHub-Delivery>, "event", "action", "status": <the HTTP
status the App's server answered, or null if unreachable>, "results": [{"app_id", "url",
"status", "error"}]}``; webhooks are delivered synchronously, before the admin call returns.

Known differences from GitHub: state lives in memory (only the git repositories are on
disk), so a restarted emulator starts empty; of the App's own API actions only ref
changes deliver webhooks by default (``push``, sent in the background as GitHub does);
its comments, PRs and check runs deliver theirs only with ``deliver_own_events``; one
installation covers every repository of its account; any login exists (permission
``read`` on a public repository, ``none`` on a private one, unless set). Error sentences
beyond the ones named above are modelled on GitHub's, not copied from it.

:mod:`bot.emulator.control` has ``EmulatorControl`` (a client of the admin API) and
``start_emulator_process``; :mod:`bot.emulator.serve` has ``EmulatorThread`` for in-process
use.
"""

from bot.emulator.app import create_app
from bot.emulator.state import EmulatorConfig

__all__ = ["EmulatorConfig", "create_app"]
