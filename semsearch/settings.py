"""Settings from the environment (prefix SEMSEARCH_) and command-line flags, with pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .alerts.webhooks import WebhookConfig
from .embedding.base import DEFAULT_MODEL
from .index.chunking import ChunkingConfig
from .index.segment_build import DEFAULT_PASSAGE_VECTORS, PASSAGE_VECTORS
from .ingest.fetcher import DEFAULT_USER_AGENT, FetchConfig, allowed_networks
from .search.collapse import CollapseConfig
from .search.fusion import FusionConfig
from .search.searcher import SearchConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEMSEARCH_", env_file=None, extra="ignore")

    index_dir: Path = Path("data/index")
    model: str = DEFAULT_MODEL
    query_prompt: str | None = None  # sentence-transformers only, e.g. "query: "
    passage_prompt: str | None = None

    max_passage_tokens: int = Field(256, ge=16, le=8192)
    min_passage_chars: int = Field(60, ge=0)
    overlap_sentences: int = Field(1, ge=0, le=5)
    embed_batch_size: int = Field(32, ge=1, le=1024)
    index_type: str | None = None  # a FAISS factory string; None chooses by collection size
    # How a new index makes passage vectors (index/segment_build.py; recorded in the index, which keeps its own):
    # "embedded" or "sentence_mean" (about half the embedding work; PIAF figures in BENCHMARKS.md)
    passage_vectors: str = Field(DEFAULT_PASSAGE_VECTORS, pattern=f"^({'|'.join(PASSAGE_VECTORS)})$")

    fusion: str = Field("score", pattern="^(score|rrf)$")
    dense_weight: float = Field(0.7, ge=0.0, le=1.0)
    rrf_k: int = Field(60, ge=1)
    sentence_weight: float = Field(0.7, ge=0.0, le=1.0)
    cross_language_lexical: float = Field(0.5, ge=0.0, le=1.0)
    cross_sentence_weight: float | None = Field(None, ge=0.0, le=1.0)  # None: sentence_weight
    bridge_terms: bool = True  # query words also analyzed as the index's other languages (issue #22)
    cross_language_latent: float = Field(3.0, ge=0.0, le=100.0)  # latent-terms weight across languages (issue #22)
    latent_terms: bool = True  # store passages' latent terms at index time (about 1.2x a passage vector's CPU)
    candidates: int = Field(100, ge=10, le=10_000)
    per_doc: int = Field(2, ge=1, le=100)
    duplicate_alone: float = Field(0.96, ge=0.0, le=1.01)
    duplicate_with_number: float = Field(0.93, ge=0.0, le=1.01)
    duplicate_corroborating: float = Field(0.86, ge=0.0, le=1.01)
    duplicate_same_headline: float = Field(0.99, ge=0.0, le=1.01)
    query_cache_size: int = Field(1024, ge=0)

    # HTTP service (`semsearch serve`)
    api_key: SecretStr | None = None  # bearer key for write endpoints; unset = writes refused (403)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = []  # comma-separated; empty = no CORS headers at all
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_documents_per_request: int = Field(1000, ge=1, le=100_000)
    corpus: Path | None = None  # indexed at start when the index has no commit yet

    # Fetching web pages and feeds (`semsearch index URL`, `semsearch watch`); the service never fetches
    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1, max_length=300)
    fetch_timeout: float = Field(10.0, gt=0, le=300)
    fetch_max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    fetch_delay: float = Field(1.0, ge=0, le=600)  # seconds between two requests to one host
    fetch_max_redirects: int = Field(5, ge=0, le=30)
    # Loopback, private, link-local and reserved addresses are refused (a feed's links are anyone's to write)
    fetch_allow_private: bool = False
    # ... except these addresses or networks (comma or space separated: 10.1.2.0/24, 192.168.1.5): feeds you run
    fetch_allow_addresses: Annotated[list[str], NoDecode] = []
    feeds: Annotated[list[str], NoDecode] = []  # `semsearch watch` with no URL: these (comma or space separated)
    watch_every: str = "15m"
    # Webhooks of saved searches (semsearch/alerts/webhooks.py)
    webhook_timeout: float = Field(5.0, gt=0, le=60)
    webhook_attempts: int = Field(5, ge=1, le=20)
    webhook_backoff: float = Field(2.0, ge=0, le=3600)  # seconds before the first retry, doubled each time

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_no_key(cls, value: object) -> object:
        """A blank key is no key; a key with spaces around it could never be sent back as it is (a
        client's Bearer value is trimmed), so every write would fail: refused at start-up instead."""
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(secret, str) and not secret.strip():
            return None
        if isinstance(secret, str) and secret != secret.strip():
            raise ValueError(
                "has spaces or line breaks around it (often copied from a file with its newline); "
                "set SEMSEARCH_API_KEY to the key alone, e.g. `export SEMSEARCH_API_KEY=$(openssl rand -hex 32)`"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        if isinstance(value, str):
            return [url for url in value.replace(",", " ").split() if url]
        return value

    @field_validator("fetch_allow_addresses", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        values = value.replace(",", " ").split() if isinstance(value, str) else value
        if isinstance(values, list):
            allowed_networks([str(v) for v in values])  # a typo stops the command with the value named
        return values

    @field_validator("watch_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        from .ingest.watch import parse_duration

        parse_duration(value)
        return value

    def fetch_config(self) -> FetchConfig:
        return FetchConfig(
            self.fetch_timeout, self.fetch_max_bytes, self.fetch_delay, self.fetch_max_redirects, self.user_agent,
            self.fetch_allow_private, tuple(self.fetch_allow_addresses),
        )

    def webhook_config(self) -> WebhookConfig:
        return WebhookConfig(timeout=self.webhook_timeout, attempts=self.webhook_attempts, backoff=self.webhook_backoff)

    def chunking(self) -> ChunkingConfig:
        return ChunkingConfig(self.max_passage_tokens, self.min_passage_chars, self.overlap_sentences)

    def collapse_config(self) -> CollapseConfig:
        return CollapseConfig(
            self.duplicate_alone,
            self.duplicate_with_number,
            self.duplicate_corroborating,
            same_headline=self.duplicate_same_headline,
        )

    def search_config(self) -> SearchConfig:
        return SearchConfig(
            fusion=self.fusion_config(), collapse=self.collapse_config(), candidates=self.candidates,
            per_doc=self.per_doc, query_cache_size=self.query_cache_size,
        )

    def fusion_config(self) -> FusionConfig:
        return FusionConfig(
            method=self.fusion,
            dense_weight=self.dense_weight,
            rrf_k=self.rrf_k,
            sentence_weight=self.sentence_weight,
            cross_language_lexical=self.cross_language_lexical,
            cross_sentence_weight=self.cross_sentence_weight,
            bridge_terms=self.bridge_terms,
            cross_language_latent=self.cross_language_latent,
        )
