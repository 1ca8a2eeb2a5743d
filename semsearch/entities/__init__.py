"""People, organisations and places named in the articles: extracted once per document version after its
commit (spaCy), stored per passage beside the segments, counted and filtered at search time."""

from .extract import KINDS, EntityExtractor, Mention, entity_key

__all__ = ["KINDS", "EntityExtractor", "Mention", "entity_key"]
