"""Per-case parent cgroups: CPU seconds and peak memory that survive the container.

A container's own cgroup is removed when it exits, so the runner creates a
fresh parent per case, passes it as ``cgroup_parent`` and reads the parent's
hierarchical counters after the container has gone:

* cgroup v1 (cgroupfs driver): ``memory/<parent>/memory.max_usage_in_bytes`` and
  ``cpuacct/<parent>/cpuacct.usage`` (nanoseconds).
* cgroup v2: ``<parent>/memory.peak`` (kernel >= 5.19) and ``usage_usec`` of
  ``<parent>/cpu.stat``.

With the systemd cgroup driver, or without permission to create cgroups, the
parent is not used and :meth:`CaseCgroup.read` returns ``(None, None)``; the
caller then marks the timings degraded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_version(root: Path = CGROUP_ROOT) -> int:
    """2 for the unified hierarchy, 1 otherwise."""
    return 2 if (root / "cgroup.controllers").exists() else 1


def _v1_dirs(root: Path) -> dict[str, Path]:
    """Controller name -> hierarchy mount (``cpu,cpuacct`` co-mounts appear under each name)."""
    out: dict[str, Path] = {}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return out
    for entry in entries:
        if entry.name in ("unified", "systemd") or not entry.is_dir():
            continue
        for name in entry.name.split(","):
            out.setdefault(name, entry)
    return out


@dataclass
class CaseCgroup:
    """One per-case parent cgroup (``name`` is the relative path, e.g. ``evalkit/ab12``)."""

    name: str
    version: int
    root: Path = CGROUP_ROOT
    usable: bool = False
    created: list[Path] = field(default_factory=list)

    @property
    def parent(self) -> str | None:
        """What to pass as ``cgroup_parent`` (``None`` when unusable)."""
        return "/" + self.name if self.usable else None

    def create(self) -> CaseCgroup:
        """Create the parent in the memory and CPU hierarchies; sets ``usable``."""
        try:
            if self.version == 2:
                path = self.root / self.name
                base = path.parent
                base.mkdir(parents=True, exist_ok=True)
                _enable_v2_controllers(self.root, base)
                path.mkdir(exist_ok=False)
                self.created.append(path)
                _enable_v2_controllers(self.root, path)
            else:
                dirs = _v1_dirs(self.root)
                for ctrl in ("memory", "cpuacct"):
                    path = dirs[ctrl] / self.name
                    path.mkdir(parents=True, exist_ok=False)
                    self.created.append(path)
            self.usable = True
        except (OSError, KeyError):
            self.usable = False
        return self

    def read(self) -> tuple[float | None, int | None]:
        """(CPU seconds, peak memory bytes) of everything that ran under the parent."""
        if not self.usable:
            return None, None
        cpu_s: float | None = None
        peak: int | None = None
        try:
            if self.version == 2:
                path = self.root / self.name
                for line in (path / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        cpu_s = int(value) / 1e6
                peak_file = path / "memory.peak"
                if peak_file.exists():
                    peak = int(peak_file.read_text().strip())
            else:
                dirs = _v1_dirs(self.root)
                cpu_s = int((dirs["cpuacct"] / self.name / "cpuacct.usage").read_text()) / 1e9
                peak = int((dirs["memory"] / self.name / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError, KeyError):
            pass
        return cpu_s, peak

    def remove(self) -> None:
        """rmdir the parent in every hierarchy where it exists (docker creates it in all)."""
        remove_cgroup(self.name, self.root)


def _enable_v2_controllers(root: Path, path: Path) -> None:
    # Controllers must be enabled top-down in cgroup.subtree_control.
    chain = [root] + [root / Path(*path.relative_to(root).parts[: i + 1])
                      for i in range(len(path.relative_to(root).parts))]
    for p in chain:
        try:
            avail = set((p / "cgroup.controllers").read_text().split())
        except OSError:
            continue
        want = [c for c in ("cpu", "memory", "pids") if c in avail]
        try:
            (p / "cgroup.subtree_control").write_text(" ".join("+" + c for c in want))
        except OSError:
            pass


def remove_cgroup(name: str, root: Path = CGROUP_ROOT) -> None:
    """Remove ``name`` (and empty children) from every hierarchy; ignores what is busy."""
    if cgroup_version(root) == 2:
        bases = [root]
    else:
        bases = list(dict.fromkeys(_v1_dirs(root).values()))
        bases += [root / "systemd", root / "unified"]
    for base in bases:
        target = base / name
        if not target.is_dir():
            continue
        for dirpath, dirnames, _ in sorted(os.walk(target), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def new_case_cgroup(name: str, root: Path = CGROUP_ROOT) -> CaseCgroup:
    """Create and return a per-case parent cgroup named ``name`` (e.g. ``evalkit/<token>``)."""
    return CaseCgroup(name=name, version=cgroup_version(root), root=root).create()
