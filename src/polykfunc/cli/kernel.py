"""`polykfunc import-kernel` and `polykfunc drift`: read a kernel tree; compare a model with one.

Exit codes: 0 ok (import done / no drift), 1 drift found, 2 bad input or usage, 4 internal error.
"""

from __future__ import annotations

import json
import sys
import time

import click

from polykfunc.errors import SpecError, UsageError

EXIT_OK, EXIT_DRIFT, EXIT_INPUT = 0, 1, 2


def _fail(e) -> None:
    click.echo(e.render() if isinstance(e, SpecError) else f"polykfunc: error: {e}", err=True)
    sys.exit(EXIT_INPUT)


@click.command("import-kernel", epilog="""\b
Exit codes:
  0  imported (skipped lines are reported on stderr and counted)
  2  not a kernel tree, or bad usage
  4  internal error""")
@click.argument("src", type=click.Path(file_okay=False))
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write the generated structural model (and inventory.json) into this folder.")
@click.option("--subsystem", default=None, help="Only this part of the tree (sched_ext, bpf, net, ... or a path prefix).")
@click.option("--label", default=None, help="What to call the tree in generated headers (default: its Makefile version).")
@click.option("--commit", default=None, help="The tree's commit, recorded in the generated model.")
@click.option("--kernel", "kernel_name", default=None, help="The model's kernel label (default vMAJOR.MINOR).")
@click.option("--regenerate", default=None, help="The command that regenerates the output (written in the header).")
@click.option("--provenance", type=click.Path(dir_okay=False), default=None,
              help="A JSON file saying where each file of a partial tree came from ({\"note\": ..., \"files\": "
                   "[{\"path\", \"repo\", \"commit\", \"fetched\"}]}); recorded in inventory.json and the headers.")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Processes to parse with.")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory as JSON on stdout (one object per kfunc under 'kfuncs').")
def import_kernel(src, out_dir, subsystem, label, commit, kernel_name, regenerate, provenance, jobs, as_json):
    """Read kfunc sets, flags, registrations, filters, __bpf_kfunc definitions, the verifier's tables
    and struct_ops members from the kernel source tree SRC (no compiler, no configured tree)."""
    from polykfunc.kernel.generate import write_model
    from polykfunc.kernel.importer import import_tree
    t0 = time.perf_counter()
    try:
        prov = read_provenance(provenance) if provenance else None
        inv = import_tree(src, label=label, commit=commit, jobs=jobs, subsystem=subsystem)
    except UsageError as e:
        _fail(e)
    data = inv.to_json()
    if prov:
        data["provenance"] = prov
        data["files_note"] = prov["note"]
    data["generated"] = time.strftime("%Y-%m-%d")
    if kernel_name:
        data["model_kernel"] = kernel_name
    data["regenerate"] = regenerate or f"polykfunc import-kernel {src}" + (f" -o {out_dir}" if out_dir else "") + \
        (f" --subsystem {subsystem}" if subsystem else "")
    for s in inv.skips:
        click.echo(f"polykfunc: skipped: {s}", err=True)
    if out_dir:
        written = write_model(data, out_dir)
        if not as_json:
            click.echo(f"wrote {len(written)} files to {out_dir}")
    if as_json:
        click.echo(json.dumps(data, indent=1))
    else:
        click.echo(f"{inv.tree.label}: {len(inv.kfuncs)} kfuncs in {len(inv.id_lists)} lists, "
                   f"{len(inv.registrations)} registrations, {len(inv.definitions)} __bpf_kfunc definitions, "
                   f"{len(inv.struct_ops)} struct_ops; {inv.tree.files_parsed} of {inv.tree.files_scanned} files "
                   f"parsed in {time.perf_counter() - t0:.1f}s; {len(inv.skips)} skipped")
    sys.exit(EXIT_OK)


def read_provenance(path: str) -> dict:
    """The provenance file of a partial tree: ``{"note": str, "files": [{"path", "repo", "commit",
    "fetched"}]}`` (UsageError naming the file and what is wrong otherwise)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the provenance file: {e.strerror or e}")
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}:{e.lineno}: not JSON: {e.msg}")
    if not isinstance(data, dict) or not isinstance(data.get("note"), str) or not isinstance(data.get("files"), list):
        raise UsageError(f"{path}: a provenance file is an object with a string 'note' and a list 'files'")
    for i, f in enumerate(data["files"]):
        missing = [k for k in ("path", "repo", "commit", "fetched") if not isinstance(f, dict) or not isinstance(f.get(k), str)]
        if missing:
            raise UsageError(f"{path}: files[{i}] lacks {', '.join(missing)} (each file names its path, repo, "
                             "commit and what of it was fetched)")
    return data


@click.command("drift", epilog="""\b
Exit codes:
  0  the model's structure matches the tree
  1  drift: one line per difference, with the model's and the kernel's place
  2  bad input (unknown model, not a kernel tree)
  4  internal error""")
@click.argument("model")
@click.argument("src", type=click.Path(file_okay=False))
@click.option("--subsystem", default=None, help="The part of the tree the model describes (default: the model's subsystem).")
@click.option("--explained", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A file of 'KIND: SUBJECT' lines (# comments) for differences that are explained "
                   "elsewhere; they are printed as explained and do not make the exit code 1.")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def drift_cmd(model, src, subsystem, explained, as_json):
    """Compare MODEL's structural facts (kfuncs, flags, sets, registrations, filters, struct_ops
    members and their sleepability) with the kernel tree SRC."""
    from polykfunc.kernel.drift import drift
    from polykfunc.kernel.importer import import_tree
    from polykfunc.model import load_model, resolve_target
    try:
        m = load_model(resolve_target(model))
        inv = import_tree(src)
    except (SpecError, UsageError) as e:
        _fail(e)
    diffs = drift(m, inv, subsystem)
    known = set()
    if explained:
        with open(explained, encoding="utf-8") as fh:
            known = {ln.split("#", 1)[0].strip() for ln in fh} - {""}
    is_known = lambda d: f"{d.kind}: {d.subject}" in known
    if as_json:
        click.echo(json.dumps({"model": m.name, "tree": inv.tree.label,
                               "differences": [{**d.to_json(), "explained": is_known(d)} for d in diffs]}, indent=1))
    else:
        for d in diffs:
            click.echo(("explained " if is_known(d) else "") + d.line())
        click.echo(f"{m.name} vs {inv.tree.label}: {len(diffs)} difference(s)"
                   + (f"; {len(inv.skips)} line(s) of the tree skipped" if inv.skips else ""))
    sys.exit(EXIT_DRIFT if any(not is_known(d) for d in diffs) else EXIT_OK)


COMMANDS = [import_kernel, drift_cmd]
