"""Throwaway checkouts of other commits, for the benchmarks' `--baseline REF` modes."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def short_commit(ref: str) -> str:
    """The abbreviated commit `ref` names."""
    try:
        return _git("rev-parse", "--short", "--verify", f"{ref}^{{commit}}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"no commit {ref!r} in {REPO}") from None


def describe_checkout() -> str:
    """This checkout: its HEAD commit, and whether the working tree differs from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=normal")
    except (OSError, subprocess.CalledProcessError):
        return "working tree"
    if not dirty:
        return head
    return f"working tree (HEAD {head} + {len(dirty.splitlines())} changed or new files)"


@contextmanager
def worktree(ref: str) -> Iterator[tuple[Path, str]]:
    """A detached, throwaway checkout of `ref` (and the commit it names)."""
    commit = short_commit(ref)
    path = Path(tempfile.mkdtemp(prefix="fenlei-baseline-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(path), commit],
        check=True,
        capture_output=True,
    )
    try:
        yield path, commit
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(path, ignore_errors=True)
