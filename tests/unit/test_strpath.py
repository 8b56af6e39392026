"""``storage.strpath``: string paths spelled exactly as pathlib spells them."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from conductor_loop.storage import strpath

# Paths made of the characters that matter to pathlib's spelling.
_paths = st.text(alphabet=st.sampled_from("/./a~b"), max_size=14)
_names = st.text(alphabet=st.sampled_from("ab._-"), min_size=1, max_size=4).filter(
    lambda n: n != "."
)


@given(_paths)
@example("")
@example("//")
@example("///a//b/")
@example("//a/./b/..")
@example("./a/.")
def test_normal_parent_and_name_are_pathlibs(path: str) -> None:
    normal = strpath.normal(path)
    assert normal == str(Path(path))
    assert strpath.parent(normal) == str(Path(path).parent)
    assert strpath.name(normal) == Path(path).name


@given(_paths)
@example("~")
@example("~/x//y/")
@example("a/../b")
def test_absolute_is_pathlibs(path: str) -> None:
    try:
        expected = str(Path(path).expanduser().absolute())
    except RuntimeError:  # "~user" for no such user: pathlib gives up, we keep the name
        expected = str(Path(path).absolute())
    assert strpath.absolute(path) == expected


@given(_paths, st.lists(_names, min_size=1, max_size=3))
def test_join_is_pathlibs(directory: str, names: list[str]) -> None:
    normal = strpath.normal(directory)
    assert strpath.join(normal, *names) == str(Path(normal, *names))


def test_absolute_starts_from_the_working_directory(tmp_path: Path) -> None:
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert strpath.absolute("x/./y") == f"{tmp_path}/x/y"
    finally:
        os.chdir(here)
