"""features.

pandera imports ``pyspark.pandas`` whenever PySpark is installed (the ``spark`` extra):
a tenth of a second at every start, a FutureWarning under pandas 3, and environment
variables set for Spark. Nothing here uses pandas-on-Spark, and the Spark engine
(``scaleout``) uses only ``pyspark.sql``, so pandera is told it is absent.
"""

import sys

sys.modules.setdefault("pyspark.pandas", None)  # type: ignore[arg-type]
