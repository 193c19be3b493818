"""The PEP 517 build backend of the hypar package: maturin, run with hypar's
own uniffi-bindgen.

maturin generates the Python bindings with a program called ``uniffi-bindgen``.
PyPI's is older than the uniffi hypar uses and cannot read its metadata, and a
binary of that name in the Cargo workspace would be rebuilt by maturin in the
debug profile. So before each build this backend builds the workspace's
``hypar-uniffi-bindgen`` in the release profile (shared with ``cargo build
--release``, so usually already built) and puts it on ``PATH`` as
``uniffi-bindgen``.

maturin's PEP 517 hooks also build with ``--compatibility off`` unless told
otherwise, which tags the wheel for this machine only; this backend asks for
the manylinux tag that ``[tool.maturin] compatibility`` names (unless the
caller passes its own ``--compatibility``). Everything else is maturin's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import maturin
from maturin import (  # noqa: F401 - re-exported hooks
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

#: The repository's root (this file is bindings/python/build_backend/hypar_build.py).
_ROOT = Path(__file__).resolve().parents[3]


def _target_dir() -> Path:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=_ROOT, check=True, stdout=subprocess.PIPE,
    ).stdout
    return Path(json.loads(out)["target_directory"])


@contextmanager
def _bindgen_on_path() -> Iterator[None]:
    subprocess.run(["cargo", "build", "--release", "-p", "uniffi-bindgen"], cwd=_ROOT, check=True)
    built = _target_dir() / "release" / "hypar-uniffi-bindgen"
    with tempfile.TemporaryDirectory(prefix="hypar-bindgen-") as bin_dir:
        shutil.copy2(built, Path(bin_dir) / "uniffi-bindgen")
        old_path = os.environ.get("PATH", "")
        os.environ["PATH"] = bin_dir + os.pathsep + old_path
        try:
            yield
        finally:
            os.environ["PATH"] = old_path


def _with_compatibility(config_settings: Optional[dict[str, Any]]) -> dict[str, Any]:
    settings = dict(config_settings or {})
    args = maturin.get_maturin_pep517_args(settings)
    if "--compatibility" not in args and "--manylinux" not in args:
        compatibility = maturin.get_config().get("compatibility", "off")
        settings["maturin.build-args"] = [*args, "--compatibility", compatibility]
    return settings


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    with _bindgen_on_path():
        return maturin.build_wheel(wheel_directory, _with_compatibility(config_settings), metadata_directory)


def build_editable(
    wheel_directory: str,
    config_settings: Optional[dict[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    with _bindgen_on_path():
        return maturin.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: Optional[dict[str, Any]] = None) -> str:
    return maturin.build_sdist(sdist_directory, config_settings)
