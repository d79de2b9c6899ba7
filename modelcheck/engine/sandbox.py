"""What a worker sets up before the user's code runs, and what it records while it runs.

Runs only in a worker process (a fork of the zygote, one per file), so nothing here needs undoing:
the process ends with the file.

- stdout: fd 1 becomes a copy of fd 2, so whatever the file prints (``print``, ``os.write(1)``,
  ``sys.__stdout__``, C ``printf``, subprocesses, threads, a forked child) lands on stderr (a pipe
  the parent relays to its own stderr); only the parent writes the report.
- ``sys.argv`` is ``[file]``: an ``argparse`` in a constructor sees no modelcheck flags.
- the network is off: Hugging Face's offline flags are set, and a socket may only connect to a local
  (Unix) address, so ``torch.hub.load``/``from_pretrained`` fail at once with a line that says why.
- a memory ceiling (``RLIMIT_DATA``): a build too large fails with ``MemoryError``, which the build
  turns into a ``--meta`` fallback, instead of the machine's OOM killer taking the run down.
- torch's global state (grad mode, default dtype and device, deterministic flags, threads, RNG) is
  snapshot before the import and restored before each model, so ``torch.set_grad_enabled(False)``
  at a file's top level does not turn its own analysis into an internal error.
- what the result depends on is recorded for the cache key: the environment variables read, the
  modules imported (local ones hashed, installed ones stamped) and the project files opened.
"""

from __future__ import annotations

import builtins
import io
import os
import socket
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcheck.engine.cache import digest, stamp

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
ALLOW_NETWORK = "MODELCHECK_ALLOW_NETWORK"  # set to 1 to let the linted code reach the network
NETWORK_OFF = (
    "network access is off while modelcheck runs a model file (set MODELCHECK_ALLOW_NETWORK=1 to allow it; "
    "better: make the model build without downloading)"
)


class NetworkOff(ConnectionRefusedError):
    """A connection the linted code tried to open (an ``OSError``, so library retry loops end)."""


refused: list[str] = []  # the addresses refused in this process, for the file's note

def isolate_stdout(relay: int | None = None) -> None:
    """Point fd 1 at stderr, for this process and everything it starts; with ``relay``, point
    both at that pipe (the parent copies it to its own stderr)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if relay is not None:
        os.dup2(relay, 2)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def set_environment(env: dict[str, str], file: Path) -> None:
    """The parent's environment (the zygote's may be older), offline flags, and ``argv == [file]``."""
    os.environ.clear()
    os.environ.update(env)
    if env.get(ALLOW_NETWORK) != "1":
        os.environ.update(OFFLINE)
        _block_network()
    sys.argv = [str(file)]


def network_note() -> str | None:
    """The file's note when its code tried the network (library messages rarely say it was refused)."""
    if refused:
        return f"{NETWORK_OFF}; refused: {', '.join(sorted(set(refused))[:3])}"
    return None


def _block_network() -> None:
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def allowed(sock: socket.socket) -> bool:
        return sock.family == getattr(socket, "AF_UNIX", None)

    def connect(self: socket.socket, address: Any) -> None:
        if not allowed(self):
            refused.append(str(address))
            raise NetworkOff(NETWORK_OFF)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(self):
            refused.append(str(address))
            raise NetworkOff(NETWORK_OFF)
        return real_connect_ex(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:  # name lookups come before connects
        if host not in (None, "localhost", "127.0.0.1", "::1", b"localhost"):
            refused.append(str(host))
            raise NetworkOff(NETWORK_OFF)
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def limit_memory(limit_bytes: int | None) -> None:
    if not limit_bytes:
        return
    try:
        import resource  # Unix only: imported here so that the in-process fallback still loads elsewhere

        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        cap = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    except (ImportError, ValueError, OSError):
        pass  # a platform without the limit: the OOM killer remains, and the parent reports it


def peak_rss_mb() -> float | None:
    """This process's peak resident set (MB), for ``--debug``'s run line; None where unknown."""
    try:
        import resource  # Unix only, as above
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


# --- torch's global state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchState:
    grad: bool
    dtype: Any
    device: Any
    deterministic: bool
    deterministic_warn_only: bool
    threads: int
    rng: Any
    anomaly: bool

    @staticmethod
    def take() -> TorchState:
        import torch

        return TorchState(
            grad=torch.is_grad_enabled(),
            dtype=torch.get_default_dtype(),
            device=torch.get_default_device(),
            deterministic=torch.are_deterministic_algorithms_enabled(),
            deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
            threads=torch.get_num_threads(),
            rng=torch.get_rng_state(),
            anomaly=torch.is_anomaly_enabled(),
        )

    def restore(self) -> None:
        import torch

        # Only what changed: setting a default device installs a dispatch mode, and the deterministic
        # switch imports torch._dynamo (seconds), even when the value is the same.
        torch.set_grad_enabled(self.grad)
        if torch.get_default_dtype() != self.dtype:
            torch.set_default_dtype(self.dtype)
        if torch.get_default_device() != self.device:
            torch.set_default_device(None if self.device == torch.device("cpu") else self.device)
        if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) != (
            self.deterministic, self.deterministic_warn_only
        ):
            torch.use_deterministic_algorithms(self.deterministic, warn_only=self.deterministic_warn_only)
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        torch.set_rng_state(self.rng)
        if torch.is_anomaly_enabled() != self.anomaly:
            torch.set_anomaly_enabled(self.anomaly)


# --- what the result depends on ---------------------------------------------------------------------


@dataclass
class Dependencies:
    """Recorded while a file is linted; validated by the cache before a stored result is served."""

    env: dict[str, str | None] = field(default_factory=dict)  # variable -> value read (None: unset)
    files: dict[str, str] = field(default_factory=dict)  # local file -> sha256 (modules and data)
    installed: dict[str, str] = field(default_factory=dict)  # installed module file -> "size:mtime"

    def as_data(self) -> dict[str, Any]:
        return {"env": dict(sorted(self.env.items())), "files": dict(sorted(self.files.items())),
                "installed": dict(sorted(self.installed.items()))}


class _RecordingEnviron(os._Environ):  # type: ignore[name-defined,misc]
    """``os.environ`` that remembers every key looked up (``os.getenv`` and ``get`` go through here)."""

    reads: dict[str, str | None]

    def __getitem__(self, key: str) -> str:
        try:
            value = super().__getitem__(key)
        except KeyError:
            self.reads.setdefault(key, None)
            raise
        self.reads.setdefault(key, value)
        return value


def _raw_roots() -> set[str]:
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    try:
        import site

        roots |= set(site.getsitepackages()) | {site.getusersitepackages()}
    except AttributeError:
        pass
    return {r for r in roots if r}


class Recorder:
    """Start before the user's import, :meth:`finish` after the file's last model."""

    IGNORED_ENV = frozenset(OFFLINE) | {ALLOW_NETWORK}

    def __init__(self, project: Path) -> None:
        global _ACTIVE
        _ACTIVE = self
        self.project = project.resolve()
        self.before = set(sys.modules)
        self.modules: dict[str, str] = {}  # new modules' files seen by capture(), before the import unloads them
        self.opened: set[str] = set()
        self.reads: dict[str, str | None] = {}
        environ = os.environ
        environ.__class__ = _RecordingEnviron
        environ.reads = self.reads  # type: ignore[attr-defined]
        self._real_open = builtins.open
        real_open = self._real_open
        opened = self.opened

        def recording_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, os.PathLike)) and not any(c in mode for c in "wax+"):
                opened.add(os.fspath(file))
            return real_open(file, mode, *args, **kwargs)

        builtins.open = recording_open
        io.open = recording_open  # type: ignore[assignment]

    def capture(self) -> None:
        """Note the modules imported so far (the engine calls it before it unloads the file's own)."""
        for name in set(sys.modules) - self.before - self.modules.keys():
            file = getattr(sys.modules.get(name), "__file__", None)
            if isinstance(file, str) and file:
                self.modules.setdefault(name, file)

    def finish(self, linted: Path) -> Dependencies:
        global _ACTIVE
        _ACTIVE = None
        self.capture()
        os.environ.__class__ = os._Environ  # type: ignore[attr-defined]
        builtins.open = self._real_open
        io.open = self._real_open  # type: ignore[assignment]
        deps = Dependencies(env={k: v for k, v in self.reads.items() if k not in self.IGNORED_ENV})
        raw = _raw_roots()
        # roots end with a separator: /usr must not claim /usrx
        installed = tuple(sorted(os.path.join(str(Path(r).resolve()), "") for r in raw))
        # resolving a path costs a stat per component: a file importing transformers brings ~2,000
        # modules and opens as many files, nearly all installed and not stamped one by one
        seen_installed = installed + tuple(os.path.join(r, "") for r in raw)
        project = os.path.join(str(self.project), "")
        linted = linted.resolve()
        for name, file in self.modules.items():
            if name.partition(".")[0] in ("modelcheck", "modelcheck_rules", "__main__", "__mp_main__"):
                continue  # the environment stamp covers modelcheck's own sources
            if "." in name and os.path.isabs(file) and file.startswith(seen_installed) and not file.startswith(project):
                continue  # an installed package's submodule: its top level's stamp covers it
            path = _resolved(file)
            if path is None or path == linted:
                continue
            if str(path).startswith(installed):
                if "." not in name:  # a package's top level: reinstalling it rewrites this file
                    deps.installed[str(path)] = stamp(path)
            else:
                deps.files[str(path)] = digest(path)
        for name in self.opened:
            if os.path.isabs(name) and name.startswith(seen_installed) and not name.startswith(project):
                continue  # not a project file
            path = _resolved(name)
            if path is not None and path != linted and path.is_relative_to(self.project) and path.is_file():
                deps.files.setdefault(str(path), digest(path))
        return deps


_ACTIVE: Recorder | None = None


def capture_modules() -> None:
    """Let the active recorder see the modules the file imported, before they are unloaded."""
    if _ACTIVE is not None:
        _ACTIVE.capture()


def _resolved(name: str) -> Path | None:
    try:
        return Path(name).resolve()
    except (OSError, RuntimeError, ValueError):
        return None

