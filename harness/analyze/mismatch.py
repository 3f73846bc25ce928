"""`bench analyze mismatch`: FD between the N-step teacher and the one-step student, and to the data.

For each N, the teacher is EDM's Heun sampler with N steps on the run's own backbone, sampled with
the same seeds as the student, so FD(teacher_N, student) measures how far the student is from
imitating its teacher while FD(student, data) measures how good it is. The paper's claim 1 predicts
a student that is good for the data without being close to any teacher.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.analyze import MISMATCH_KIND
from harness.analyze.common import check_request, check_steps, fd, load_subject, measurement, sample, write_analysis
from harness.metrics.feature_cache import dataset_features


def mismatch_rows(subject, steps: list[int], seeds: range, student_features, real_features) -> list[dict]:
    from harness.samplers import HeunGenerator

    rows = []
    for n in steps:
        teacher = HeunGenerator(subject.backbone.net, n)
        features = subject.extractor(sample(subject, teacher, seeds, f"teacher, {n} Heun steps"))
        rows.append({"steps": n, "nfe": teacher.nfe, "teacher_vs_student": fd(features, student_features),
                     "teacher_vs_data": fd(features, real_features)})
    return rows


def analyse_mismatch(run_dir: Path, num_samples: int = 1000, steps: list[int] = tuple(range(2, 11)),
                     first_seed: int = 0, results_dir: Path | None = None, device: str = "auto") -> Path:
    """Measure, store the 'analysis-mismatch' record, return its path."""
    started = time.perf_counter()
    check_request(run_dir, num_samples, first_seed, results_dir, device)
    check_steps("--steps", list(steps))
    subject = load_subject(run_dir, device)
    seeds = range(first_seed, first_seed + num_samples)
    real_features = dataset_features(subject.dataset, subject.extractor)
    student_features = subject.extractor(sample(subject, subject.student, seeds, "student, one step"))
    rows = mismatch_rows(subject, list(steps), seeds, student_features, real_features)
    body = {
        "measurement": measurement(subject, num_samples),
        "analysis": {"num_samples": num_samples, "seeds": [seeds.start, seeds.stop - 1], "teacher": "heun",
                     "teacher_steps": list(steps), "fd_implementation": "own (float64)",
                     "data": "all images of the run's dataset"},
        "results": {"student_vs_data": fd(student_features, real_features), "teacher": rows},
    }
    return write_analysis(results_dir, MISMATCH_KIND, subject, body, started)
