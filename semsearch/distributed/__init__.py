"""Everything semsearch runs on a Ray cluster; nothing else in semsearch imports Ray.

- `cluster`: joining a cluster (`--ray ADDRESS`, `auto`) and what it offers (nodes, CPUs, GPUs).
- `stages`: the work Ray runs: reading, cleaning and splitting files (tasks), embedding (an actor
  pool, the model loaded once per actor) and writing segments (tasks, semsearch/distributed/staging/prepare.py).
- `index_job`: the driver of `semsearch index --ray`: commits the segments the cluster wrote
  (semsearch/distributed/staging/publish.py), so the index is the one a single machine builds.
- `serving`: `semsearch serve --ray --shards N --replicas M` on Ray Serve: N shard deployments over
  parts of the segments and an ingress with the app of `semsearch serve`; the sharded search itself
  (search/shard.py, search/sharded_search.py, service/sharded_state.py) has no Ray in it.

Needs the optional extra: `pip install "semsearch[ray]"`, on the driver and on every node.
"""
