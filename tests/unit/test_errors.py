"""StorageError: which OS errors mean a full or an unwritable disk, and what it says."""

from __future__ import annotations

import errno

import pytest

from conductor_loop.errors import StorageError, storage_error, storage_writes


@pytest.mark.parametrize(
    ("err", "writing", "code"),
    [
        (errno.ENOSPC, False, "storage_full"),
        (errno.EDQUOT, False, "storage_full"),
        (errno.EROFS, False, "storage_unwritable"),
        (errno.EACCES, True, "storage_unwritable"),
        (errno.EPERM, True, "storage_unwritable"),
        (errno.EACCES, False, None),  # a read can fail so too: not a storage problem
        (errno.ENOENT, True, None),
        (errno.EISDIR, True, None),
    ],
)
def test_which_errors_are_storage_errors(err: int, writing: bool, code: str | None) -> None:
    error = storage_error(OSError(err, "x", "/runs/p/t/TASK.md"), writing=writing)
    assert (error and error.code) == code
    if error is not None:
        assert error.message.startswith(f"cannot write /runs/p/t/TASK.md: {error.strerror} (")
        assert isinstance(error, OSError) and error.errno == err


def test_a_failed_write_names_the_path_it_was_writing() -> None:
    with pytest.raises(StorageError) as raised, storage_writes("/runs/p/bus.md"):
        raise OSError(errno.ENOSPC, "No space left on device")  # as os.write raises it
    assert str(raised.value) == (
        "cannot write /runs/p/bus.md: No space left on device (the disk is full)"
    )
    with pytest.raises(FileNotFoundError), storage_writes("/runs/p/bus.md"):
        raise FileNotFoundError(errno.ENOENT, "gone")
