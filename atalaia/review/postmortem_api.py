"""The post-mortem in the API: download it, edit it, publish it on the tracking page."""

from datetime import datetime
from typing import Literal

from django.http import Http404
from ninja import Query, Router
from ninja.errors import HttpError
from pydantic import BaseModel, Field

from atalaia.accounts.apiauth import allow
from atalaia.lib.apiutil import ERRORS, Input
from atalaia.review import postmortem
from atalaia.review.models import Review
from atalaia.review.postmortem_views import download_response, review_of

postmortem_router = Router(tags=["review"])
Format = Literal["md", "html", "pdf"]

_FILE = {"description": "The post-mortem as a file", "content": {
    "text/markdown": {"schema": {"type": "string"}},
    "text/html": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}


class PostmortemOut(BaseModel):
    incident: int
    document: str
    edited: bool
    document_updated_at: datetime | None
    public_document: str
    published_at: datetime | None


class DocumentIn(Input):
    text: str = Field(..., max_length=postmortem.MAX_LENGTH,
                      description="Markdown; empty: go back to the generated document")


class PublishIn(Input):
    text: str | None = Field(None, max_length=postmortem.MAX_LENGTH,
                             description="Markdown; none: the document as it is now")


def _review(request, incident_id: int) -> Review:
    try:
        return review_of(request.auth, incident_id)
    except Http404 as exc:
        raise HttpError(404, str(exc)) from None


def _out(review: Review) -> dict:
    return {"incident": review.incident_id, "document": postmortem.document(review),
            "edited": bool(review.document), "document_updated_at": review.document_updated_at,
            "public_document": review.public_document, "published_at": review.published_at}


@postmortem_router.get("/incidents/{incident_id}/postmortem", response=ERRORS,
                       openapi_extra={"responses": {200: _FILE}})
def download(request, incident_id: int, fmt: Format = Query("md", alias="format")):
    """The post-mortem as Markdown, HTML or PDF (generated while nobody has edited it)."""
    allow(request, "view")
    return download_response(_review(request, incident_id), fmt)


@postmortem_router.put("/incidents/{incident_id}/postmortem",
                       response={200: PostmortemOut, **ERRORS})
def edit(request, incident_id: int, payload: DocumentIn):
    allow(request, "incident.respond")
    review = _review(request, incident_id)
    try:
        postmortem.save_document(review, payload.text)
    except postmortem.PostmortemError as exc:
        raise HttpError(422, str(exc)) from None
    return _out(review)


@postmortem_router.post("/incidents/{incident_id}/postmortem/publish",
                        response={200: PostmortemOut, **ERRORS})
def publish(request, incident_id: int, payload: PublishIn):
    """Put a public version on the incident's tracking page."""
    allow(request, "incident.respond")
    review = _review(request, incident_id)
    text = payload.text if payload.text is not None else postmortem.document(review)
    try:
        postmortem.publish(review, request.auth, text)
    except postmortem.NotPublic as exc:
        raise HttpError(409, str(exc)) from None
    except postmortem.PostmortemError as exc:
        raise HttpError(422, str(exc)) from None
    return _out(review)
