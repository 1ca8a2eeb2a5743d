"""Everything semsearch runs on a Ray cluster; nothing else in semsearch imports Ray.

- `cluster`: joining a cluster (`--ray ADDRESS`, `auto`) and what it offers (nodes, CPUs, GPUs).
- `stages`: the work Ray runs: reading, cleaning and splitting files (tasks), embedding (an actor
  pool, the model loaded once per actor) and writing segments (tasks, semsearch/index/prepare.py).
- `index_job`: the driver of `semsearch index --ray`: commits the segments the cluster wrote
  (semsearch/index/publish.py), so the index is the one a single machine builds.

Needs the optional extra: `pip install "semsearch[ray]"`, on the driver and on every node.
"""
