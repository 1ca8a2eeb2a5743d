"""Stories: articles on one event, across outlets, languages and days, grouped as they are written."""

from .cluster import StoryClusterer, StoryConfig

__all__ = ["StoryClusterer", "StoryConfig"]
