"""`polykfunc report TARGET... -o FILE`: a review report as self-contained HTML or Markdown.

The format follows the output file's extension (.html/.htm or .md/.markdown). Consecutive
targets of the same subsystem are compared (``report sched_ext@v6.12 sched_ext@v7.1``).
docs/report.md describes every section. The exit code is `prove`'s for the same models, so a
CI job can publish the report and fail on an unexpected counterexample in one step.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from polykfunc.errors import UsageError

EPILOG = """\b
Exit codes (as for `polykfunc prove` on the same models):
  0  all as expected (proved, or only declared known bugs)
  1  counterexample, vacuous premise, or a known bug that no longer appears
  2  invalid input or usage (an unknown model, an unsupported output extension)
  3  unknown (resource limit) and no counterexample
  4  internal error (a bug in polykfunc)
"""

FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}


def output_format(path: str | Path) -> str:
    """"html" or "markdown" from the output file's extension; UsageError otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot tell the report format from {str(path)!r}: name the output file "
                         "*.html (self-contained page) or *.md (Markdown for mailing lists and pull requests)")
    return FORMATS[suffix]


def write_report(data, path: str | Path) -> Path:
    """Render ``data`` in the format ``path``'s extension names and write it (UTF-8)."""
    path = Path(path)
    if output_format(path) == "html":
        from polykfunc.report.html import render_html
        text = render_html(data)
    else:
        from polykfunc.report.markdown import render_markdown
        text = render_markdown(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write the report to {path}: {e.strerror or e}; choose another -o path") from None
    return path


@click.command(epilog=EPILOG)
@click.argument("targets", nargs=-1, required=True)
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="The report file: .html (self-contained) or .md (Markdown).")
@click.option("--title", default=None, help="The report's title (default: the models' names).")
@click.option("--no-known", is_flag=True, help="Ignore the models' known-bug declarations.")
@click.option("--rlimit", type=click.IntRange(min=1), default=None,
              help="z3 resource limit per check (deterministic; default 20000000).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: number of CPUs); the report is the same for any N.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Reuse unchanged obligations' results from here (default: .polykfunc/cache).")
@click.option("--no-cache", is_flag=True, help="Solve every obligation; neither read nor write the cache.")
@click.option("--no-oracle", is_flag=True,
              help="Do not probe the running kernel's verifier (the oracle section then says so).")
def report(targets, output, title, no_known, rlimit, jobs, cache_dir, no_cache, no_oracle):
    """Write a review report of TARGET models (bundled names or paths) to -o FILE.

    The report has the verdict, the verdict matrix as a heat map, a version diff with its
    causes when two versions of one subsystem are given, the counterexamples with their
    explanations, the design comparison, nesting and lock diagrams, what the running kernel's
    verifier did with the models' kfuncs (when this process may load BPF programs), the
    assumptions, every rule with its kernel citation, and timing and versions.
    """
    from polykfunc.engine.cache import DEFAULT_CACHE
    from polykfunc.model import resolve_target
    from polykfunc.report.data import collect
    output_format(output)  # a wrong extension is a usage error before any proof
    paths = [resolve_target(t) for t in targets]
    if sys.stderr.isatty():
        click.echo(f"collecting {len(paths)} model(s): proofs, matrices, explanations…", err=True)
    data = collect(paths, rlimit=rlimit, jobs=jobs, use_known=not no_known, title=title,
                   cache_dir=None if no_cache else str(cache_dir or DEFAULT_CACHE), oracle=not no_oracle)
    written = write_report(data, output)
    click.echo(f"{data.verdict.headline}\nreport written to {written} ({written.stat().st_size // 1024} KiB, "
               f"{data.seconds:.1f} s)")
    sys.exit(data.verdict.exit_code)


COMMANDS = [report]
