"""The repository stands alone: nothing it ships cites a file outside itself."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import PEER_MAIL, REPO

TEXT_SUFFIXES = {".py", ".md", ".sh", ".toml", ".j2", ".html", ".txt", ".service", ".cfg", ".ini"}
# a folder beside the repository, or the two documents cited without the folder they are in
OUTSIDE = re.compile(r"\.\./shared|(?<![/\w])(CONTRACT|DESIGN)\.md")
# an absolute path: its first folder, unless it follows a word, a dot, a colon or a slash (URLs, MIME types)
ABSOLUTE = re.compile(r"(?<![\w.:/~$-])/([A-Za-z][\w.-]*)/")
# the system's own folders (FHS), which the service and its docs name on purpose (/usr/bin/soffice, /proc/PID/…)
SYSTEM = {"bin", "boot", "dev", "etc", "lib", "lib64", "media", "mnt", "opt", "proc", "run", "sbin", "srv", "sys",
          "tmp", "usr", "var"}


def machine_path(line: str) -> str | None:
    """An absolute path into the developer's machine: under the folder this checkout lives in, a home folder, or
    any other folder of this machine's root that is not a system folder (console URLs such as /week/ are not).
    The checkout's own folder counts even when it lies in a system folder (a clone under /tmp)."""
    home = f"{REPO.parent}/"
    if len(REPO.parent.parts) > 1 and home in line:
        return home
    for match in ABSOLUTE.finditer(line):
        first = match.group(1)
        if first in SYSTEM:
            continue
        if first in {"home", "root", REPO.parts[1]} or Path("/", first).is_dir():
            return match.group(0)
    return None


def _tracked_text_files() -> list:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    files = [REPO / p for p in out.decode().split("\0") if p]
    return [f for f in files if f.suffix in TEXT_SUFFIXES and "peer-mail" not in f.parts and f.is_file()
            and f.name != "test_repo_standalone.py"]  # this file spells the patterns it looks for


def test_no_citation_of_files_outside_the_repository() -> None:
    offenders = []
    for f in _tracked_text_files():
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if f.parent.name == "docs" and re.search(r"\]\((CONTRACT|DESIGN)\.md(#[\w-]+)?\)", line):
                continue  # the two documents link each other from inside docs/
            if OUTSIDE.search(line.replace("docs/CONTRACT.md", "").replace("docs/DESIGN.md", "")) \
                    or machine_path(line):
                offenders.append(f"{f.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []


def test_a_path_of_the_machine_is_told_from_a_url_and_a_system_folder() -> None:
    here = REPO.parent / "shared" / "notice.md"
    assert machine_path(f"see {here}") in (f"{REPO.parent}/", f"/{REPO.parts[1]}/")
    assert machine_path("see ~/notes and /home/someone/notes.md") == "/home/"
    assert machine_path("/usr/bin/soffice, /proc/PID/status, /etc/dovecot/") is None
    assert machine_path("`/week/2020-02-17`, https://example.org/path/x, text/plain, /xl/workbook.xml") is None


def test_cited_documents_exist() -> None:
    assert (REPO / "docs" / "CONTRACT.md").is_file() and (REPO / "docs" / "DESIGN.md").is_file()
    cited = set()
    for f in _tracked_text_files():
        cited |= set(re.findall(r"docs/[\w./-]+\.(?:md|png)", f.read_text(encoding="utf-8", errors="replace")))
    missing = sorted(c for c in cited if not (REPO / c).is_file())
    assert missing == []


def test_peer_corpus_is_inside_with_its_licences() -> None:
    assert PEER_MAIL.is_relative_to(REPO)
    assert (PEER_MAIL / "README.md").is_file()
    assert (PEER_MAIL / "mail-parser" / "LICENSE.txt").is_file()
    assert (PEER_MAIL / "mail-mime-parser" / "LICENSE").is_file()
    assert len(list(PEER_MAIL.rglob("*.eml"))) == 99
