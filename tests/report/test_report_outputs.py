"""`bench report` on synthetic records: reproducible bytes, separate columns per measurement, traceable
published numbers, explicit notes for missing inputs, and unusable records named but not fatal."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from harness.report import build_report
from harness.report.published import load_published
from report_fixtures import mismatch_record, run_record, snapshot, synthetic_records, write_records

REPO_ROOT = Path(__file__).resolve().parents[2]

TABLES = ("one_step", "figure_1a", "curves", "samples", "freeze_ablation", "mismatch", "spectrum", "cost", "tuned", "claims",
          "runs")


def special_records() -> list[dict]:
    """digits gan_only measured three ways: own n=2000 (two seeds), torch-fidelity n=2000, own n=500."""
    return [run_record(5000, "gan_only", case=5, seed=0, fd=2.0, budget_kimg=50.0),
            run_record(5001, "gan_only", case=5, seed=1, fd=4.0, budget_kimg=50.0),
            run_record(5002, "gan_only", case=5, seed=0, fd=7.0, implementation="torch-fidelity", budget_kimg=50.0),
            run_record(5003, "gan_only", case=5, seed=0, fd=9.0, num_samples=500, budget_kimg=50.0),
            run_record(5004, "gan_only_frozen", case=4, seed=0, fd=1.5, budget_kimg=6000.0, freeze_level=1)]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """One synthetic results folder reported twice into two folders."""
    root = tmp_path_factory.mktemp("report")
    # CIFAR-10, AFHQv2, ImageNet and digits: every table and case, with few figure panels (fast).
    results = write_records(root / "results", synthetic_records(80, cases=(0, 2, 4, 5)) + special_records())
    _, problems = build_report(results, root / "a")
    build_report(results, root / "b")
    return root / "a", root / "b", problems


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def section(markdown: str, title: str) -> str:
    start = markdown.index(f"## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start:end if end > 0 else None]


def test_every_format_is_written_and_a_rerun_is_byte_identical(built):
    a, b, problems = built
    assert problems == []
    files_a, files_b = snapshot(a), snapshot(b)
    figures = {f"{name}.{ext}" for name in ("figure_1a", "curves", "samples", "spectrum") for ext in ("png", "pdf")}
    expected = {f"{t}.{ext}" for t in TABLES for ext in ("md", "tex", "csv")} | figures | {"README.md", "index.html"}
    assert set(files_a) == expected
    assert files_a == files_b
    assert files_a["figure_1a.png"].startswith(b"\x89PNG") and b"Software" not in files_a["figure_1a.png"]
    assert b"\\toprule" in files_a["one_step.tex"] and b"\\bottomrule" in files_a["cost.tex"]


def test_different_implementations_and_sample_counts_never_share_a_column(built):
    a, _, _ = built
    digits = section((a / "one_step.md").read_text(), "digits 8x8 (offline)")
    header = next(line for line in digits.splitlines() if line.startswith("| method"))
    value_columns = [c.strip() for c in header.split("|") if c.strip().endswith("mean ± std")]
    assert any("· own · n=2000 ·" in c for c in value_columns)
    assert any("· torch-fidelity · n=2000 ·" in c for c in value_columns)
    assert any("· own · n=500 ·" in c for c in value_columns)
    assert len(value_columns) == len(set(value_columns))
    rows = [r for r in read_csv(a / "one_step.csv") if r["dataset"] == "digits" and r["bench_method"] == "gan_only"
            and r["budget_kimg"] == "50.0" and r["num_samples"] in ("2000", "500")]
    by_key = {(r["implementation"], r["num_samples"]): r for r in rows}
    # The synthetic records add other digits gan_only runs at 50 kimg; the special ones set the values
    # apart from them only by how they were measured, so each measurement's mean must be its own.
    assert float(by_key[("torch-fidelity", "2000")]["reproduced_mean"]) == 7.0
    assert float(by_key[("own", "500")]["reproduced_mean"]) == 9.0
    assert len({r["measurement"] for r in rows}) == len(rows)


def test_protocol_measurement_gets_a_difference_and_others_say_not_comparable(built):
    a, _, _ = built
    rows = read_csv(a / "one_step.csv")
    imagenet = [r for r in rows if r["dataset"] == "imagenet-64" and r["bench_method"] == "gan_only_frozen"
                and r["budget_kimg"] == "6000.0"]
    assert imagenet and all(r["reported_entry"] == "imagenet-64/D2O-F/fid" for r in imagenet)
    assert all(abs(float(r["difference"]) - (float(r["reproduced_mean"]) - 1.16)) < 1e-12 for r in imagenet)
    afhq = [r for r in rows if r["dataset"] == "afhqv2-64" and r["reported_entry"] and r["measurement"]]
    assert afhq and all(r["difference"] == "n/c" for r in afhq)  # 10k samples: not the published protocol


def footnote_entries(markdown: str) -> dict[str, str]:
    return dict(re.findall(r"^- \[(\d+)\] ([^:]+): ", markdown, flags=re.M))


def test_every_reported_number_traces_to_a_sourced_entry(built):
    a, _, _ = built
    published = load_published()
    entries = {e.id: e for e in published.entries}
    checked = 0
    for table in TABLES:
        markdown = (a / f"{table}.md").read_text()
        notes = footnote_entries(markdown)
        body = markdown.split("## Sources of the reported numbers")[0]
        for value, number in re.findall(r"(\S+) \[(\d+)\]", body):  # '1.54 [3]': value and footnote
            assert value == entries[notes[number]].shown(), (table, value, notes[number])
            checked += 1
        for row in read_csv(a / f"{table}.csv"):
            for column, entry_id in row.items():
                if not (column.endswith("entry") and entry_id):
                    continue
                entry = entries[entry_id]
                value_column = {"reported_entry": "reported", "entry": "fd", "frozen_share_entry": "frozen_share_reported",
                                "reported_fid_entry": "reported_fid"}[column]
                assert row[value_column] == (entry.value or ""), (table, column, entry_id)
                if column == "entry":  # a Figure 1A point: its position is published too
                    assert row["train_images"] == str(entry.train_images or ""), entry_id
                checked += 1
            for alternate in filter(None, (row.get("also_reported") or "").split(";")):
                entry_id, value = alternate.split("=")
                assert entries[entry_id].shown() == value
    for entry in entries.values():
        source = published.sources[entry.source]
        assert entry.status == "reported" and entry.where and entry.hand in ("first-hand", "second-hand")
        assert source.title and (source.arxiv or source.kind == "count")
    assert checked > 50


def test_published_data_carries_its_sources_and_agrees_with_itself():
    """baselines/published.json stands on its own: every number names a source it can be checked in,
    and the entries agree with each other (the corrections of issue #17 included)."""
    from baselines import METHODS
    from harness.report.inputs import DEFAULT_BACKBONES as PUBLISHED_BACKBONES

    published = load_published()
    raw = json.loads((REPO_ROOT / "baselines" / "published.json").read_text())
    assert not re.search(r"\w\.md\b", json.dumps(raw))  # sources are papers and repositories, never a local file
    by_id = {e.id: e for e in published.entries}
    for e in published.entries:
        source = published.sources[e.source]
        assert source.title and (source.arxiv or source.kind == "count"), e.id
        assert e.where and e.hand in ("first-hand", "second-hand"), e.id
        assert e.value is not None or (e.low and e.high) or "no D2O number" in e.note, e.id
        assert e.harness_method is None or e.harness_method in METHODS.names(), e.id
    # One (dataset, method) has one published value per source: the paper and the README may differ.
    seen = {}
    for e in published.select("fid"):
        key = (e.dataset, e.method, e.source, e.backbone)
        assert seen.setdefault(key, e.shown()) == e.shown(), key
    # Figure 1A points are the FIDs and training images of the same methods in the tables.
    for point in published.select("figure-1a"):
        if point.method in ("D2O", "D2O-F"):
            fid = by_id[f"imagenet-64/{point.method}/fid"]
            assert (point.value, point.train_images) == (fid.value, fid.train_images), point.id
    assert by_id["imagenet-64/figure-1a/D2O-F"].train_images == 6_000_000  # one figure for ImageNet
    # AFHQv2: the paper's D2O is 1.23; the README's 1.24 is its D2O-F row.
    assert by_id["afhqv2-64/D2O/fid"].value == "1.23" and "afhqv2-64/D2O/fid/readme" not in by_id
    assert by_id["afhqv2-64/D2O-F/fid/readme"].value == "1.24"
    assert by_id["cifar10-uncond/SiD/fid"].train_images == 400_000_000
    # Teachers: the one beside D2O's runs is the backbone D2O fine-tunes (VE at 32 and 64 but ImageNet).
    for e in published.select("fid"):
        if e.harness_method == "teacher":
            assert e.nfe == (79 if e.dataset.endswith("-64") else 35), e.id
            assert e.backbone and e.backbone.split("-")[-1] in ("ve", "vp", "adm"), e.id
            if e.backbone == PUBLISHED_BACKBONES.get(e.dataset):
                assert "VE" in e.where or "ADM" in e.where, e.id
    assert (by_id["afhqv2-64/EDM teacher/fid"].value, by_id["ffhq-64/EDM teacher/fid"].value) == ("2.16", "2.53")
    assert by_id["afhqv2-64/EDM teacher (VP)/fid"].backbone.endswith("-vp")
    # Second-hand numbers name their primary source, or say they are unverified.
    for e in published.entries:
        if e.hand == "second-hand" and e.quantity == "fid" and e.source == "d2o-paper" and not e.primary:
            assert "unverified" in e.note or "not recorded" in e.note or e.method.startswith("D2O"), e.id
    assert by_id["cifar10-uncond/PD/fid"].primary == "cm"
    assert "unverified" in by_id["cifar10-cond/DMD2/fid"].note
    # bench's CD (pseudo-Huber) and DMD2-style dmd stand beside the matching published variants only.
    for e in published.entries:
        if "LPIPS" in e.method or e.method == "DMD":
            assert e.harness_method is None, e.id
        if e.harness_method == "dmd":
            assert e.method.startswith("DMD2"), e.id
    # Frozen shares per level and architecture, parameters in millions.
    for arch in raw["architecture_names"]:
        shares = [float(e.value) for e in published.select("frozen_share", arch)]
        assert len(shares) == 3 and shares == sorted(shares) and all(0.5 < v < 1 for v in shares), arch
        (params,) = published.select("parameters", arch)
        assert params.value in raw["architecture_names"][arch]


def test_missing_inputs_are_announced_not_dropped(tmp_path):
    (tmp_path / "results").mkdir()
    written, problems = build_report(tmp_path / "results", tmp_path / "out")
    assert problems == [] and all(p.is_file() for p in written)
    out = {t: (tmp_path / "out" / f"{t}.md").read_text() for t in TABLES}
    assert "no stored runs for CIFAR-10 32x32, unconditional yet: run `bench run --method gan_only --dataset cifar10`" in out["one_step"]
    assert "1.54 [" in out["one_step"]  # the published numbers are still shown
    assert "no stored ImageNet 64 one-step runs measured like the paper yet" in out["figure_1a"]
    assert "no stored D2O-F runs for digits 8x8 (offline) yet" in out["freeze_ablation"]
    assert "no stored teacher–student mismatch analyses yet: run `bench analyze mismatch" in out["mismatch"]
    assert "no stored spectrum analyses yet: run `bench analyze spectrum" in out["spectrum"]
    assert "no stored runs for FFHQ 64x64 yet" in out["cost"]
    assert "no readable records in the results directory yet" in out["runs"]
    assert "no stored runs with a samples.png yet: run `bench run --method gan_only --dataset digits`" in out["samples"]


def test_corrupt_and_failed_records_are_named_and_the_rest_used(tmp_path):
    good = [run_record(i, "gan_only", case=5, seed=i, budget_kimg=50.0) for i in range(3)]
    failed = run_record(9, "dmd", case=5)
    failed.update(status="failed", metrics=[], failure={"reason": "loss_g is nan", "step": 4, "images_seen": 512})
    half_analysis = mismatch_record(7)
    del half_analysis["results"]
    results = write_records(tmp_path / "results", good + [failed, half_analysis])
    broken = results / "broken-run"
    broken.mkdir()
    (broken / "record.json").write_text('{"schema_version": 1, "run_id": ')
    no_dataset = results / "odd-run"
    no_dataset.mkdir()
    (no_dataset / "record.json").write_text(json.dumps({"schema_version": 1, "run_id": "odd", "status": "completed"}))
    _, problems = build_report(results, tmp_path / "out", figures=False)  # tables only
    text = "\n".join(problems)
    assert "broken-run/record.json: unreadable record" in text
    assert f"{failed['run_id']}/record.json: failed run (loss_g is nan)" in text
    assert "odd-run/record.json: malformed record" in text
    assert f"{half_analysis['run_id']}/record.json: malformed record (KeyError: 'results')" in text
    index = (tmp_path / "out" / "README.md").read_text()
    assert "broken-run/record.json: unreadable record" in index and str(tmp_path) not in index
    rows = [r for r in read_csv(tmp_path / "out" / "one_step.csv") if r["dataset"] == "digits"]
    assert rows and rows[0]["runs"] == "3"
    runs_csv = read_csv(tmp_path / "out" / "runs.csv")
    assert {r["status"] for r in runs_csv} == {"completed", "failed"} and len(runs_csv) == 6


def test_no_figures_writes_the_same_tables_and_links_no_figure(built, tmp_path):
    """`bench report --no-figures`: every table and the index, byte for byte the tables a full report
    writes, without PNG or PDF (most of the time), and no page that links one."""
    from helpers import run_main_in_process

    full = built[0]
    done = run_main_in_process("report", "--results", str(full.parent / "results"), "--out", str(tmp_path / "t"),
                               "--no-figures")
    assert done.returncode == 0, done.stderr
    files = snapshot(tmp_path / "t")
    assert set(files) == {f"{t}.{ext}" for t in TABLES for ext in ("md", "tex", "csv")} | {"README.md", "index.html"}
    with_figures = snapshot(full)
    assert all(files[name] == with_figures[name] for name in files if name.endswith((".csv", ".tex")))
    links = re.compile(r'(?:src|href)="[^"]*\.(?:png|pdf)"|\]\([^)]*\.(?:png|pdf)\)|`[\w-]+\.(?:png|pdf)`')
    for name in ("index.html", "README.md", "figure_1a.md", "samples.md"):
        assert links.search(with_figures[name].decode()), f"{name} links its figure in a full report"
        assert not links.search(files[name].decode()), name
