"""The Spark session's settings: the local heap sized from the machine, ``--spark-conf`` applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.contract import ContractError
from scaleout.job import local_driver_memory, parse_spark_conf, spark_session
from scaleout.session import result_limit, session_settings
from tests.conftest import run_cli
from tests.factories import raw_events


def test_local_heap_is_a_third_of_the_machine_and_at_least_one_gib() -> None:
    assert local_driver_memory(24 * 2**30) == "8g"
    assert local_driver_memory(2 * 2**30) == "1g"
    assert local_driver_memory() != ""


def test_the_driver_may_collect_half_its_heap_in_one_job() -> None:
    assert result_limit("6g") == "3072m"
    assert result_limit("8G") == "4096m"
    assert result_limit("512m") == "256m"
    assert result_limit("2048") == "1024m"  # a bare number is MiB, as Spark reads the heap
    assert result_limit("1k") == "1m"
    assert result_limit("lots") is None


def test_the_result_limit_follows_the_heap_and_a_users_own_is_kept() -> None:
    local = session_settings("local[2]", {"spark.driver.memory": "6g"})
    assert local["spark.driver.maxResultSize"] == "3072m"
    own = session_settings("local[2]", {"spark.driver.maxResultSize": "5g"})
    assert own["spark.driver.maxResultSize"] == "5g"
    assert session_settings("local[1]")["spark.driver.maxResultSize"] == result_limit(local_driver_memory())
    assert "spark.driver.maxResultSize" not in session_settings("spark://cluster:7077")
    assert session_settings("yarn", {"spark.driver.memory": "10g"})["spark.driver.maxResultSize"] == "5120m"


def test_settings_are_key_value_pairs_and_a_bad_one_is_named() -> None:
    assert parse_spark_conf(["spark.driver.memory=10g", " spark.sql.shuffle.partitions = 8"]) == {
        "spark.driver.memory": "10g",
        "spark.sql.shuffle.partitions": "8",
    }
    with pytest.raises(ContractError, match=r"--spark-conf 'spark.driver.memory': expected KEY=VALUE"):
        parse_spark_conf(["spark.driver.memory"])
    with pytest.raises(ContractError, match="expected KEY=VALUE"):
        parse_spark_conf(["=8g"])


def test_the_cli_refuses_a_malformed_setting_before_spark_starts(tmp_path: Path) -> None:
    raw_events(20, post_id="p1", creator_id="k1").to_csv(tmp_path / "events.csv", index=False)
    args = ["score", "--events", tmp_path / "events.csv", "--out", tmp_path / "out", "--engine", "spark"]
    result = run_cli(*args, "--spark-conf", "spark.driver.memory", check=False)
    assert result.returncode == 2
    assert "--spark-conf 'spark.driver.memory': expected KEY=VALUE" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_setting_reaches_the_session() -> None:
    spark = spark_session("local[1]", conf={"spark.sql.shuffle.partitions": "3"})
    try:
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
        heap = spark.sparkContext.getConf().get("spark.driver.memory")
        assert spark.sparkContext.getConf().get("spark.driver.maxResultSize") == result_limit(heap)
    finally:
        spark.conf.unset("spark.sql.shuffle.partitions")  # the session is shared by later tests
