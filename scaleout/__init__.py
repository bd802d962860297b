"""Scale-out: the one scorer run on Apache Spark, one shard of the window at a time.

``scaleout.shards`` plans shards (pure pandas), ``scaleout.shard_scoring`` scores one
shard with the unchanged ``WindowScorer`` (pure pandas), and ``scaleout.job`` is the
Spark driver (``cpeguard score --engine spark`` or ``spark-submit cpeguard/spark_submit.py``),
with its steps in ``session``, ``reading``, ``routing``, ``window_parts`` and ``platform_rings``.
PySpark is imported only by the driver's modules, and only when a Spark run starts.
"""
