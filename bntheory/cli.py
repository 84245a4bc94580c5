"""The ``bntheory`` command: ``list`` and ``verify`` the registered results, the transfer ``matrix``, a ``study``.

Exit codes: 0 when every gating result passed and every negative control was rejected, 1 when any
did not (or a worker process died), 2 on a usage error (unknown id, unavailable backend, unwritable path),
130 when interrupted (Ctrl-C) — always with a one-line message, never a traceback. Every argument and output
path is checked before any check runs. An interrupted run, or one whose worker died, still prints and writes
(``--json``) the results finished so far, marked incomplete.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, NoReturn

from bntheory import __version__, backend, discovery, registry, report, runner
from bntheory._io import publish_directory, write_bytes_atomic, write_text_atomic
from bntheory.context import SIZES, Context
from bntheory.run import ResultReport

__all__ = ["command", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bntheory`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"bntheory: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bntheory: interrupted", file=sys.stderr)
        return 130
    finally:
        if getattr(args, "workers", None) is not None:  # also when the command ended before its run
            args.workers.close()


def command() -> NoReturn:
    """The console script: :func:`main`, then an exit that skips the interpreter's teardown.

    Once PyTorch and SymPy are loaded, tearing the interpreter down takes 0.5-1 s of CPU (measured) and serves no
    command: every output is written atomically before :func:`main` returns. The exit handlers still run (they end
    worker processes and remove temporary files) and the standard streams are flushed. A reader of the output that
    went away (``bntheory list | head -1``) ends the command quietly with exit code 1, as Python's documentation on
    SIGPIPE advises, instead of a traceback.
    """
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null, so that no later flush (exit handlers) meets the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    atexit._run_exitfuncs()
    sys.stderr.flush()
    os._exit(code)


class UsageError(Exception):
    """A problem with what the user asked for, reported in one line with exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bntheory", description="Check the theory of batch normalization.")
    parser.add_argument("--version", action="version", version=f"bntheory {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    # Where results come from besides the package and the installed entry points: shared by every command.
    with_args = argparse.ArgumentParser(add_help=False)
    with_args.add_argument(
        "--with",
        dest="sources",
        action="append",
        default=[],
        metavar="PATH",
        help="also load the results stated in PATH (a .py file or an importable module); repeatable",
    )

    p_list = sub.add_parser(
        "list", parents=[with_args], help="list the registered results (id, tag, title, citation, origin)"
    )
    p_list.set_defaults(func=_cmd_list)

    p_table = sub.add_parser(
        "table", parents=[with_args], help="print the Markdown table of the results, or update it in a file"
    )
    p_table.add_argument(
        "--update", metavar="FILE", help="replace the table in FILE (the README) in place, atomically"
    )
    p_table.set_defaults(func=_cmd_table)

    # What sizes a run: shared by verify, report and matrix; verify and report also select (--only).
    size_args = argparse.ArgumentParser(add_help=False, parents=[with_args])
    size_args.add_argument(
        "--backend",
        default="numpy",
        choices=backend.BACKENDS,
        help="array backend for the numeric checks (default: numpy)",
    )
    size_args.add_argument(
        "--seed", type=_nonnegative_int, default=0, metavar="N", help="base seed of every random draw (default: 0)"
    )
    size_args.add_argument(
        "--size",
        choices=SIZES,
        help="problem sizes: quick (seconds), default (the default), or large (THEORY.md's reference sizes)",
    )
    size_args.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="processes (default: the usable cores, at most 8; 1 for --backend cupy)",
    )
    run_args = argparse.ArgumentParser(add_help=False, parents=[size_args])
    run_args.add_argument(
        "--only", nargs="+", action="extend", metavar="ID", help="result ids or paper prefixes; repeatable"
    )
    run_args.add_argument(
        "--scheduler", metavar="ADDR", help="run on this Dask scheduler (tcp://host:8786), one task per results module"
    )

    p_verify = sub.add_parser(
        "verify", parents=[run_args], help="run the symbolic and numeric checks and the negative controls"
    )
    p_verify.add_argument("--json", metavar="PATH", help="also write the results as JSON (atomically)")
    p_verify.add_argument("--quick", action="store_true", help="same as --size quick")
    p_verify.add_argument("--figures", metavar="DIR", help="also save the results' figures (PNG) into DIR")
    p_verify.set_defaults(func=_cmd_verify)

    p_report = sub.add_parser(
        "report", parents=[run_args], help="run verify and write a self-contained HTML report and its JSON"
    )
    p_report.add_argument("--out", default="report", metavar="DIR", help="output directory (default: report)")
    p_report.set_defaults(func=_cmd_report)

    p_matrix = sub.add_parser(
        "matrix",
        parents=[size_args],
        help="the transfer matrix (THEORY-2.md §9.4): normalizations x result families, from a run or a verify JSON",
    )
    p_matrix.add_argument(
        "--json",
        metavar="PATH",
        help="read the statuses from this verify --json document instead of running the matrix's results",
    )
    p_matrix.add_argument("--quick", action="store_true", help="same as --size quick")
    p_matrix.set_defaults(func=_cmd_matrix, only=None)

    p_study = sub.add_parser(
        "study", help="run a convergence study (problems x methods x seeds) and its verdicts per cell"
    )
    p_study.add_argument("spec", metavar="SPEC.toml", help="the study's declaration (see examples/studies/)")
    p_study.add_argument("--out", metavar="DIR", help="output directory (default: study-<name>)")
    p_study.add_argument(
        "--scheduler", metavar="ADDR", help="run on this Dask scheduler (tcp://host:8786), one task per run"
    )
    p_study.add_argument("--resume", action="store_true", help="continue the study cached in --out: compute the rest")
    p_study.add_argument("--smoke", action="store_true", help="every problem x method once, at smoke size (seconds)")
    p_study.add_argument("--jobs", type=_positive_int, metavar="N", help="local processes (default: 1)")
    p_study.add_argument(
        "--format",
        choices=("parquet", "csv"),
        help="results table format (default: Parquet if pyarrow is installed, else CSV)",
    )
    p_study.add_argument("--no-figures", action="store_true", help="skip summary.html and its PNGs (matplotlib)")
    p_study.set_defaults(func=_cmd_study)

    p_nb = sub.add_parser("notebooks", parents=[with_args], help="convert proofs/*.py to notebooks and execute them")
    p_nb.add_argument("--out", default="notebooks", metavar="DIR", help="output directory (default: notebooks)")
    p_nb.add_argument("--proofs", default="proofs", metavar="DIR", help="directory of the proofs (default: proofs)")
    p_nb.add_argument(
        "--only", nargs="+", action="extend", metavar="ID", help="result ids, paper prefixes or proof file stems"
    )
    p_nb.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds (default: 600)")
    p_nb.set_defaults(func=_cmd_notebooks)
    return parser


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _cmd_list(args: argparse.Namespace) -> int:
    found = _discovered(args)
    width = max(len(r.id) for r in found)
    for r in found:
        origin = registry.origin_of(r)
        extra = "" if origin == discovery.BUILTIN else f"  [from {origin}]"
        print(f"{r.id:<{width}}  [{r.tag}]  {r.title}  ({r.citation}){extra}")
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    found = _discovered(args)
    table = report.markdown_table(found)
    if args.update is None:
        print(table)
        return 0
    try:
        text = Path(args.update).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--update: cannot read {args.update}: {exc.strerror or exc}") from None
    lines = text.split("\n")
    head = table.split("\n")[0]
    start = next((i for i, line in enumerate(lines) if line == head), None)
    if start is None:
        raise UsageError(f"--update: {args.update} has no table starting with {head!r}; paste one first")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines[start:end] = table.split("\n")
    write_text_atomic(args.update, "\n".join(lines))
    print(f"updated the table in {args.update} ({len(found)} results)")
    return 0


def _discovered(args: argparse.Namespace, ids: Sequence[str] | None = None) -> list[registry.Result]:
    try:
        return discovery.get(ids, args.sources) if ids else discovery.all_results(args.sources)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    except discovery.DiscoveryError as exc:
        raise UsageError(str(exc)) from None


def _selection(args: argparse.Namespace) -> tuple[list[registry.Result], Context]:
    if getattr(args, "quick", False):
        if args.size not in (None, "quick"):
            raise UsageError(f"--quick and --size {args.size} contradict each other; give one of them")
        args.size = "quick"
    args.size = args.size or "default"
    if getattr(args, "scheduler", None) is not None:
        if args.jobs is not None:
            raise UsageError("--jobs sizes local processes and --scheduler sends the work to a cluster; give one")
        if "://" not in args.scheduler:
            raise UsageError(f"--scheduler: expected an address such as tcp://host:8786, got {args.scheduler!r}")
    args.jobs = _jobs(args)
    args.workers = _workers_ahead(args)
    chosen = _discovered(args, args.only)
    try:
        ctx = Context.of(args.backend, seed=args.seed, size=args.size)
    except (backend.BackendUnavailableError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return chosen, ctx


def _workers_ahead(args: argparse.Namespace) -> runner.Workers | None:
    """The run's worker processes, started before discovery, so that their start-up overlaps it.

    They import PyTorch meanwhile, which nearly every full run needs. The run closes them, or :func:`main` if the
    command ends before its run (a usage error).
    """
    if args.jobs <= 1 or getattr(args, "scheduler", None) is not None:
        return None
    return runner.start_workers(args.jobs - 1, preload=("torch",) if importlib.util.find_spec("torch") else ())


def _jobs(args: argparse.Namespace) -> int:
    """The processes to use: the default, or the asked number capped at the usable cores (more only contend)."""
    if args.jobs is None:
        return runner.default_jobs(args.backend)
    cores = _cores()
    if args.jobs > cores:
        print(f"bntheory: note: --jobs {args.jobs} capped to the {cores} usable core(s)", file=sys.stderr)
        return cores
    return args.jobs


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _output_file(path: str | None, flag: str) -> None:
    """Refuse, before anything runs, an output file that could not be written."""
    if path is None:
        return
    if not path or path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise UsageError(f"{flag}: {path!r} is not a file name; give one such as {flag} verify.json")
    _writable_directory(os.path.dirname(path) or ".", flag)


def _writable_directory(directory: str, flag: str) -> None:
    """Refuse, before anything runs, a directory that cannot be created or written."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(f"{flag}: {directory!r} exists and is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot create {directory!r}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: {directory!r} is not writable")


class _Run(NamedTuple):
    reports: list[ResultReport]
    elapsed: float
    #: Why the run ended early ("" when it is complete), for the message and the JSON.
    incomplete: str
    #: The exit code an early end imposes (0 when complete).
    code: int


def _run(
    results: Sequence[registry.Result],
    ctx: Context,
    jobs: int,
    scheduler: str | None = None,
    workers: runner.Workers | None = None,
) -> _Run:
    finished: dict[str, ResultReport] = {}

    def progress(done: int, total: int, rep: ResultReport, seconds: float) -> None:
        finished[rep.result.id] = rep
        print(f"[{done}/{total}] {rep.result.id} ... {rep.status} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    client = _dask_client(scheduler) if scheduler is not None else None
    start = time.perf_counter()
    try:
        reports = runner.run_all(results, ctx, jobs=jobs, progress=progress, scheduler=client, workers=workers)
        return _Run(reports, time.perf_counter() - start, "", 0)
    except (KeyboardInterrupt, runner.WorkerDied) as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        kept = [finished[r.id] for r in results if r.id in finished]
        print(f"bntheory: {why}; {len(kept)} of {len(results)} results finished", file=sys.stderr)
        return _Run(kept, time.perf_counter() - start, why, 130 if isinstance(exc, KeyboardInterrupt) else 1)
    finally:
        if client is not None:
            client.close()


def _cmd_verify(args: argparse.Namespace) -> int:
    _output_file(args.json, "--json")
    if args.figures is not None:
        if not args.figures:
            raise UsageError("--figures: give a directory, such as --figures figures")
        _writable_directory(args.figures, "--figures")
    chosen, ctx = _selection(args)
    reports, elapsed, incomplete, code = _run(chosen, ctx, args.jobs, args.scheduler, args.workers)
    print(report.format_table(reports))
    print(f"\n{report.summary(reports)} in {elapsed:.1f} s (backend {args.backend}, seed {args.seed})")
    if args.json:
        meta = {"version": __version__, "backend": args.backend, "seed": args.seed, "size": args.size}
        text = report.to_json(reports, **meta, incomplete=incomplete)
        try:
            path = write_text_atomic(args.json, text)
        except OSError as exc:
            raise UsageError(f"--json: cannot write {args.json}: {exc.strerror or exc}") from None
        print(f"wrote {path}")
    if code:
        return code
    if args.figures:
        _save_figures(chosen, ctx, args.figures)
    return 1 if any(r.status == "failed" for r in reports) else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bntheory.plots import image_bytes, ratio_histograms

    if not args.out:
        raise UsageError("--out: give a directory, such as --out report")
    _writable_directory(os.path.dirname(os.path.abspath(args.out)), "--out")
    chosen, ctx = _selection(args)
    reports, elapsed, incomplete, code = _run(chosen, ctx, args.jobs, args.scheduler, args.workers)
    figures = {}
    if panels := report.ratio_panels(reports):
        figures["worst-case ratios"] = image_bytes(ratio_histograms(panels))
    figures.update((name, image_bytes(fig)) for name, fig in _figures(chosen, ctx))
    meta = {"version": __version__, "backend": args.backend, "seed": args.seed, "size": args.size}
    files = {
        "report.html": report.to_html(reports, figures, seconds=elapsed, **meta).encode(),
        "verify.json": report.to_json(reports, **meta, incomplete=incomplete).encode(),
    }
    try:
        out = publish_directory(args.out, files)
    except OSError as exc:
        raise UsageError(f"--out: cannot write into {args.out}: {exc.strerror or exc}") from None
    print(f"{report.summary(reports)} in {elapsed:.1f} s; wrote {out / 'report.html'} and {out / 'verify.json'}")
    return code or (1 if any(r.status == "failed" for r in reports) else 0)


def _cmd_matrix(args: argparse.Namespace) -> int:
    from bntheory import matrix  # as the other commands' optional parts: imported where used

    if args.json is not None:
        if args.quick or args.size is not None or args.jobs is not None:
            raise UsageError(
                "--json reads a finished run; --quick, --size and --jobs size a new one: give one or the other"
            )
        try:
            doc = json.loads(Path(args.json).read_text(encoding="utf-8"))
            table = matrix.matrix(doc)
        except OSError as exc:
            raise UsageError(f"--json: cannot read {args.json}: {exc.strerror or exc}") from None
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise UsageError(f"--json: {args.json} is not a verify --json document: {exc}") from None
        print(table.format())
        return 1 if any(c.status == "failed" for row in table.cells.values() for c in row.values()) else 0
    chosen, ctx = _selection(args)
    wanted = set(matrix.result_ids())
    chosen = [r for r in chosen if r.id in wanted]
    reports, elapsed, _, code = _run(chosen, ctx, args.jobs, workers=args.workers)
    print(matrix.matrix(reports).format())
    print(f"\n{report.summary(reports)} in {elapsed:.1f} s (backend {args.backend}, seed {args.seed})")
    return code or (1 if any(r.status == "failed" for r in reports) else 0)


def _cmd_notebooks(args: argparse.Namespace) -> int:
    try:
        from bntheory import notebooks
    except ImportError as exc:  # pragma: no cover - the extra is installed in the test environment
        raise UsageError(f"notebooks need the 'notebooks' extra: pip install 'bntheory[notebooks]' ({exc})") from None
    if not os.path.isdir(args.proofs):
        raise UsageError(f"--proofs: no directory {args.proofs!r}; run from the repository root or pass --proofs")
    try:
        files = notebooks.proof_files(args.proofs, args.only or (), sources=args.sources)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    except discovery.DiscoveryError as exc:
        raise UsageError(str(exc)) from None
    start = time.perf_counter()
    for i, proof in enumerate(files, 1):
        print(f"[{i}/{len(files)}] {proof.name} ", end="", file=sys.stderr, flush=True)
        try:
            path = notebooks.build(proof, args.out, timeout=args.timeout)
        except notebooks.NotebookError as exc:
            print(f"\nbntheory: notebook failed: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {path}")
    print(f"{len(files)} notebook(s) executed in {time.perf_counter() - start:.1f} s")
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from bntheory import study  # as the other commands' optional parts: imported where used
    from bntheory.study.progress import progress_bar

    if (args.jobs or 1) > 1 and args.scheduler is None:
        # Started first, their start-up overlaps the reading of the spec; the run, or main(), closes them.
        args.workers = study.start_workers(args.jobs)
    try:
        declared = study.load_study(args.spec)
    except OSError as exc:
        raise UsageError(f"{args.spec}: cannot read the spec: {exc.strerror or exc}") from None
    except study.SpecError as exc:
        raise UsageError(f"{args.spec}: {exc}") from None
    if args.smoke:
        declared = declared.smoke()
    out = Path(args.out if args.out is not None else f"study-{declared.name}")
    if not str(out):
        raise UsageError("--out: give a directory, such as --out study")
    created = not out.exists()
    _writable_directory(str(out), "--out")
    cache = out / "cache"
    if not args.resume and len(study.Cache(cache)):
        raise UsageError(f"--out: {out} holds a study's cache; pass --resume to continue it, or another --out")
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("--format parquet needs pyarrow: pip install 'bntheory[study]'") from None
    client = None
    if args.scheduler is not None:
        if args.jobs is not None:
            raise UsageError("--jobs sizes local processes and --scheduler sends the runs to a cluster; give one")
        try:
            client = _dask_client(args.scheduler)
        except UsageError:
            if created:  # nothing ran: leave no empty output directory behind
                out.rmdir()
            raise
    runs = declared.runs()
    print(
        f"study {declared.name}: {len(declared.cells())} cells x {declared.repetitions} repetitions = "
        f"{len(runs)} runs ({declared.skipped()} problem x method pairs skipped: the method does not apply)",
        file=sys.stderr,
    )
    start = time.perf_counter()
    try:
        with progress_bar(len(runs)) as bar:
            result = study.run_study(
                declared,
                cache=cache,
                resume=args.resume,
                jobs=args.jobs or 1,
                scheduler=client,
                progress=bar,
                workers=getattr(args, "workers", None),
            )
    finally:
        if client is not None:
            client.close()
    elapsed = time.perf_counter() - start
    table_path = result.table.write(out / "results", fmt=args.format)
    verdicts_text, summary = study.format_verdicts(result.verdicts), study.format_summary(result.verdicts)
    write_text_atomic(out / "verdicts.txt", verdicts_text + "\n")
    write_text_atomic(out / "summary.txt", summary + "\n")
    footer = (
        f"{result.computed} runs computed, {result.cached} read from the cache, in {elapsed:.1f} s; wrote "
        f"{table_path} ({len(result.table)} rows), {out / 'verdicts.txt'} and {out / 'summary.txt'}"
    )
    if not args.no_figures:
        _study_figures(declared.name, result, out, summary, verdicts_text, footer)
        footer += f", {out / 'summary.html'} and its PNGs"
    print(verdicts_text)
    print(f"\n{summary}\n")
    print(footer)
    # The theorems' own claims (exponent 1) gate; faster claims are the controls, expected to fail.
    bad = [v for v in result.verdicts if v.status == "error" or (v.status == "failed" and v.exponent == 1.0)]
    return 1 if bad else 0


def _study_figures(name: str, result, out: Path, summary: str, verdicts_text: str, footer: str) -> None:
    from bntheory.plots import image_bytes  # matplotlib is imported only when figures are made
    from bntheory.study import figures

    images = {
        "median curves with 10-90% bands": image_bytes(figures.curves_figure(result.table)),
        "fitted rates against their bounds": image_bytes(figures.rates_figure(result.verdicts)),
        "performance profile (time to target)": image_bytes(figures.profile_figure(result.verdicts)),
    }
    for data, file in zip(images.values(), ("curves.png", "rates.png", "profile.png"), strict=True):
        write_bytes_atomic(out / file, data)
    write_text_atomic(out / "summary.html", figures.summary_html(name, images, summary, verdicts_text, footer))


def _dask_client(address: str):
    if "://" not in address:
        raise UsageError(f"--scheduler: expected an address such as tcp://host:8786, got {address!r}")
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask distributed: pip install 'bntheory[study]'") from None
    try:
        return Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--scheduler: cannot reach {address}: {exc}") from None


def _save_figures(results: Sequence[registry.Result], ctx: Context, directory: str) -> None:
    from bntheory.plots import save  # matplotlib is imported only when figures are asked for

    for name, fig in _figures(results, ctx):
        try:
            path = save(fig, os.path.join(directory, f"{name}.png"))
        except OSError as exc:
            raise UsageError(f"--figures: cannot write into {directory}: {exc.strerror or exc}") from None
        print(f"wrote {path}")


def _figures(results: Sequence[registry.Result], ctx: Context):
    """``(result-id.figure-name, Figure)`` for every figure of `results`, made one at a time."""
    for result in results:
        for name, make in result.figures.items():
            yield f"{result.id}.{name}", make(ctx)


if __name__ == "__main__":
    command()
