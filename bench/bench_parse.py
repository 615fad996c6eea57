"""Parse time per format: the typical weekly form and a 5,000-row sheet, in-process and through the Sandbox.

    python bench/bench_parse.py [--rows 5000] [--repeat 3]

Prints a table; no asserts. The sandbox column includes pickling both ways and
(on the first file) starting the worker; the worker is reused afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import io
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from parsers.analysis import analyze_attachment  # noqa: E402
from parsers.sandbox import Limits, Sandbox  # noqa: E402

MAIL_DATE = dt.date(2020, 2, 24)


def load_builder():
    spec = importlib.util.spec_from_file_location("build_attachments", ROOT / "fixtures" / "build_attachments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def big_grid(rows: int) -> list[list[object]]:
    grid: list[list[object]] = [["企业职工线上适岗技能提升培训备案情况统计表"], ["地市名称：广州市  时间：2月17日——2月23日"],
                                ["序号", "企业名称", "备案人数", "培训平台名称"]]
    for n in range(1, rows + 1):
        grid.append([n, f"广州市第{n}号科技有限公司", 10 + n % 90, f"平台{n % 7}"])
    grid.append(["合计", "", sum(10 + n % 90 for n in range(1, rows + 1)), ""])
    grid.append(["填报人：张三 联系电话：020-12345678"])
    return grid


def _excel_layout_xlsx(grid: list[list[object]]) -> bytes:
    """The grid as Excel stores it (xlsxwriter: every text in the shared-strings table)."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("Sheet1")
    for r, row in enumerate(grid):
        ws.write_row(r, 0, row)
    ws.merge_range(0, 0, 0, 3, grid[0][0])
    ws.merge_range(1, 0, 1, 3, grid[1][0])
    wb.close()
    return buf.getvalue()


def big_files(build, rows: int) -> dict[str, bytes]:
    import docx
    import xlwt

    grid = big_grid(rows)
    files = {"xlsx": build._xlsx_bytes(grid, [(0, 0, 0, 3), (1, 0, 1, 3)]), "xlsx-excel": _excel_layout_xlsx(grid)}

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    buf = io.BytesIO()
    book.save(buf)
    files["xls"] = buf.getvalue()

    body = "\n".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in grid)
    files["xls-html"] = f'<html><head><meta charset="gbk"></head><body><table>{body}</table></body></html>'.encode(
        "gbk"
    )

    document = docx.Document()
    table = document.add_table(rows=len(grid), cols=4)
    for r, row in enumerate(grid):
        cells = table.rows[r].cells
        for c, value in enumerate(row):
            cells[c].text = str(value)
    buf = io.BytesIO()
    document.save(buf)
    files["docx"] = buf.getvalue()

    files["pdf"] = build._pdf_bytes(grid[0][0], [grid[1][0]], grid[2:-1], [grid[-1][0]])
    return files


def typical_files() -> dict[str, bytes]:
    attachments = ROOT / "fixtures" / "attachments"
    names = {"xlsx": "weekly.xlsx", "xlsx-excel": "writers/weekly_xlsxwriter.xlsx", "xls": "weekly.xls",
             "xls-html": "weekly_html.xls", "docx": "weekly.docx", "pdf": "weekly.pdf"}
    return {fmt: (attachments / name).read_bytes() for fmt, name in names.items()}


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    build = load_builder()
    print(f"building files ({args.rows} rows) ...", flush=True)
    sets = {"typical": typical_files(), f"{args.rows} rows": big_files(build, args.rows)}
    limits = Limits(cpu_seconds=300, wall_timeout_s=600)  # measure, don't kill
    print(f"{'file':<12} {'format':<9} {'size KB':>8} {'in-process s':>13} {'sandbox s':>10} {'rows read':>10}  problems")
    with Sandbox(limits) as sandbox:
        sandbox.analyze(sets["typical"]["xlsx"], "warmup.xlsx", MAIL_DATE)  # start the worker outside the timings
        for label, files in sets.items():
            for fmt, data in files.items():
                name = f"bench.{fmt.split('-')[0]}"
                local_s, local = timed(lambda d=data, n=name: analyze_attachment(d, n, MAIL_DATE, limits), args.repeat)
                boxed_s, boxed = timed(lambda d=data, n=name: sandbox.analyze(d, n, MAIL_DATE), args.repeat)
                rows = len(boxed.weekly.rows) if boxed.weekly else 0
                print(f"{label:<12} {fmt:<9} {len(data) / 1024:>8.0f} {local_s:>13.3f} {boxed_s:>10.3f} {rows:>10}  "
                      f"{'; '.join(boxed.problems)[:60]}", flush=True)
        print(f"sandbox: {sandbox.stats}")
    print(f"parent peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
