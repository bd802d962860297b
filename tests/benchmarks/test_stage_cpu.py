import importlib

from benchmarks.stage_cpu import STAGES, _medians


def test_medians_count_a_stage_a_run_lacks_as_zero():
    runs = [{"total": 10.0, "audiences": 0.6}, {"total": 12.0}, {"total": 11.0, "audiences": 0.5}]
    assert _medians(runs) == {"audiences": 0.5, "total": 11.0}


def _has(module: str, function: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), function)
    except ImportError:
        return False


def test_every_stage_names_a_function_this_checkout_has():
    # a stage may also name the function of another layout (540de39's), but one of its names is ours
    labels = {label for label, _, _ in STAGES}
    found = {label for label, module, function in STAGES if _has(module, function)}
    assert found == labels
