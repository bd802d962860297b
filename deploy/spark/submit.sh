#!/usr/bin/env bash
# Score one period on a Spark cluster (YARN, standalone or Kubernetes) with spark-submit.
# An example: adapt the master, paths and sizes. Usage:
#   deploy/spark/submit.sh s3a://bucket/period-2026-48/events/ s3a://bucket/period-2026-48/scored/
#
# The executors need cpeguard and its libraries (pandas, pyod, networkx, ...): pack a virtual
# environment once per release and ship it with --archives (Spark's "Python Package Management"):
#   python -m venv /tmp/cpeguard-env && /tmp/cpeguard-env/bin/pip install 'cpeguard[spark]' venv-pack
#   /tmp/cpeguard-env/bin/venv-pack -p /tmp/cpeguard-env -o cpeguard-env.tar.gz
set -euo pipefail
EVENTS="${1:?events path (Parquet or CSV file or folder; file://, hdfs://, s3a://)}"
OUT="${2:?output folder}"
MASTER="${SPARK_MASTER:-yarn}"
ENV_ARCHIVE="${CPEGUARD_ENV_ARCHIVE:-cpeguard-env.tar.gz}"
ENTRY="$(python -c 'import cpeguard.spark_submit as m; print(m.__file__)')"

# One shard is scored whole by one Python worker: the worker's memory (executor memoryOverhead)
# must hold the shard budget at about 0.5 KB per event (docs/spark.md, benchmarks/results/spark.json).
# One task per executor core; a shard task uses 1 core (its detector threads share it).
export PYSPARK_PYTHON=./environment/bin/python
spark-submit \
  --master "${MASTER}" \
  --deploy-mode cluster \
  --archives "${ENV_ARCHIVE}#environment" \
  --conf spark.executor.cores=2 \
  --conf spark.executor.memory=4g \
  --conf spark.executor.memoryOverhead=20g \
  --conf spark.task.cpus=2 \
  --conf spark.sql.execution.arrow.pyspark.enabled=true \
  --conf spark.sql.adaptive.enabled=true \
  --conf spark.hadoop.fs.s3a.aws.credentials.provider=com.amazonaws.auth.DefaultAWSCredentialsProviderChain \
  "${ENTRY}" \
  --events "${EVENTS}" \
  --out "${OUT}" \
  ${CPEGUARD_POSTS:+--posts "${CPEGUARD_POSTS}"} \
  ${CPEGUARD_CAMPAIGNS:+--campaigns "${CPEGUARD_CAMPAIGNS}"} \
  ${CPEGUARD_SHARD_BUDGET:+--shard-budget "${CPEGUARD_SHARD_BUDGET}"}
