"""The service state of a sharded service: ServiceBase with its commits opened on shards.

Everything else is ServiceBase's, as in a single process: the model (the ingress embeds queries and writes), the poll of the
commit generation, the serialized writes through IndexWriter on the shared index folder, merges, and the
swap after a write, which returns only once every shard has opened the new commit, so a search right
after an acknowledged write finds the document. A write's new segment is assigned to one shard
(shard.assign_segments).
"""

from __future__ import annotations

from ..embedding import Embedder
from ..search.sharded_search import PassageCache, ShardedSearcher, ShardedView, ShardPool, open_view
from ..settings import Settings
from .metrics import Metrics
from .state import ServiceBase


class ShardedServiceState(ServiceBase[ShardedView, ShardedSearcher]):
    def __init__(self, settings: Settings, metrics: Metrics, pool: ShardPool, embedder: Embedder | None = None) -> None:
        super().__init__(settings, metrics, embedder)
        self.pool = pool
        self.passages = PassageCache()

    def _open(self) -> ShardedView:
        return open_view(self.layout, self.pool)

    def _open_generation(self, generation: int) -> ShardedView:
        return open_view(self.layout, self.pool, generation)

    def _build_searcher(self, reader: ShardedView) -> ShardedSearcher:
        return ShardedSearcher(reader, self.embedder, self.settings.search_config(), self.cache, self.passages)
