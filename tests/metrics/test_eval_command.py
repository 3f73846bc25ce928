"""`bench eval` and `bench refstats` end to end: records like `bench run` writes, the EDM protocol
(one generator per seed, minimum over seed sets), small runs labelled, folders of images measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import to_uint8
from harness.metrics import evaluate
from helpers import invoke_bench
from harness.metrics.inception import InceptionExtractor


def bench(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    return invoke_bench(monkeypatch, capsys, *args)


@pytest.fixture
def pool64_everywhere(monkeypatch, inception_input_size):
    """Make the commands build the 64-d first-pool extractor (32x32 network input): FID in 2048-d
    needs 2048x2048 matrix square roots, minutes on a test CPU, for no extra coverage here."""
    import harness.metrics.inception as inception

    class Pool64(InceptionExtractor):
        def __init__(self, weights, device="cpu", feature_layer="2048", batch_size=128):
            super().__init__(weights, device, "64", batch_size)

    monkeypatch.setattr(inception, "InceptionExtractor", Pool64)
    inception_input_size(32)


@pytest.fixture
def stored_run(tiny_backbone: Path, tmp_path: Path) -> Path:
    """A `bench run` of the backbone used in one step (nothing to train) on digits."""
    from harness.runner import configure, run

    config = configure("backbone_one_step", "digits", backbone=str(tiny_backbone), device="cpu", num_samples=50)
    return run(config, tmp_path / "runs", show_progress=False).parent


def test_eval_checkpoint_edm_protocol(stored_run: Path, pool64_everywhere, inception_weights: Path, inception_pool64,
                                      tmp_path: Path, monkeypatch, capsys) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 64))
    np.savez(tmp_path / "ref64.npz", mu=rng.standard_normal(64) * 0.1, sigma=a @ a.T / 64 + 0.1 * np.eye(64))
    common = ["eval", "--checkpoint", str(stored_run), "--metric", "fid", "--ref", str(tmp_path / "ref64.npz"),
              "--num-samples", "70", "--fid-repeats", "3", "--inception-weights", str(inception_weights),
              "--device", "cpu", "--quiet", "--batch-size", "16"]
    code, out, err = bench(monkeypatch, capsys, *common, "--results", str(tmp_path / "a"))
    assert code == 0, err
    assert "reduced run" in err
    record = json.loads(Path(out.strip().splitlines()[-1]).read_text())
    source = json.loads((stored_run / "record.json").read_text())
    assert record["status"] == "completed" and record["schema_version"] == source["schema_version"]
    assert record["method"] == "backbone_one_step" and record["dataset"] == "digits" and record["seed"] == source["seed"]
    assert record["backbone"] == source["backbone"] and record["evaluation"]["evaluation_of"] == source["run_id"]
    assert record["run_id"] != source["run_id"] and record["reference"] is None
    assert f"  measured   run {source['run_id']}" in out.splitlines()  # the summary before the path
    assert any(line.split()[:2] == ["fid", f"{record['metrics'][0]['value']:.4g}"] for line in out.splitlines())
    (fid,) = record["metrics"]
    repeats = fid["details"]["repeats"]
    assert [r["seeds"] for r in repeats] == [[0, 69], [70, 139], [140, 209]]
    assert fid["value"] == min(r["value"] for r in repeats) and len({r["value"] for r in repeats}) == 3
    assert fid["num_samples"] == 70 and fid["seeds"] == [0, 209] and fid["implementation"] == "own"
    assert fid["reference"]["id"] == "ref64.npz" and len(fid["reference"]["sha256"]) == 64
    assert fid["details"]["protocol"].startswith("reduced: 70 samples") and fid["details"]["mode"] == "legacy_tensorflow"
    assert fid["extractor"] == "inception-v3-compat-pool64" and (Path(out.strip().splitlines()[-1]).parent / "samples.png").is_file()

    # The first seed set is seeds 0-69, one generator per seed: generated here in one batch of 500
    # instead of the command's batches of 16, the images and so the FID are the same.
    from harness.evaluate import generate
    from harness.metrics.reference import load_npz
    from harness.runner import load_generator

    generator, _ = load_generator(stored_run)
    fake = generate(generator, range(0, 70), (1, 8, 8), 0, torch.device("cpu"), 500, False)
    direct = evaluate(fake, None, ["fid"], inception_pool64, reference=load_npz(tmp_path / "ref64.npz"))
    assert direct[0].value == pytest.approx(repeats[0]["value"], rel=1e-9)


def test_eval_image_folder(digits, pool64_everywhere, inception_input_size, inception_weights: Path, tmp_path: Path,
                           monkeypatch, capsys) -> None:
    from PIL import Image

    inception_input_size(75)  # IS reads the logits: the whole network runs
    folder = tmp_path / "samples" / "000000"  # in a sub-folder, as EDM's --subdirs writes them
    folder.mkdir(parents=True)
    pixels = to_uint8(digits.all_images()[:24])
    for i in range(24):
        Image.fromarray(pixels[i, 0].numpy()).save(folder / f"{i:06d}.png")
    code, out, err = bench(monkeypatch, capsys, "eval", "--samples", str(tmp_path / "samples"), "--dataset", "digits",
                           "--metric", "is", "--num-samples", "20", "--inception-weights", str(inception_weights),
                           "--results", str(tmp_path / "results"), "--device", "cpu", "--quiet")
    assert code == 0, err
    record = json.loads(Path(out.strip().splitlines()[-1]).read_text())
    (value,) = record["metrics"]
    assert value["name"] == "is" and value["num_samples"] == 20 and value["value"] >= 1.0
    assert record["evaluation"]["source"]["kind"] == "samples" and record["evaluation"]["source"]["num_files"] == 20
    assert record["method"] == "samples" and "data" not in record  # IS needs no real images: none were loaded
    assert value["details"]["protocol"].startswith("reduced")


@pytest.mark.parametrize("args, message", [
    (["eval", "--dataset", "digits"], "exactly one of --checkpoint RUN_DIR and --samples DIR"),
    (["eval", "--samples", "{tmp}", "--dataset", "digits", "--fid-impl", "pytorch-fid"], "unknown --fid-impl"),
    (["eval", "--samples", "{tmp}", "--dataset", "digits", "--metric", "kidd"], "unknown metric 'kidd'"),
    (["eval", "--samples", "{tmp}", "--dataset", "digits", "--fid-repeats", "3"], "--fid-repeats needs a generator"),
    (["eval", "--samples", "{tmp}", "--dataset", "digits", "--real-subset", "9:3"], "--real-subset 9:3: expected START:STOP"),
    (["refstats", "--dataset", "digits", "--out", "{tmp}/x.txt"], "--out must name a .npz file"),
])
def test_bad_options_are_usage_errors(args, message, tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = bench(monkeypatch, capsys, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and message in err and "Traceback" not in err, err


def test_refstats_writes_edm_npz_and_caches_by_content(pool64_everywhere, inception_input_size, inception_weights: Path,
                                                      tmp_path: Path, monkeypatch, capsys) -> None:
    import harness.progress

    inception_input_size(16)  # 1797 images: the smallest input the first pooled layer takes
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(harness.progress, "PHASE_DELAY", 0.0)  # a phase reports at once (here it lasts < 2 s)
    args = ["refstats", "--dataset", "digits", "--inception-weights", str(inception_weights), "--device", "cpu"]
    code, out, err = bench(monkeypatch, capsys, *args, "--out", str(tmp_path / "digits.npz"))
    assert code == 0, err
    assert "1797 images" in out and "from cache" not in out
    # The features' progress, one line per 10% in a log (issue #26: 10,000 Fashion-MNIST images take
    # ~27 min on one CPU thread, and this command printed nothing until the end).
    lines = [x for x in err.splitlines() if "real features in" in x]
    assert len(lines) >= 5 and lines[-1].startswith("digits: real features in") and "1,797/1,797 images" in lines[-1]
    code, out, err = bench(monkeypatch, capsys, *args, "--out", str(tmp_path / "quiet.npz"), "--no-cache", "--quiet")
    assert code == 0 and "from cache" not in out and "real features" not in err, err
    code, out, err = bench(monkeypatch, capsys, *args, "--out", str(tmp_path / "again.npz"))
    assert code == 0 and "from cache" in out, err
    with np.load(tmp_path / "digits.npz") as a, np.load(tmp_path / "again.npz") as b:
        assert sorted(a.files) == ["mu", "sigma"] and np.array_equal(a["sigma"], b["sigma"])
    before = (tmp_path / "digits.npz").read_bytes()  # e.g. EDM's own file: never replaced unasked
    code, out, err = bench(monkeypatch, capsys, *args, "--out", str(tmp_path / "digits.npz"), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "exists already; pass --force" in err, err
    assert (tmp_path / "digits.npz").read_bytes() == before
    code, out, err = bench(monkeypatch, capsys, *args, "--out", str(tmp_path / "digits.npz"), "--quiet", "--force")
    assert code == 0 and "from cache" in out, err
    provenance = json.loads((tmp_path / "digits.npz.json").read_text())
    assert provenance["mode"] == "legacy_tensorflow" and provenance["num_images"] == 1797
    assert provenance["extractor_weights_sha256"] == json.loads((tmp_path / "again.npz.json").read_text())["extractor_weights_sha256"]


def test_refstats_of_a_user_zip_feed_eval_ref(digits, pool64_everywhere, inception_input_size, inception_weights: Path,
                                              tmp_path: Path, monkeypatch, capsys) -> None:
    """`bench refstats --dataset zip:PATH` (the user's own data) writes statistics `bench eval --ref` uses;
    an image folder measured against them matches the same folder measured against the zip itself."""
    import io
    import zipfile

    from PIL import Image

    inception_input_size(32)
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    pixels = to_uint8(digits.all_images()[:40])[:, 0].numpy()
    with zipfile.ZipFile(tmp_path / "mine.zip", "w") as archive:
        for i, image in enumerate(pixels):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="png")
            archive.writestr(f"00000/img{i:08d}.png", buffer.getvalue())
    (tmp_path / "fake").mkdir()
    for i, image in enumerate(pixels[::-1][:20]):
        Image.fromarray(255 - image).save(tmp_path / "fake" / f"{i:06d}.png")
    dataset = f"zip:{tmp_path / 'mine.zip'}"
    weights = ["--inception-weights", str(inception_weights), "--device", "cpu"]
    code, out, err = bench(monkeypatch, capsys, "refstats", "--dataset", dataset, "--out", str(tmp_path / "mine.npz"),
                           *weights)
    assert code == 0 and "40 images" in out, err
    values = []
    for extra in (["--ref", str(tmp_path / "mine.npz")], []):
        code, out, err = bench(monkeypatch, capsys, "eval", "--samples", str(tmp_path / "fake"), "--dataset", dataset,
                               "--metric", "fid", *extra, *weights, "--results", str(tmp_path / "r"), "--quiet")
        assert code == 0, err
        values.append(json.loads(Path(out.strip().splitlines()[-1]).read_text())["metrics"][0]["value"])
    assert values[0] == pytest.approx(values[1], rel=1e-9) and values[0] > 0


def test_eval_builds_only_the_networks_its_metrics_read(digits, tmp_path: Path, monkeypatch, capsys) -> None:
    """No Inception anywhere (offline, empty weights folder): fd and pr in the digits classifier's
    space are measured; fd-dinov2 fails on DINOv2's own missing files, not on Inception's."""
    from PIL import Image

    monkeypatch.delenv("BENCH_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "s").mkdir()
    for i, image in enumerate(to_uint8(digits.all_images()[:30])[:, 0].numpy()):
        Image.fromarray(image).save(tmp_path / "s" / f"{i:06d}.png")
    common = ["--samples", str(tmp_path / "s"), "--dataset", "digits", "--weights-dir", str(tmp_path / "w"),
              "--results", str(tmp_path / "r"), "--quiet"]
    code, out, err = bench(monkeypatch, capsys, "eval", *common, "--metric", "fd", "--metric", "pr")
    assert code == 0, err
    record = json.loads(Path(out.strip().splitlines()[-1]).read_text())
    assert [m["name"] for m in record["metrics"]] == ["fd", "precision", "recall"]
    assert {m["extractor"] for m in record["metrics"]} == {"digits-classifier"}
    assert [e["name"] if isinstance(e, dict) else e for e in record["evaluation"]["extractors"]] == ["digits-classifier"]
    code, _, err = bench(monkeypatch, capsys, "eval", *common, "--metric", "fd-dinov2")
    assert code != 0 and "DINOv2" in err and "nception" not in err
    # --real-subset: the real side is that part of the dataset, named in the record (issue #24 item 7).
    code, out, err = bench(monkeypatch, capsys, "eval", *common, "--metric", "fd", "--real-subset", "0:100")
    assert code == 0, err
    record = json.loads(Path(out.strip().splitlines()[-1]).read_text())
    assert record["data"]["name"] == "digits:0:100" and record["data"]["num_images"] == 100
    assert record["evaluation"]["real_subset"] == "0:100" and record["metrics"][0]["reference"]["id"] == "digits:0:100"
    code, _, err = bench(monkeypatch, capsys, "eval", *common, "--metric", "fd", "--real-subset", "first-half")
    assert code == 2 and "not a subset of digits" in err and "Traceback" not in err, err
    for metric, part, least in (("fd", "0:1", 2), ("pr", "0:3", 4)):  # refused before measuring, naming the flag
        code, _, err = bench(monkeypatch, capsys, "eval", *common, "--metric", metric, "--real-subset", part)
        assert code == 2 and f"--real-subset {part}: " in err and f"need at least {least}" in err, err


def test_a_ref_of_another_dimension_is_refused_before_any_sample(stored_run: Path, pool64_everywhere,
                                                                 inception_weights: Path, tmp_path: Path,
                                                                 monkeypatch, capsys) -> None:
    """A --ref whose dimension is not the Inception features' failed (exit 1) only after every sample
    was generated; it is a usage error found before any work (exit 2)."""
    np.savez(tmp_path / "ref32.npz", mu=np.zeros(32), sigma=np.eye(32))
    code, out, err = bench(monkeypatch, capsys, "eval", "--checkpoint", str(stored_run), "--metric", "fid",
                           "--ref", str(tmp_path / "ref32.npz"), "--num-samples", "70", "--device", "cpu",
                           "--inception-weights", str(inception_weights), "--results", str(tmp_path / "r"))
    assert code == 2 and "32-d statistics, but FID's Inception features are 64-d" in err, err
    assert "generating" not in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("make, message", [
    (lambda folder: None, "not a directory"),
    (lambda folder: (folder.mkdir(), (folder / "notes.txt").write_text("x")), "no image files"),
])
def test_a_samples_folder_without_images_is_refused_before_any_network_loads(make, message, tmp_path, monkeypatch,
                                                                             capsys) -> None:
    """Inception alone took ~2 s to build (torch-fidelity's import) before a mistyped --samples was noticed;
    a usage error (exit 2), as a mistyped --results is."""
    import harness.metrics as metrics
    import harness.metrics.inception as inception

    def no_network(*args, **kwargs):
        raise AssertionError("a feature network was built before --samples was checked")

    monkeypatch.setattr(inception, "InceptionExtractor", no_network)
    monkeypatch.setattr(metrics, "load_extractor", no_network)
    make(tmp_path / "samples")
    code, _, err = bench(monkeypatch, capsys, "eval", "--samples", str(tmp_path / "samples"), "--dataset", "digits",
                         "--metric", "fid", "--metric", "fd", "--results", str(tmp_path / "r"))
    assert code == 2 and err.startswith("error: --samples ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()
