"""GitHub's error bodies, and the handlers that make every failure look like GitHub's.

GitHub answers errors as ``{"message": ..., "documentation_url": ..., "status": "<code>"}``,
adding ``"errors": [...]`` to a 422 "Validation Failed". Unknown routes answer 404
``Not Found`` and unparsable JSON 400 ``Problems parsing JSON``, never FastAPI's
``{"detail": ...}``.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """Raise from a route to answer with GitHub's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        documentation_url: str = DOCS,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.documentation_url = documentation_url
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body["documentation_url"] = self.documentation_url
        body["status"] = str(self.status)
        return body


def not_found(documentation_url: str = DOCS) -> ApiError:
    return ApiError(404, "Not Found", documentation_url=documentation_url)


def bad_credentials() -> ApiError:
    return ApiError(401, "Bad credentials")


def unprocessable(message: str, documentation_url: str = DOCS) -> ApiError:
    return ApiError(422, message, documentation_url=documentation_url)


def validation_failed(*errors: dict[str, Any], documentation_url: str = DOCS) -> ApiError:
    return ApiError(
        422, "Validation Failed", errors=list(errors), documentation_url=documentation_url
    )


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "Not Found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(ApiError(exc.status_code, message).body(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        kinds = {str(err.get("type", "")) for err in exc.errors()}
        if kinds & {"json_invalid", "model_attributes_type", "dict_type"}:
            return JSONResponse(ApiError(400, "Problems parsing JSON").body(), status_code=400)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ())[1:])}: {err.get('msg')}"
            for err in exc.errors()
        )
        return JSONResponse(ApiError(422, f"Invalid request.\n\n{detail}").body(), status_code=422)
