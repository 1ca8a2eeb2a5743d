"""GET /stories/{id}: a story's articles as a timeline, with what each outlet says of it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path

from ..api_models import ERROR_RESPONSES, MAX_STORY_ID, ErrorBody, StoryArticleOut, StoryOut
from ..dependencies import get_service
from ..http_errors import ApiError
from ..state import ServiceState

router = APIRouter(tags=["stories"])


@router.get("/stories/{story_id}", response_model=StoryOut, responses={**ERROR_RESPONSES, 404: {"model": ErrorBody}})
def get_story(
    story_id: int = Path(ge=1, le=MAX_STORY_ID, description="a story id, as in a result's `story`"),
    service: ServiceState = Depends(get_service),
) -> StoryOut:
    """The story's live articles (deleted ones left out), oldest first, each with its sentence closest to the story."""
    searcher = service.searcher  # one commit for the whole request
    view = getattr(searcher, "annotations", None)  # a sharded service has none
    story = view.story(story_id) if view is not None else None
    if story is None:
        raise ApiError(404, "story_id", f"story_id: no story {story_id} in the index")
    return StoryOut(
        id=story.id,
        title=story.title,
        first_seen=story.first_seen,
        last_updated=story.last_updated,
        articles=[
            StoryArticleOut(
                doc_id=a.doc_id, title=a.title, source=a.source, date=a.date, lang=a.lang, url=a.url, first_seen=a.joined_at, sentence=a.sentence
            )
            for a in story.articles
        ],
    )
