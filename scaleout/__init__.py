"""Scale-out: the one scorer run on Apache Spark, one shard of the window at a time.

``scaleout.shards`` plans shards (pure pandas), ``scaleout.shard_scoring`` scores one
shard with the unchanged ``WindowScorer`` (pure pandas), and ``scaleout.job`` is the
Spark driver (``spark-submit scaleout/job.py`` or ``cpeguard score --engine spark``).
PySpark is imported only by ``scaleout.job``, and only when a Spark run starts.
"""
