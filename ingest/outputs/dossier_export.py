"""`zxjyck export --dossier`: one folder and one zip per application (the layout: ingest/outputs/dossier.py).

Above both halves it runs: the dossier's model and files (dossier.py) and its cover sheets
(dossier_sheets.py, openpyxl and reportlab), so neither imports the other's caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from ingest.app import App
from ingest.outputs.dossier import (
    MATERIAL_FOLDERS,
    READ_VALUES_NAME,
    Dossier,
    DossierBatchUnknown,
    DossierOutNotWritable,
    _history,
    applications_for,
    dossier_folders,
    dossier_title,
    safe_name,
    write_files,
    zip_folder,
)
from ingest.outputs.dossier_sheets import write_cover_pdf, write_cover_xlsx, write_read_values_pdf
from store.db import session_scope
from store.models import Application, ApplicationProject


@dataclass
class DossierReport:
    folders: list[Path] = field(default_factory=list)
    zips: list[Path] = field(default_factory=list)
    skipped_incomplete: int = 0


def export_dossiers(app: App, out: str | Path, batch: str | None = None) -> DossierReport:
    names = [b.name for b in app.settings.applications.batches]
    if batch is not None and batch not in names:
        raise DossierBatchUnknown(f"unknown batch {batch!r} / 未配置的批次“{batch}”（可选：{'、'.join(names)}）")
    root = Path(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DossierOutNotWritable(f"{root}: cannot create the folder / 无法创建输出目录: {exc}") from exc
    tz = ZoneInfo(app.settings.schedule.timezone)
    report = DossierReport()
    with session_scope(app.engine) as session:
        chosen = applications_for(session, batch)
        report.skipped_incomplete = len(session.exec(select(Application.id)
                                                     .where(Application.complete.is_(False))).all())
        for application, name in zip(chosen, dossier_folders(chosen), strict=True):
            title = dossier_title(application)
            dossier = Dossier(application, list(session.exec(
                select(ApplicationProject).where(ApplicationProject.application_id == application.id)
                .order_by(ApplicationProject.position))), folder=name)
            folder = root / dossier.folder
            try:
                folder.mkdir(exist_ok=True)
                write_files(app, session, dossier, folder)
                dossier.history = _history(session, application, tz)
                stem = f"封面_{safe_name(title)[:60]}"
                write_cover_xlsx(dossier, folder / f"{stem}.xlsx", tz)
                write_cover_pdf(dossier, folder / f"{stem}.pdf", tz)
                if application.form_scanned:
                    sub = folder / MATERIAL_FOLDERS["basic_form"]
                    sub.mkdir(exist_ok=True)
                    write_read_values_pdf(dossier, sub / READ_VALUES_NAME)
                report.zips.append(zip_folder(folder, root / f"{dossier.folder}.zip"))
            except OSError as exc:
                raise DossierOutNotWritable(f"{folder}: cannot write / 无法写入: {exc}") from exc
            report.folders.append(folder)
    return report
