"""One containment rule for the runs root: no symlink anywhere inside the tree (spec §3).

The root itself may be reached through symlinks: it is opened following them. From
there each directory is opened relative to its parent with ``O_NOFOLLOW``, and so is the
leaf, so no component can be a symlink (not even one that points back inside the root)
and a link swapped in after a check cannot redirect the open. A refusal is a
``ContainmentError`` naming the path. The cost is one ``open`` and ``close`` per
directory level, paid once per open of a file, never per read or write.
"""

from __future__ import annotations

import errno
import os
import stat

from conductor_loop.errors import ContainmentError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `bus post` start-up
if TYPE_CHECKING:
    from collections.abc import Callable

StrPath = str | os.PathLike[str]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# What opening a symlink with O_NOFOLLOW gives (ENOTDIR with O_DIRECTORY, EMLINK on
# BSDs, EEXIST with O_CREAT | O_EXCL): only then is the entry looked at again.
_MAYBE_SYMLINK = frozenset(
    {errno.ELOOP, errno.ENOTDIR, errno.EEXIST, getattr(errno, "EMLINK", errno.ELOOP)}
)


def _symlink_error(link: str, path: str) -> ContainmentError:
    via = "" if link == path else f" (on the way to {path})"
    return ContainmentError(
        f"{link} is a symbolic link{via}; symlinks are not allowed inside the runs root"
    )


def _parts(root: str, path: str) -> list[str]:
    """The components of ``path`` below ``root``, compared as written (ids hold no ``..``)."""
    if path == root:
        return []
    prefix = root if root.endswith("/") else root + "/"
    if not path.startswith(prefix):
        raise ContainmentError(f"{path} is not inside the runs root {root}")
    parts = path[len(prefix) :].split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ContainmentError(f"{path} is not a plain path inside the runs root {root}")
    return parts


def _failed(dir_fd: int, name: str, shown: str, path: str, exc: OSError) -> OSError:
    """The error to raise for a failed open of ``name``: ContainmentError for a symlink,
    else the same error naming the whole path."""
    if exc.errno in _MAYBE_SYMLINK:
        try:
            if stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode):
                return _symlink_error(shown, path)
        except OSError:
            pass
    return OSError(exc.errno, exc.strerror, shown)


def _walk(root: str, parts: list[str], path: str, *, create: bool, mode: int) -> int:
    """A descriptor of the directory ``parts`` names below ``root`` (creating them if asked)."""
    try:
        fd = os.open(root, _DIR)
    except FileNotFoundError:
        if not create:
            raise
        os.makedirs(root, exist_ok=True)  # the root is outside the tree: links allowed
        fd = os.open(root, _DIR)
    shown = root.rstrip("/")
    try:
        for name in parts:
            shown = f"{shown}/{name}"
            try:
                next_fd = os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise FileNotFoundError(
                        errno.ENOENT, os.strerror(errno.ENOENT), shown
                    ) from None
                try:
                    try:  # noqa: SIM105  (contextlib.suppress: `bus post` does not import contextlib)
                        os.mkdir(name, mode, dir_fd=fd)
                    except FileExistsError:
                        pass
                    next_fd = os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:  # named by the whole path, not the relative name
                    raise _failed(fd, name, shown, path, exc) from None
            except OSError as exc:
                raise _failed(fd, name, shown, path, exc) from None
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_dir_inside(root: StrPath, path: StrPath, *, create: bool = False) -> int:
    """A read-only descriptor of directory ``path``; ``create`` makes what is missing."""
    root_s, path_s = os.fspath(root), os.fspath(path)
    return _walk(root_s, _parts(root_s, path_s), path_s, create=create, mode=0o777)


def open_inside(
    root: StrPath,
    path: StrPath,
    flags: int = os.O_RDONLY,
    mode: int = 0o666,
    *,
    make_dirs: bool = False,
) -> int:
    """``os.open(path, flags, mode)`` under the containment rule; ``make_dirs`` creates
    missing directories on the way (as ``mkdir -p`` of the parent would)."""
    root_s, path_s = os.fspath(root), os.fspath(path)
    parts = _parts(root_s, path_s)
    if not parts:
        return os.open(root_s, flags | os.O_CLOEXEC, mode)
    dir_fd = _walk(root_s, parts[:-1], path_s, create=make_dirs, mode=0o777)
    try:
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise _failed(dir_fd, parts[-1], path_s, path_s, exc) from None
    finally:
        os.close(dir_fd)


def opener(root: StrPath) -> Callable[[str, int], int]:
    """For ``open(path, mode, opener=opener(root))``: built-in ``open`` under the rule."""
    return lambda path, flags: open_inside(root, path, flags)


def open_nofollow(path: StrPath, flags: int) -> int:
    """An opener refusing a symlinked leaf only, for a file in a directory already known
    to be part of the tree (listed with ``follow_symlinks=False``), where a walk from the
    root would be repeated work: the index reading 10,000s of run-infos."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def make_dirs_inside(root: StrPath, path: StrPath) -> None:
    """``mkdir -p path`` where no existing component may be a symlink."""
    os.close(open_dir_inside(root, path, create=True))


def list_dirs_inside(root: StrPath, path: StrPath) -> list[str]:
    """Sorted names of the visible real sub-directories of ``path`` ([] if it is missing)."""
    try:
        fd = open_dir_inside(root, path)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        with os.scandir(fd) as entries:
            names = [
                e.name
                for e in entries
                if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            ]
    finally:
        os.close(fd)
    names.sort()
    return names


def check_inside(root: StrPath, path: StrPath) -> bool:
    """Refuse ``path`` if an existing component below ``root`` is a symlink; what does not
    exist yet is fine. For checks ahead of work done later (a stream, a launch); opens
    go through ``open_inside``. Returns whether the directory ``path`` is in exists (a
    real directory): the components looked at tell, so a caller that needs it has no
    ``stat`` of its own to make."""
    root_s, path_s = os.fspath(root), os.fspath(path)
    current = root_s.rstrip("/")
    parts = _parts(root_s, path_s)
    for depth, name in enumerate(parts):
        current = f"{current}/{name}"
        try:
            mode = os.lstat(current).st_mode
        except NotADirectoryError:
            return False
        except FileNotFoundError:
            if depth < len(parts) - 1:
                return False
            # Only the last component is missing: its directory is there if it is the
            # one looked at just before (below the root), else if the root is one.
            return depth > 0 or os.path.isdir(root_s)
        if stat.S_ISLNK(mode):
            raise _symlink_error(current, path_s)
    return True


def read_text_inside(root: StrPath, path: StrPath, *, errors: str = "strict") -> str:
    """``Path.read_text(encoding="utf-8", errors=errors)`` under the containment rule."""
    with open(path, encoding="utf-8", errors=errors, opener=opener(root)) as handle:
        return handle.read()
