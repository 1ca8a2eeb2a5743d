"""POST /documents, GET and DELETE /documents/{id}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ...documents import Document
from ...errors import InvalidInputError
from ...ingest.readers import document_from_record
from ...ingest.validation import validate_doc_id
from ...text.lang import known_languages
from ..api_models import (
    ERROR_RESPONSES,
    WRITE_RESPONSES,
    DeleteResponse,
    DocumentOut,
    DocumentsRequest,
    DocumentsResponse,
    ErrorBody,
    FailedDocument,
    PassageOut,
)
from ..dependencies import get_service, require_key
from ..http_errors import ApiError, renamed
from ..requests import OffLoopJSONRoute
from ..state import ServiceState

router = APIRouter(tags=["documents"], route_class=OffLoopJSONRoute)


def _document(record: Any, index: int) -> Document:
    """A document of a request, validated as a JSON Lines record, with a language code the
    language identifier knows (lower-cased)."""
    doc = document_from_record(record, f"documents[{index}]")
    if doc.lang is not None:
        code = doc.lang.lower()
        if code not in known_languages():
            raise InvalidInputError(f"lang: {doc.lang[:40]!r} is not a known language code (ISO 639-1: fr, en, de...)", "lang")
        doc.lang = code
    return doc


def _failed(record: Any, index: int, exc: InvalidInputError) -> FailedDocument:
    raw_id = record.get("id") if isinstance(record, dict) else None
    return FailedDocument(
        index=index,
        id=str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None,
        field=exc.field,
        reason=str(exc),
    )


def _doc_id(doc_id: str) -> str:
    try:
        return validate_doc_id(doc_id)
    except InvalidInputError as exc:
        raise renamed(exc, {"id": "doc_id"}) from None


@router.post("/documents", response_model=DocumentsResponse, responses=WRITE_RESPONSES, dependencies=[Depends(require_key)])
def add_documents(body: DocumentsRequest, service: ServiceState = Depends(get_service)) -> DocumentsResponse:
    """Add or replace documents (same id = replace). Valid documents are written even when others fail;
    answers once the new commit is on disk and served."""
    limit = service.settings.max_documents_per_request
    if len(body.documents) > limit:
        message = f"documents: {len(body.documents)} in one request; at most {limit} (SEMSEARCH_MAX_DOCUMENTS_PER_REQUEST)"
        raise ApiError(413, "documents", message)
    if not body.documents:
        raise ApiError(422, "documents", "documents: empty; send at least one document")
    documents, failed = [], []
    for index, record in enumerate(body.documents):
        try:
            documents.append(_document(record, index))
        except InvalidInputError as exc:
            failed.append(_failed(record, index, exc))
    if not documents:
        first = failed[0]
        field = f"documents.{first.index}" + (f".{first.field}" if first.field else "")
        reason = first.reason.removeprefix(f"{first.field}: ") if first.field else first.reason
        more = f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else ""
        raise ApiError(422, field, f"{field}: {reason}{more}", failed=[f.model_dump() for f in failed])
    report = service.write(documents)
    service.metrics.writes.labels("upsert").inc()
    return DocumentsResponse(
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        failed=failed,
        documents=report.documents,
        passages=report.passages,
        commit=report.commit,
        snapshot=report.snapshot,
    )


@router.get("/documents/{doc_id:path}", response_model=DocumentOut, responses={**ERROR_RESPONSES, 404: {"model": ErrorBody}})
def get_document(doc_id: str, service: ServiceState = Depends(get_service)) -> DocumentOut:
    """A document and its passages. Ids may contain `/`."""
    doc_id = _doc_id(doc_id)
    found = service.searcher.reader.fetch_document(doc_id)
    if found is None:
        raise ApiError(404, "doc_id", f"doc_id: no document {doc_id!r} in the index")
    doc, passages = found
    return DocumentOut(
        doc_id=doc.doc_id,
        title=doc.title,
        date=doc.date,
        source=doc.source,
        url=doc.url,
        lang=doc.lang,
        text=doc.text,
        indexed_at=doc.indexed_at,
        passages=[PassageOut(passage_id=p.passage_id, ordinal=p.ordinal, start=p.start, end=p.end, text=p.text) for p in passages],
    )


@router.delete(
    "/documents/{doc_id:path}",
    response_model=DeleteResponse,
    responses={**WRITE_RESPONSES, 404: {"model": ErrorBody}},
    dependencies=[Depends(require_key)],
)
def delete_document(doc_id: str, service: ServiceState = Depends(get_service)) -> DeleteResponse:
    """Remove a document and its passages; answers once the new commit is on disk and served."""
    doc_id = _doc_id(doc_id)
    report = service.write(delete_ids=[doc_id])
    if report.not_found:
        raise ApiError(404, "doc_id", f"doc_id: no document {doc_id!r} in the index")
    service.metrics.writes.labels("delete").inc()
    return DeleteResponse(
        deleted=report.deleted, doc_id=doc_id, documents=report.documents, passages=report.passages,
        commit=report.commit, snapshot=report.snapshot,
    )
