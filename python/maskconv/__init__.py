"""maskconv from Python: the converter's binary, installed with the package,
and thin functions that run it with ``--json`` and return its report.

>>> import maskconv
>>> report = maskconv.convert("export.zip", "out", to="coco")
>>> report["written"], [loss["code"] for loss in report["losses"]]

Every function runs the ``maskconv`` binary (``find_bin()``) in a child
process: the conversion runs at the binary's speed, on all cores, and a
crash or Ctrl-C in it cannot take the Python process down. The reports are
the command line's ``--json`` objects (README "Reports"), as dicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

__all__ = ["MaskconvError", "convert", "find_bin", "inspect", "merge", "run", "validate"]

Path = Union[str, "os.PathLike[str]"]
#: A format option's value: a string, ``True`` for a flag, or several strings.
OptionValue = Union[str, bool, Sequence[str]]
Report = Dict[str, Any]


class MaskconvError(Exception):
    """A maskconv command failed. ``report`` is its ``--json`` report (with
    ``error`` and ``exit_code``) when it printed one, ``exit_code`` the
    process's exit code (1: bad input or a loss under ``strict``, 2: usage),
    ``stderr`` what it printed there."""

    def __init__(self, message: str, exit_code: int, report: Optional[Report], stderr: str):
        super().__init__(message)
        self.exit_code = exit_code
        self.report = report
        self.stderr = stderr


def find_bin() -> str:
    """The path of the ``maskconv`` binary this package installed (in the
    environment's scripts folder, or the user's), else the one on ``PATH``."""
    exe = "maskconv" + (sysconfig.get_config_var("EXE") or "")
    candidates = [sysconfig.get_path("scripts")]
    user = {"nt": "nt_user"}.get(os.name, "osx_framework_user" if sys.platform == "darwin" else "posix_user")
    if user in sysconfig.get_scheme_names():
        candidates.append(sysconfig.get_path("scripts", scheme=user))
    for folder in candidates:
        path = os.path.join(folder, exe)
        if os.path.isfile(path):
            return path
    from shutil import which

    found = which(exe)
    if found:
        return found
    raise FileNotFoundError(f"the maskconv binary is not installed here (looked in {', '.join(candidates)} and PATH)")


def run(args: Sequence[str], *, partial_ok: bool = False) -> Report:
    """Runs ``maskconv ARGS --json`` and returns its report. A run that
    failed raises :class:`MaskconvError`; exit code 3 (items skipped under
    ``keep_going``) returns the report when ``partial_ok``."""
    process = subprocess.run(
        [find_bin(), *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    report: Optional[Report] = None
    lines = [line for line in process.stdout.splitlines() if line.strip()]
    if lines:
        try:
            report = json.loads(lines[-1])
        except ValueError:
            report = None
    ok = process.returncode == 0 or (partial_ok and process.returncode == 3)
    if ok and report is not None:
        return report
    if report is not None and report.get("error"):
        message = str(report["error"])
    elif process.stderr.strip():
        message = process.stderr.strip().splitlines()[-1]
    else:
        message = f"maskconv exited with {process.returncode}"
    raise MaskconvError(message, process.returncode, report, process.stderr)


def _options(options: Optional[Mapping[str, OptionValue]]) -> List[str]:
    """Format options as flags: ``{"segmentation": "polygon", "things_only": True}``."""
    args: List[str] = []
    for name, value in (options or {}).items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, str):
            args += [flag, value]
        else:
            for one in value:
                args += [flag, str(one)]
    return args


def _reading(from_: Optional[str], jobs: Optional[int]) -> List[str]:
    args: List[str] = []
    if from_:
        args += ["--from", from_]
    if jobs:
        args += ["--jobs", str(jobs)]
    return args


def convert(
    input: Path,
    output: Path,
    to: str,
    *,
    from_: Optional[str] = None,
    force: bool = False,
    strict: bool = False,
    keep_going: bool = False,
    compression: Optional[str] = None,
    map: Sequence[str] = (),
    unknown: Optional[str] = None,
    instances: Optional[str] = None,
    shard: Optional[str] = None,
    jobs: Optional[int] = None,
    options: Optional[Mapping[str, OptionValue]] = None,
) -> Report:
    """Converts the dataset ``input`` to format ``to`` at ``output``
    (``maskconv convert``); returns the report (``written``, ``losses``,
    ``warnings``, ``skipped``…). With ``keep_going``, a run that skipped items
    returns its report (``status`` is ``"partial"``); any other failure
    raises :class:`MaskconvError`, and nothing is at ``output``.
    ``shard="K/N"`` converts one part for :func:`merge`; ``options`` are the
    formats' own (``{"segmentation": "polygon"}``)."""
    args = ["convert", os.fspath(input), os.fspath(output), "--to", to, *_reading(from_, jobs)]
    args += ["--force"] * force + ["--strict"] * strict + ["--keep-going"] * keep_going
    if compression:
        args += ["--compression", compression]
    for rule in map:
        args += ["--map", rule]
    if unknown:
        args += ["--unknown", unknown]
    if instances:
        args += ["--instances", instances]
    if shard:
        args += ["--shard", shard]
    return run(args + _options(options), partial_ok=keep_going)


def inspect(
    input: Path,
    *,
    from_: Optional[str] = None,
    per_item: bool = False,
    jobs: Optional[int] = None,
    options: Optional[Mapping[str, OptionValue]] = None,
) -> Report:
    """Reads every mask of ``input`` (``maskconv inspect``) and returns the
    statistics: format, classes with their pixels, items, warnings."""
    args = ["inspect", os.fspath(input), *_reading(from_, jobs)] + ["--per-item"] * per_item
    return run(args + _options(options))


def validate(
    input: Path,
    *,
    from_: Optional[str] = None,
    jobs: Optional[int] = None,
    options: Optional[Mapping[str, OptionValue]] = None,
) -> Report:
    """Checks every mask of ``input`` (``maskconv validate``) and returns the
    report whether or not the dataset is valid: see ``report["valid"]`` and
    ``report["problems"]``. Raises :class:`MaskconvError` only when it could
    not run (a usage error)."""
    args = ["validate", os.fspath(input), *_reading(from_, jobs)] + _options(options)
    try:
        return run(args)
    except MaskconvError as error:
        if error.exit_code == 1 and error.report is not None and "valid" in error.report:
            return error.report
        raise


def merge(shards: Sequence[Path], output: Path, *, force: bool = False) -> Report:
    """Joins the outputs of ``convert(..., shard="K/N")`` into what one run
    writes (``maskconv merge``) and returns the report."""
    args = ["merge", *(os.fspath(s) for s in shards), os.fspath(output)] + ["--force"] * force
    return run(args)
