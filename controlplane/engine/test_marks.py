"""Only what the control plane made and marked is removed; what the database account plants is never trusted."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from controlplane.engine import marks


def test_a_marked_tree_goes_with_its_mark(tmp_path: Path) -> None:
    data_dir = tmp_path / "db1"
    marks.mark(data_dir)
    (data_dir / "base").mkdir(parents=True)
    (data_dir / "base" / "1").write_text("rows")

    marks.remove_marked(data_dir)

    assert not data_dir.exists()
    assert not marks.mark_path(data_dir).exists()


def test_nothing_there_is_fine(tmp_path: Path) -> None:
    marks.remove_marked(tmp_path / "never-made")
    marks.mark(tmp_path / "made-then-crashed")  # marked, never created: the mark goes
    marks.remove_marked(tmp_path / "made-then-crashed")
    assert list(tmp_path.iterdir()) == []


def test_an_unmarked_tree_is_kept(tmp_path: Path) -> None:
    operators = tmp_path / "objects"
    operators.mkdir()
    (operators / "precious").write_text("keep me")

    with pytest.raises(marks.UnmarkedError, match="no mark of the control plane"):
        marks.remove_marked(operators)
    assert (operators / "precious").read_text() == "keep me"


def test_a_mark_naming_another_directory_is_no_mark(tmp_path: Path) -> None:
    marks.mark(tmp_path / "ours")
    (tmp_path / "theirs").mkdir()
    marks.mark_path(tmp_path / "ours").rename(marks.mark_path(tmp_path / "theirs"))

    assert not marks.is_marked(tmp_path / "theirs")
    with pytest.raises(marks.UnmarkedError):
        marks.remove_marked(tmp_path / "theirs")


def test_a_link_planted_as_the_mark_is_no_mark(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    marks.mark(real)
    (tmp_path / "victim").mkdir()
    marks.mark_path(tmp_path / "victim").symlink_to(marks.mark_path(real))

    assert not marks.is_marked(tmp_path / "victim")


@pytest.mark.skipif(os.geteuid() != 0, reason="a mark of another account needs root to make")
def test_a_mark_written_by_the_database_account_is_no_mark(tmp_path: Path) -> None:
    target = tmp_path / "db1"
    target.mkdir()
    forged = marks.mark_path(target)
    forged.write_text(str(target))
    account = pwd.getpwnam("postgres")
    os.chown(forged, account.pw_uid, account.pw_gid)

    assert not marks.is_marked(target)


def test_a_link_in_place_of_the_tree_goes_but_not_what_it_names(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file").write_text("root's")
    data_dir = tmp_path / "db1"
    marks.mark(data_dir)
    data_dir.symlink_to(victim)

    marks.remove_marked(data_dir)

    assert not os.path.lexists(data_dir)
    assert (victim / "file").read_text() == "root's"


def test_links_inside_are_removed_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file").write_text("root's")
    data_dir = tmp_path / "db1"
    marks.mark(data_dir)
    data_dir.mkdir()
    (data_dir / "planted").symlink_to(victim)

    marks.remove_marked(data_dir)

    assert (victim / "file").read_text() == "root's"
