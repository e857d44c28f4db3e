"""FastAPI dependencies shared by the API routers: the emulator, URLs, the calling App.

``RepoCall`` is what every repository route receives: the token checked, the repository
found and covered by the token's installation (404 otherwise, as GitHub hides what a token
cannot see), and the rate-limit switches consulted, in that order.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from bot.emulator.auth import installation_from_token
from bot.emulator.dispatch import Dispatcher
from bot.emulator.errors import not_found
from bot.emulator.outage import Outage
from bot.emulator.ratelimit import RateLimiter
from bot.emulator.render import Urls
from bot.emulator.state import App, Emulator, Installation, Repo


def get_emulator(request: Request) -> Emulator:
    em: Emulator = request.app.state.emulator
    return em


def get_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


def get_outage(request: Request) -> Outage:
    outage: Outage = request.app.state.outage
    return outage


def get_urls(request: Request) -> Urls:
    return Urls.of(request)


Em = Annotated[Emulator, Depends(get_emulator)]
UrlsDep = Annotated[Urls, Depends(get_urls)]
Dispatch = Annotated[Dispatcher, Depends(get_dispatcher)]


@dataclass(frozen=True)
class RepoCall:
    em: Emulator
    urls: Urls
    repo: Repo
    installation: Installation
    app: App


def repo_call(request: Request, owner: str, repo: str) -> RepoCall:
    em = get_emulator(request)
    with em.lock:
        installation = installation_from_token(em, request.headers.get("authorization"))
        record = em.repo(owner, repo)
        if record is None or record.owner.lower() != installation.account.lower():
            raise not_found()
        app = em.apps[installation.app_id]
    get_limiter(request).check(request.method, installation.id)
    return RepoCall(em, Urls.of(request), record, installation, app)


Call = Annotated[RepoCall, Depends(repo_call)]
