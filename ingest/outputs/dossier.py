"""The dossier of one application, for the expert panel (`zxjyck export --dossier`, run by dossier_export.py).

    OUT/
      01_南粤工匠云课堂/
        封面_南粤工匠云课堂.xlsx / .pdf     the form's values, the checks, the mail history
        1_基本情况表/                       every copy received (Word, stamped scan, …),
                                            and 识别结果.pdf when the values were read from a scan
        2_机构资信类材料/ … 5_平台培训内容材料/   the senders' files, names made safe
      01_南粤工匠云课堂.zip

The files come from the archived raw messages (the same bytes the sender sent);
a material found inside a zip attachment is taken out of it under the same
limits the parsers use. File names are strangers' text: they are made safe for
every file system (no separators, reserved names or control characters) and
never overwrite each other.
"""

from __future__ import annotations

import io
import logging
import posixpath
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pathvalidate import sanitize_filename
from sqlmodel import Session, select

from ingest.app import App
from ingest.errors import IngestError
from ingest.pipeline.decode import decode_message
from ingest.workflows.verdicts import batch_applications
from parsers.application import FIELD_NAMES
from parsers.formats.archive import decode_member_name
from parsers.formats.errors import FormatError
from parsers.formats.limits import Limits
from parsers.formats.ooxml import UnzipBudget, check_zip_safety
from store.archive import MissingArchiveFile
from store.models import (
    MATERIAL_KEYS,
    Application,
    ApplicationMaterial,
    ApplicationMessage,
    ApplicationProject,
    Message,
    Outbox,
)
from zxjyck import labels

log = logging.getLogger(__name__)

MATERIAL_FOLDERS = {
    "basic_form": "1_基本情况表",
    "credentials": "2_机构资信类材料",
    "construction": "3_平台建设材料",
    "operation": "4_平台运行材料",
    "content": "5_平台培训内容材料",
}
READ_VALUES_NAME = "识别结果.pdf"
MATERIAL_NAMES = {key: labels.MATERIAL[key] for key in MATERIAL_KEYS}  # the five materials, in order
FORM_LABELS = dict(FIELD_NAMES, organization="注册登记机构", website="网址")  # the basic form's rows, as the notice


class DossierError(IngestError):
    """The dossier cannot be written."""


class DossierOutNotWritable(DossierError):
    """The output folder cannot be created or written."""


class DossierBatchUnknown(DossierError):
    """--batch names no configured batch."""


@dataclass
class MaterialFile:
    category: str
    filename: str  # as the sender named it
    saved_as: str = ""  # the safe name inside its folder; '' when it could not be taken out
    note: str = ""


@dataclass
class MailEvent:
    at: datetime
    direction: str  # 收到 | 发出
    who: str
    subject: str
    detail: str


@dataclass
class Dossier:
    """Everything a cover sheet shows, read from the store."""

    application: Application
    projects: list[ApplicationProject]
    files: list[MaterialFile] = field(default_factory=list)
    history: list[MailEvent] = field(default_factory=list)
    folder: str = ""

    @property
    def present(self) -> list[str]:
        return [k for k in MATERIAL_KEYS if any(f.category == k for f in self.files)]

    def checks(self) -> list[tuple[str, str]]:
        a = self.application
        from ingest.workflows.application_checks import credit_code_check

        seal = {True: "已收到加盖公章的扫描件或照片", False: "仅收到未盖章的版本",
                None: "扫描件无法辨认公章（待人工核对）"}[a.stamped]
        if "basic_form" not in self.present:
            seal = "未收到基本情况表"
        missing = [MATERIAL_NAMES[k] for k in MATERIAL_KEYS if k not in self.present]
        return [
            ("统一社会信用代码", f"{a.credit_code or '—'}：{credit_code_check(a.credit_code)}"),
            ("公章", seal),
            ("证照核对", {"一致": "证照上的名称和信用代码与基本情况表一致",
                          "不一致": "证照与基本情况表不一致（见下方待核对事项）"}.get(a.licence_check,
                                                                                   "未识别到营业执照等证照")),
            ("材料", "五项材料齐全" if not missing else "缺少：" + "、".join(missing)),
            ("基本情况表", "；".join(a.form_problems) if a.form_problems else "各栏目填写完整、格式正确"),
        ]


def safe_name(name: str, fallback: str = "未命名") -> str:
    """A stranger's file name made safe on Windows, macOS and Linux, extension kept."""
    base = posixpath.basename(name.replace("\\", "/"))
    safe = sanitize_filename(base, platform="universal", max_len=120).strip(" .")
    return safe or fallback


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    candidate, n = name, 2
    while candidate.lower() in taken:
        candidate = f"{stem}({n}).{ext}" if ext else f"{stem}({n})"
        n += 1
    taken.add(candidate.lower())
    return candidate


# --------------------------------------------------------------------------- reading the store


def applications_for(session: Session, batch: str | None) -> list[Application]:
    return batch_applications(session, batch)


def dossier_title(application: Application) -> str:
    return application.platform_name or application.organization or f"申报{application.id}"


def dossier_folders(applications: list[Application]) -> list[str]:
    """The folder name of each application's dossier, numbered in the order given (``applications_for``)."""
    return [f"{n:02d}_{safe_name(dossier_title(a))[:60]}" for n, a in enumerate(applications, start=1)]


def _history(session: Session, application: Application, tz: ZoneInfo) -> list[MailEvent]:
    events: list[MailEvent] = []
    links = session.exec(select(ApplicationMessage).where(ApplicationMessage.application_id == application.id))
    pks = [link.message_pk for link in links]
    for msg in session.exec(select(Message).where(Message.id.in_(pks))) if pks else []:
        files = session.exec(select(ApplicationMaterial.filename)
                             .where(ApplicationMaterial.application_id == application.id,
                                    ApplicationMaterial.message_pk == msg.id)).all()
        events.append(MailEvent(msg.received_at, "收到", msg.from_addr, msg.subject,
                                "附件：" + "、".join(files) if files else "无申报材料附件"))
    for out in session.exec(select(Outbox).where(Outbox.about_message_pk.in_(pks))) if pks else []:
        events.append(MailEvent(out.created_at, "发出", "、".join(out.to), out.subject,
                                f"{labels.label(labels.NOTICE_KIND, out.kind)}，{labels.label(labels.OUTBOX_STATUS, out.status)}"))
    return sorted(events, key=lambda e: e.at)


def _material_rows(session: Session, application: Application) -> list[ApplicationMaterial]:
    return list(session.exec(select(ApplicationMaterial).where(ApplicationMaterial.application_id == application.id)
                             .order_by(ApplicationMaterial.message_pk, ApplicationMaterial.id)))


# --------------------------------------------------------------------------- the files


def _member(data: bytes, wanted: str, limits: Limits) -> bytes | None:
    """One member of a zip attachment, by its decoded name, under the parsers' zip limits."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip_safety(zf, "zip", limits, UnzipBudget(limits), encrypted_is_error=False)
            for info in zf.infolist():
                if not info.is_dir() and decode_member_name(info) == wanted and not info.flag_bits & 0x1:
                    return zf.read(info)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, FormatError) as exc:
        log.info("dossier: zip member %r not extracted: %s", wanted, exc)
    return None


def _attachment_bytes(attachments: list, filename: str, limits: Limits) -> bytes | None:
    for att in attachments:
        if att.filename == filename:
            return att.data
    for att in attachments:
        if att.data[:4] == b"PK\x03\x04":
            found = _member(att.data, filename, limits)
            if found is not None:
                return found
    return None


def write_files(app: App, session: Session, dossier: Dossier, folder: Path) -> None:
    limits = Limits()
    by_message: dict[int, list[ApplicationMaterial]] = defaultdict(list)
    for material in _material_rows(session, dossier.application):
        by_message[material.message_pk].append(material)
    taken: dict[str, set[str]] = defaultdict(set)
    if dossier.application.form_scanned:
        taken["basic_form"].add(READ_VALUES_NAME.lower())  # ours: a sender's file of that name gets another
    for pk, materials in by_message.items():
        msg = session.get(Message, pk)
        try:
            attachments = decode_message(app.archive.get(msg.sha256)).attachments
        except MissingArchiveFile:
            attachments = []
        for material in materials:
            entry = MaterialFile(material.category, material.filename)
            dossier.files.append(entry)
            if material.category not in MATERIAL_FOLDERS:
                continue
            data = _attachment_bytes(attachments, material.filename, limits)
            if data is None:
                entry.note = "原始文件未能取出（见原邮件）"
                continue
            sub = folder / MATERIAL_FOLDERS[material.category]
            sub.mkdir(parents=True, exist_ok=True)
            entry.saved_as = _unique(safe_name(material.filename), taken[material.category])
            (sub / entry.saved_as).write_bytes(data)


def zip_folder(folder: Path, target: Path) -> Path:
    """The folder as one zip (UTF-8 names), written beside it and moved into place when whole."""
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    partial.replace(target)
    return target


def form_rows(a: Application) -> list[tuple[str, str]]:
    """(label, value) of the basic form, in the notice's order and with its labels."""
    return [(FORM_LABELS[key], getattr(a, key) or "") for key in FIELD_NAMES]
