"""harness/remake.py: a record whose generator was not kept (a fresh clone) is still evaluated, by a
re-run that must reproduce the record bit for bit; one that does not, or one made on a GPU, is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from helpers import invoke_bench, snapshot


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory) -> Path:
    """A tiny gan_only run on digits made by `bench run` (in-process), its generator kept."""
    import pytest as _pytest

    torch.set_num_threads(1)
    results = tmp_path_factory.mktemp("runs")
    with _pytest.MonkeyPatch.context() as patch:
        import contextlib
        import io
        import sys

        from harness.cli import main

        patch.setattr(sys, "argv", ["bench", "run", "--method", "gan_only", "--dataset", "digits", "--budget-kimg",
                                    "0.064", "--device", "cpu", "--threads", "1", "--num-samples", "60", "--set",
                                    "train.batch_size=32", "--set", "tensorboard=false", "--results", str(results),
                                    "--quiet"])
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
            with pytest.raises(SystemExit) as done:
                main()
    assert done.value.code in (0, None), err.getvalue()
    return Path(out.getvalue().strip().splitlines()[-1]).parent


def as_cloned(run: Path, where: Path) -> Path:
    """The run folder as a clone of the repository has it: the record, not the generator."""
    clone = where / "results" / run.name
    shutil.copytree(run, clone, ignore=shutil.ignore_patterns("generator.*", "checkpoint", "tensorboard"))
    assert not (clone / "generator.safetensors").exists()
    return clone


def eval_fd(monkeypatch, capsys, run: Path, results: Path) -> tuple[int, str, dict | None]:
    code, out, err = invoke_bench(monkeypatch, capsys, "eval", "--checkpoint", str(run), "--metric", "fd",
                                  "--num-samples", "60", "--device", "cpu", "--results", str(results), "--quiet")
    record = json.loads(Path(out.strip().splitlines()[-1]).read_text()) if code == 0 else None
    return code, err, record


def test_a_cloned_record_is_evaluated_with_its_remade_generator(kept_run, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    code, err, kept = eval_fd(monkeypatch, capsys, kept_run, tmp_path / "ev")
    assert code == 0, err
    assert kept["evaluation"]["source"]["generator"] == "kept"

    clone = as_cloned(kept_run, tmp_path)
    before = snapshot(clone.parent)
    code, err, remade = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    assert code == 0, err
    assert "its generator was not kept" in err
    assert remade["metrics"][0]["value"] == kept["metrics"][0]["value"]  # the same generator, to the float
    assert remade["evaluation"]["source"]["generator"]["remade"] is True
    assert remade["evaluation"]["evaluation_of"] == json.loads((clone / "record.json").read_text())["run_id"]
    assert snapshot(clone.parent) == before  # the stored folder was only read

    code, err, again = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")  # from the cache: no training
    assert code == 0 and "not kept" not in err, err
    assert again["metrics"][0]["value"] == kept["metrics"][0]["value"]


def damage_remade_json(entry: Path) -> None:
    (entry / "remade.json").write_text("{not json")


def damage_weights(entry: Path) -> None:
    (entry / "generator.safetensors").write_bytes(b"garbage")


def drop_the_weights_hash(entry: Path) -> None:  # as an older bench wrote remade.json
    how = json.loads((entry / "remade.json").read_text())
    del how["generator_sha256"]
    (entry / "remade.json").write_text(json.dumps(how))


def drop_the_record(entry: Path) -> None:
    (entry / "record.json").unlink()


def replace_by_a_file(entry: Path) -> None:
    shutil.rmtree(entry)
    entry.write_text("not a folder")


@pytest.mark.parametrize("damage", [damage_remade_json, damage_weights, drop_the_weights_hash, drop_the_record,
                                    replace_by_a_file])
def test_a_damaged_cache_entry_is_re_made_not_trusted(damage, kept_run, tmp_path, monkeypatch, capsys) -> None:
    """The generator cache checks itself like the feature cache: weights by sha256, record by the folder's hash."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    clone = as_cloned(kept_run, tmp_path)
    code, err, first = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    assert code == 0, err
    (entry,) = (tmp_path / "cache" / "generators").iterdir()
    damage(entry)
    code, err, again = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    assert code == 0, err
    assert "incomplete or damaged; re-making it" in err and "its generator was not kept" in err
    assert again["metrics"][0]["value"] == first["metrics"][0]["value"]
    code, err, third = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")  # the entry is whole again
    assert code == 0 and "re-making" not in err and "not kept" not in err, err


def test_a_run_folder_with_a_damaged_remade_json_is_one_line(kept_run, tmp_path, monkeypatch, capsys) -> None:
    run = tmp_path / "results" / kept_run.name
    shutil.copytree(kept_run, run)
    (run / "remade.json").write_text("[1, 2")
    code, err, _ = eval_fd(monkeypatch, capsys, run, tmp_path / "ev")
    assert code == 1 and err.startswith("error: ") and "remade.json: not readable JSON" in err, err
    assert "Traceback" not in err and err.count("\n") == 1, err


def test_a_record_its_rerun_does_not_reproduce_is_refused(kept_run, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    clone = as_cloned(kept_run, tmp_path)
    record = json.loads((clone / "record.json").read_text())
    record["metrics"][0]["value"] += 1e-9  # as if made by other code or numerics
    (clone / "record.json").write_text(json.dumps(record))
    code, err, _ = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    assert code == 1
    assert "does not reproduce it" in err and "Traceback" not in err
    cached = (tmp_path / "cache" / "generators").glob(f"{record['run_id']}-*")
    assert not [p for p in cached if not p.name.endswith(".failed.json")]  # nothing half-made kept (the memo may be)
    assert not (tmp_path / "ev").exists() or not any((tmp_path / "ev").iterdir())


def test_a_failed_remake_is_not_repeated_with_the_same_setup(kept_run, tmp_path, monkeypatch, capsys) -> None:
    """`bench eval`, then `bench sample` of the same record each trained again (100 s for a digits reference)
    to fail the same way; with the same CPU, commit and packages the second is refused at once."""
    import harness.remake
    from harness.errors import BenchError

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    setup = {"cpu_model": "this CPU", "commit": "c0ffee", "installed_sha256": "same packages"}
    monkeypatch.setattr(harness.remake, "this_setup", lambda: dict(setup))
    clone = as_cloned(kept_run, tmp_path)
    record = json.loads((clone / "record.json").read_text())
    record["metrics"][0]["value"] += 1e-9
    (clone / "record.json").write_text(json.dumps(record))
    code, first, _ = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    assert code == 1 and "does not reproduce it" in first

    def rerun(*args, **kwargs):
        raise BenchError("trained again")

    monkeypatch.setattr(harness.remake, "_rerun", rerun)
    code, again, _ = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    lines = [line for line in again.splitlines() if line.startswith("error:")]
    assert code == 1 and len(lines) == 1 and "trained again" not in again and "not repeated (delete" in lines[0]
    assert first.strip().splitlines()[-1] in lines[0]  # the first failure's own words
    setup["commit"] = "other code"
    code, other, _ = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    assert code == 1 and "trained again" in other  # another setup may reproduce it: tried again


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU run is re-made where a GPU is present")
def test_a_gpu_record_is_not_remade_on_a_cpu(kept_run, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    clone = as_cloned(kept_run, tmp_path)
    record = json.loads((clone / "record.json").read_text())
    record["environment"]["hardware"]["device"] = "cuda"
    (clone / "record.json").write_text(json.dumps(record))
    code, err, _ = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "trained on cuda" in lines[0] and "re-make it on a GPU" in lines[0], err


def test_bench_sample_exports_a_cloned_records_remade_generator(kept_run, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    clone = as_cloned(kept_run, tmp_path)
    for run, out in ((kept_run, tmp_path / "kept.npz"), (clone, tmp_path / "remade.npz")):
        code, _, err = invoke_bench(monkeypatch, capsys, "sample", str(run), "--seeds", "0-7", "--out", str(out),
                                    "--device", "cpu", "--quiet")
        assert code == 0, err
    import numpy as np

    kept, remade = np.load(tmp_path / "kept.npz"), np.load(tmp_path / "remade.npz")
    assert np.array_equal(kept["arr_0"], remade["arr_0"])  # the same images, byte for byte


@pytest.fixture
def amd_avx2(monkeypatch):
    """This machine, as the remake check sees it: an AMD EPYC whose native kernels are AVX2."""
    from harness import numerics

    monkeypatch.setattr(numerics, "cpu_model", lambda: "AMD EPYC 7B13")
    monkeypatch.setattr(numerics, "native_cpu_capability", lambda: "AVX2")


def made_on(record: dict, model: str, capability: str, mode: str = "native") -> dict:
    hardware = {**record["environment"]["hardware"], "numerics": mode, "cpu_model": model, "cpu_capability": capability}
    return {**record, "environment": {**record["environment"], "hardware": hardware}}


@pytest.mark.parametrize("model, capability, mode, refused", [
    ("AMD EPYC", "AVX2", "native", False),
    ("AMD EPYC 9B14", "AVX512", "native", True),  # same vendor, another instruction set
    ("Intel(R) Xeon(R) Processor", "AVX2", "native", True),  # same instruction set, the other vendor's MKL paths
    ("Intel(R) Xeon(R) Processor", "DEFAULT", "portable", False),  # portable numerics: any x86-64 CPU
])
def test_a_native_record_of_another_kind_of_cpu_is_refused(kept_run, amd_avx2, model, capability, mode, refused):
    from harness.errors import BenchError
    from harness.remake import check_remakeable

    record = made_on(json.loads((kept_run / "record.json").read_text()), model, capability, mode)
    if refused:
        expected = f"re-make it on an {model.split()[0].replace('(R)', '')} CPU with {capability}"
        with pytest.raises(BenchError, match=expected):
            check_remakeable(record)
    else:
        check_remakeable(record)


@pytest.mark.parametrize("model, mode, warned", [
    ("Intel(R) Xeon(R) Processor", "portable", True),  # Intel's portable references re-ran 2.6e-6 apart here
    ("AMD EPYC 9B14", "portable", False),  # the same vendor
    ("Intel(R) Xeon(R) Processor", "native", False),  # refused outright by check_remakeable instead
])
def test_a_portable_record_of_the_other_vendor_is_warned_of_before_the_wait(kept_run, amd_avx2, model, mode, warned):
    from harness.remake import other_vendor_note

    record = made_on(json.loads((kept_run / "record.json").read_text()), model, "DEFAULT", mode)
    note = other_vendor_note(record)
    assert bool(note) == warned
    if warned:
        assert f"made on an {model} and this is an AMD EPYC 7B13" in note and "may not reproduce" in note


def test_the_refusal_comes_before_any_training(kept_run, amd_avx2, tmp_path, monkeypatch, capsys) -> None:
    import harness.remake

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(harness.remake, "run_in_fresh_processes", lambda *a, **k: pytest.fail("started training"))
    monkeypatch.setattr(harness.remake, "_rerun", lambda *a, **k: pytest.fail("started training"))
    clone = as_cloned(kept_run, tmp_path)
    record = made_on(json.loads((clone / "record.json").read_text()), "AMD EPYC", "AVX512")
    (clone / "record.json").write_text(json.dumps(record))
    code, err, _ = eval_fd(monkeypatch, capsys, clone, tmp_path / "ev")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "AMD AVX512 kernels" in lines[0] and "AMD AVX2" in lines[0], err


def test_a_record_of_other_numerics_is_remade_in_a_fresh_process_with_them(kept_run, tmp_path, monkeypatch) -> None:
    """Native numerics here, a portable record: the re-run needs an interpreter started with them (ATen picks
    its kernels when torch loads); a native record is re-run in this process (the cloned-record test above)."""
    import os

    import harness.remake
    from harness.errors import BenchError

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    seen = []

    def spawned(function, jobs, workers, names):
        seen.append((os.environ.get("BENCH_NUMERICS"), function, workers))
        raise BenchError("spawned")

    monkeypatch.setattr(harness.remake, "run_in_fresh_processes", spawned)
    monkeypatch.setattr(harness.remake, "_rerun", lambda *a, **k: pytest.fail("re-run in this process"))
    clone = as_cloned(kept_run, tmp_path)
    record = made_on(json.loads((clone / "record.json").read_text()), "any", "DEFAULT", "portable")
    (clone / "record.json").write_text(json.dumps(record))
    with pytest.raises(BenchError, match="spawned"):
        harness.remake.generator_dir(clone, show_progress=False)
    assert seen == [("portable", harness.remake._rerun, 1)]
