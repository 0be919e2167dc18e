"""Shared fixtures for the course test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("COURSE_HEADLESS", "1")


@pytest.fixture
def course_root() -> Path:
    return ROOT


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty, private data cache (COURSE_DATA_DIR)."""
    d = tmp_path / "cache"
    d.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(d))
    return d


# The heavy tests, run by `make test-full` (and .ci/run) rather than `make test`, which must stay within 8 minutes
# on 2 cores. Chosen from `pytest --durations` (each took 40 s or more on a loaded 2-core machine); a test file can
# also mark its own with @pytest.mark.full.
FULL = (
    "tests/test_grader_cli.py::test_validate_command_on_the_course",      # make test runs `course validate` itself
    "tests/test_grader_cli.py::test_twenty_concurrent_grade_processes_lose_nothing",
    "tests/test_grader_cli.py::test_grade_json_folder_jobs_and_gradebook",
    "tests/test_grader_cli.py::test_seed_option_reproduces_a_grading",
    "tests/test_grader_cli.py::test_unchanged_submissions_are_skipped_unless_forced_and_canvas_export",
    "tests/test_grader_cli.py::test_bad_input_exits_nonzero_and_records_nothing",
    "tests/test_cnn.py::test_digits_cnn_learns_and_is_cached",             # trains the CNN (the shipped one is tested)
    "tests/test_browser.py::test_lecture_runs_and_its_sliders_respond",    # Run All of every lecture in Chromium
    "tests/test_binder.py::test_rendered_image_has_python_311_and_installs_binder",
    "tests/test_delivery_similarity.py",
    "tests/test_delivery_platforms.py",
    "tests/test_char_lm.py::test_interrupted_and_resumed_equals_uninterrupted[gru-float32]",
    "tests/test_char_lm.py::test_interrupted_and_resumed_equals_uninterrupted[lstm-float32]",
    "tests/test_char_lm.py::test_training_learns_and_the_schedule_decays",
    "tests/test_grader_breaches.py::test_unsafe_student_ids_are_refused_before_they_name_files",
    "tests/test_grader_breaches.py::test_attempts_csv_escapes_formulas",
    "tests/test_grader_breaches.py::test_submit_records_only_under_the_runners_checked_id",
    "tests/test_grader_breaches.py::test_symlinked_and_special_submissions_are_refused",
    "tests/test_grader_breaches.py::test_statement_count_over_the_limit_is_the_students_error",
    "tests/test_grader_breaches.py::test_the_unchanged_skip_keys_on_the_lab",
    "tests/test_grader_breaches.py::test_a_folder_batch_survives_every_attack_and_records_the_rest",
    "tests/test_grader_breaches.py::test_killing_the_grader_kills_its_sandboxes",
    "tests/test_grader_breaches.py::test_a_constant_sampler_scores_zero_on_every_case_whatever_the_seed",
    "tests/test_grader_breaches.py::test_odd_file_names_and_deep_folders_do_not_stop_the_batch",
    "tests/test_attribution.py::test_occlusion_equals_captum",
    "tests/test_widgets_live.py::test_frontend_shows_returned_and_pyplot_figures_and_rerenders",   # 67 s quiet
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(FULL):
            item.add_marker(pytest.mark.full)
