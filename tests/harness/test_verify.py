"""`bench verify` re-runs CPU references side by side only as far as their thread counts fit the cores."""

from harness.verify import parallel_workers


def reference(device: str, threads: int) -> dict:
    return {"environment": {"hardware": {"device": device, "cpu_threads": threads}}}


def test_parallel_workers_fit_recorded_threads_into_the_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert parallel_workers([reference("cpu", 1)] * 3) == 2
    assert parallel_workers([reference("cpu", 1), reference("cpu", 2)]) == 1  # one needs both cores
    assert parallel_workers([reference("cpu", 1)]) == 1
    assert parallel_workers([reference("cpu", 1), reference("cuda", 1)]) == 1  # GPU runs one at a time


def test_verify_notes_when_the_environment_differs_from_the_references():
    from harness.records import package_state
    from harness.verify import environment_notes

    now = package_state()
    same = {"run_id": "a", "environment": {"packages": dict(now)}}
    other = {"run_id": "b", "environment": {"packages": {**now, "lock_sha256": "0" * 64}}}
    older = {"run_id": "c", "environment": {}}  # made before records stored the fingerprints
    notes = environment_notes([same, other, older])
    assert len(notes) == 1 and notes[0].startswith("note: b: the lock file differs")


def test_records_fingerprint_the_lock_file_and_the_installed_packages():
    import hashlib
    import importlib.metadata

    from harness.records import LOCK_FILE, REPO_ROOT, package_state

    state = package_state()
    assert state["lock_sha256"] == hashlib.sha256((REPO_ROOT / LOCK_FILE).read_bytes()).hexdigest()
    names = {d.metadata["Name"].lower() for d in importlib.metadata.distributions() if d.metadata["Name"]}
    assert state["installed_count"] == len({f"{d.metadata['Name'].lower()}=={d.version}"
                                            for d in importlib.metadata.distributions() if d.metadata["Name"]})
    assert "torch" in names and len(state["installed_sha256"]) == 64
