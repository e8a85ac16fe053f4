"""The JSON API under /api/v1/: one router per app, errors as {"detail": "..."}."""

from csp.decorators import csp_update
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from atalaia.accounts.apiauth import AUTH
from atalaia.catalog.api import router as catalog_router
from atalaia.comms.api import router as comms_router
from atalaia.incidents.actions import IncidentError
from atalaia.incidents.api import router as incidents_router
from atalaia.incidents.lifecycle import IllegalMove
from atalaia.intake.actions import SignalError
from atalaia.intake.api import router as intake_router
from atalaia.lib import jsondoc
from atalaia.lib.yamldoc import DocumentError, LimitError
from atalaia.monitoring.api import router as monitoring_router
from atalaia.oncall.api import router as oncall_router
from atalaia.plans.api import router as plans_router
from atalaia.remote.api import router as remote_router
from atalaia.review.api import router as review_router
from atalaia.review.postmortem_api import postmortem_router


def _number(literal: str) -> int | float:
    """JSON has one number type: 4.0 is the integer 4 (as JSON Schema says, and so as the
    OpenAPI document promises), while 4.5 stays a fraction that no integer field takes."""
    value = float(literal)
    return int(value) if value.is_integer() else value


class LimitedParser(Parser):
    """Request bodies through the one JSON door (depth, size, NUL, surrogates),
    whatever their Content-Type: Ninja reads every body as JSON."""

    def parse_body(self, request):
        return jsondoc.parse(request.body, max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
                             parse_float=_number)


api = NinjaAPI(title="Atalaia API", version="1", urls_namespace="api", auth=AUTH,
               docs_url="/docs", parser=LimitedParser(),
               # Swagger UI's stylesheet draws its icons from data: URLs.
               docs_decorator=csp_update({"img-src": ["data:"]}))
api.add_router("/", catalog_router)
api.add_router("/plans", plans_router)
api.add_router("/incidents", incidents_router)
api.add_router("/", intake_router)
api.add_router("/", monitoring_router)
api.add_router("/", oncall_router)
api.add_router("/", comms_router)
api.add_router("/", remote_router)
api.add_router("/", postmortem_router)
api.add_router("/", review_router)


def _error(request, status: int, detail: str, **extra):
    return api.create_response(request, {"detail": detail, **extra}, status=status)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    problems = []
    for err in exc.errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload"))
        problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return _error(request, 422, "; ".join(problems) or "invalid input", errors=[
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
        for e in exc.errors])


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc):
    return _error(request, 401, "authentication required: send 'Authorization: Bearer "
                                "<token>' or sign in to the console")


@api.exception_handler(PermissionDenied)
def forbidden(request, exc):
    return _error(request, 403, str(exc) or "not allowed")


@api.exception_handler(Http404)
def not_found(request, exc):
    return _error(request, 404, str(exc) or "not found")


@api.exception_handler(IncidentError)
def incident_error(request, exc):
    return _error(request, 400, str(exc))


@api.exception_handler(IllegalMove)
def illegal_move(request, exc):
    return _error(request, 409, str(exc))


@api.exception_handler(SignalError)
def signal_error(request, exc):
    return _error(request, 409, str(exc))


@api.exception_handler(DocumentError)
def document_error(request, exc: DocumentError):
    status = 413 if isinstance(exc, LimitError) else 422
    return _error(request, status, "; ".join(exc.problems), problems=exc.problems)


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    # Ninja wraps whatever the parser raised in "Cannot parse request body": say
    # what is wrong instead.
    if isinstance(exc.__cause__, jsondoc.JSONInputError):
        return _error(request, exc.__cause__.status, str(exc.__cause__))
    return _error(request, exc.status_code, str(exc))
