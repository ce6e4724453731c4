"""One local Spark session for the whole suite: started once (about 10 s on an idle 2-core machine, a minute
when it is busy), two cores, few shuffle partitions. The commands under test start theirs with
`SparkSession.builder.getOrCreate()`, which returns this one.

pyspark is part of the test environment (`make test` installs `rollctl[spark]`): a missing pyspark fails
these tests rather than skipping them, so the engine is never silently untested.
"""

from __future__ import annotations

import os
from typing import Any

os.environ["ROLLCTL_SPARK_MASTER"] = "local[2]"

_SESSION: Any = None


def spark_session() -> Any:
    global _SESSION
    if _SESSION is None:
        from rollctl.engines.spark import SparkSettings, start_session

        _SESSION = start_session(SparkSettings(master="local[2]"))
        _SESSION.conf.set("spark.sql.shuffle.partitions", "2")
    return _SESSION
