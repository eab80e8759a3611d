"""The benchmark harness reports skipped benchmarks as skipped and missed targets as missed."""

from bench.run import skipped_parts, status_of, targets_of


def test_skipped_benchmark_is_not_ok():
    assert status_of({"skipped": "no ../shared/corpora"}) == "skipped"


def test_a_false_target_at_any_depth_is_missed():
    result = {"at_300k": {"per_doc": 1.2, "meets_target": False}, "auc_within_0_01_met": True}
    assert status_of(result) == "missed"
    assert targets_of(result) == {"at_300k.meets_target": False, "auc_within_0_01_met": True}


def test_all_targets_met_is_ok_and_skipped_parts_are_listed():
    result = {"winnow": {"targets_met": True}, "datatrove": "skipped: not installed"}
    assert status_of(result) == "ok"
    assert skipped_parts(result) == {"datatrove": "skipped: not installed"}
