"""Scans and photos of the notice's forms read by OCR in the sandbox's OCR worker; seals; licences; hostile images.

OCR is slow (seconds a page): every page is read once, through the real
sandbox, in a module-scoped fixture, and many tests check its result.
The seal and image tests work on pages built in memory and need no OCR.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys

import numpy as np
import pytest
from PIL import Image

from parsers.analysis import AttachmentAnalysis, analyze_attachment
from parsers.application import ApplicationData
from parsers.formats.errors import LimitExceededError
from parsers.ocr import seal
from parsers.ocr.engine import OcrBox
from parsers.ocr.image import Page, is_grayscale, load_image, straighten
from parsers.ocr.layout import read_layout
from parsers.ocr.scan import _score_application
from parsers.sandbox import Limits, Sandbox
from tests.attachment_support import ATTACHMENTS, MAIL_DATE

SCANS = ATTACHMENTS / "scans"


def _load_scan_builder():
    spec = importlib.util.spec_from_file_location("build_scans", ATTACHMENTS.parent / "build_scans.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


build = _load_scan_builder()
OCR_FILES = ("basic_form_stamped.pdf", "basic_form_photo.jpg", "basic_form_gray.pdf", "weekly_scan.pdf", "weekly_photo.jpg",
             "licence_scan.jpg", "hostile_pixel_bomb.png", "hostile_truncated.jpg", "hostile_many_pages.pdf",
             "basic_form_sideways.pdf", "weekly_upside_down.pdf")


@pytest.fixture(scope="module")
def ocr_run() -> tuple[dict[str, AttachmentAnalysis], dict[str, dict], int]:
    """Every OCR fixture through the production sandbox (ordinary reader, then the OCR worker): the results,
    the OCR worker's report after each file (pid, pages read), and how many OCR workers were started."""
    results, usage = {}, {}
    with Sandbox() as sandbox:
        for name in OCR_FILES:
            results[name] = sandbox.analyze((SCANS / name).read_bytes(), name, MAIL_DATE)
            usage[name] = dict(sandbox._ocr_sandbox.last_usage)
        assert sandbox.stats.scans == len(OCR_FILES)
        started = sandbox._ocr_sandbox.stats.workers_started
    return results, usage, started


@pytest.fixture(scope="module")
def read(ocr_run) -> dict[str, AttachmentAnalysis]:
    return ocr_run[0]


# ---------------------------------------------------------------- 附件1 from a scan and a photo
@pytest.mark.parametrize("name", ["basic_form_stamped.pdf", "basic_form_photo.jpg", "basic_form_sideways.pdf"])
def test_basic_form_fields_read_exactly(read, name: str) -> None:
    analysis = read[name]
    assert analysis.scanned is True
    app = analysis.application
    assert app is not None
    for key in ("platform_name", "website", "organization", "credit_code", "contact", "contact_title", "phone",
                "email", "address"):
        assert getattr(app, key) == build.APPLICATION[key], key
    assert [(p.name, p.occupation, p.format, str(p.hours), p.assessment, p.source, p.fee) for p in app.projects] \
        == [row[1:] for row in build.PROJECTS]


@pytest.mark.parametrize("name", ["basic_form_stamped.pdf", "basic_form_photo.jpg", "basic_form_sideways.pdf"])
def test_basic_form_confidences(read, name: str) -> None:
    analysis = read[name]
    for key in ("platform_name", "organization", "credit_code", "phone", "email", "projects[1].hours"):
        assert 0.9 <= analysis.ocr_fields[key] <= 1.0, key
    assert analysis.low_confidence_fields == []
    assert analysis.material is not None and analysis.material.category == "basic_form"


def test_seal_found_on_the_stamped_scan_and_photo(read) -> None:
    assert read["basic_form_stamped.pdf"].stamped is True
    assert read["basic_form_photo.jpg"].stamped is True
    assert read["basic_form_sideways.pdf"].stamped is True


def test_grayscale_scan_is_read_but_cannot_show_its_seal(read) -> None:
    analysis = read["basic_form_gray.pdf"]
    assert analysis.stamped is None and analysis.scanned is True
    assert analysis.application.organization == build.APPLICATION["organization"]  # under the gray seal
    assert analysis.application.credit_code == build.APPLICATION["credit_code"]


# ---------------------------------------------------------------- 附件2 from a scan and a photo
@pytest.mark.parametrize("name", ["weekly_scan.pdf", "weekly_photo.jpg", "weekly_upside_down.pdf"])
def test_weekly_form_read_exactly(read, name: str) -> None:
    analysis = read[name]
    report = analysis.weekly
    assert analysis.scanned is True and analysis.application is None
    assert report is not None
    assert report.city == build.WEEKLY["city"]
    assert (report.week_start.isoformat(), report.week_end.isoformat()) == ("2020-02-17", "2020-02-23")
    assert report.filled_by == build.WEEKLY["filled_by"]
    assert report.phone == build.WEEKLY["phone"]
    assert [(r.enterprise, str(r.headcount), r.platform) for r in report.rows] == [r[1:] for r in build.WEEKLY_ROWS]
    assert set(analysis.ocr_fields) >= {"city", "phone", "rows[2].headcount", "rows[0].enterprise"}
    assert analysis.low_confidence_fields == []


# ---------------------------------------------------------------- the licence
def test_licence_read(read) -> None:
    licence = read["licence_scan.jpg"].licence
    assert licence is not None
    assert (licence.kind, licence.name, licence.credit_code) == (
        "营业执照", build.LICENCE["name"], build.LICENCE["credit_code"])
    assert licence.credit_code_valid is True and licence.confidence >= 0.9
    assert read["licence_scan.jpg"].material.category == "credentials"
    assert read["basic_form_stamped.pdf"].licence is None


# ---------------------------------------------------------------- hostile images
def test_pixel_bomb_is_refused_before_decoding(read) -> None:
    analysis = read["hostile_pixel_bomb.png"]
    assert analysis.problems == [
        "附件“hostile_pixel_bomb.png”图片像素过多（疑似图片炸弹）（60000×60000 像素，上限 100 百万像素），"
        "未予读取，请精简或拆分后重新发送"]


def test_truncated_jpeg_is_a_clear_problem(read) -> None:
    assert read["hostile_truncated.jpg"].problems == [
        "附件“hostile_truncated.jpg”已损坏或不完整，无法作为 jpg 文件打开，请重新保存后发送"]


def test_page_limit_per_scanned_document(read) -> None:
    assert read["hostile_many_pages.pdf"].problems == [
        "附件“hostile_many_pages.pdf”为扫描件，共 60 页，只自动识别了前 8 页，其中未找到基本情况表或统计表；"
        "请将表格页单独扫描发送"]


def test_ocr_never_runs_in_the_callers_process(read) -> None:
    assert "rapidocr_onnxruntime" not in sys.modules and "onnxruntime" not in sys.modules
    in_process = analyze_attachment((SCANS / "basic_form_stamped.pdf").read_bytes(), "附件1.pdf", MAIL_DATE)
    assert in_process.scanned is False and in_process.application is None
    assert "rapidocr_onnxruntime" not in sys.modules


def test_ocr_worker_has_its_own_limits_and_is_killed_at_its_wall_clock_limit() -> None:
    with Sandbox(Limits(ocr_wall_timeout_s=2)) as sandbox:
        analysis = sandbox.analyze((SCANS / "weekly_photo.jpg").read_bytes(), "weekly_photo.jpg", MAIL_DATE)
        ocr_limits = sandbox._ocr_sandbox.limits
        assert sandbox._ocr_sandbox.stats.timeouts == 1 and sandbox.stats.timeouts == 0
    # our time limit, not the sender's fault: nothing asks the sender to resend; staff hear of it (``limited``)
    assert analysis.problems == []
    assert analysis.scanned is True and analysis.stamped is None
    [note] = analysis.limited
    assert "weekly_photo.jpg" in note and "超过 2 秒" in note and "待工作人员查看原件" in note
    assert "重新发送" not in note
    assert (ocr_limits.address_space_mb, ocr_limits.cpu_seconds, ocr_limits.pages_per_worker,
            ocr_limits.max_worker_rss_mb) == (2048, 120, 24, 1024)


# ---------------------------------------------------------------- one OCR worker for many scans
def test_one_ocr_worker_reads_every_scan_of_the_run(ocr_run) -> None:
    _results, usage, started = ocr_run
    assert started == 1
    assert len({u["pid"] for u in usage.values()}) == 1
    pages = [usage[name]["pages"] for name in OCR_FILES]
    assert pages == sorted(pages) and pages[0] == 1  # one worker, its page count growing scan after scan
    # an upright page is read once; a blank page once; a page the wrong way up twice
    assert usage["hostile_many_pages.pdf"]["pages"] - usage["hostile_truncated.jpg"]["pages"] == 8
    assert usage["basic_form_sideways.pdf"]["pages"] - usage["hostile_many_pages.pdf"]["pages"] == 2
    assert usage["weekly_upside_down.pdf"]["pages"] - usage["basic_form_sideways.pdf"]["pages"] == 2


def _gone(pid: int) -> bool:
    """The process has ended and been reaped (waits a little for its parent, the forkserver, to reap it)."""
    import time

    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    time.sleep(0.1)
                    continue
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_ocr_worker_replaced_when_killed_and_retired_after_its_page_cap() -> None:
    import signal

    data = (SCANS / "licence_scan.jpg").read_bytes()

    def credit_code() -> str:
        return sandbox.analyze(data, "licence_scan.jpg", MAIL_DATE).licence.credit_code

    with Sandbox(Limits(ocr_pages_per_worker=2)) as sandbox:
        assert credit_code() == build.LICENCE["credit_code"]
        ocr = sandbox._ocr_sandbox
        first = ocr.last_usage["pid"]
        os.kill(first, signal.SIGKILL)  # the worker dies between scans (the OOM killer, an operator)
        assert credit_code() == build.LICENCE["credit_code"]  # read by a new worker, nothing held for staff
        second = ocr.last_usage["pid"]
        assert credit_code() == build.LICENCE["credit_code"]
        assert (ocr.last_usage["pid"], ocr.last_usage["pages"]) == (second, 2)
        assert second != first and ocr.stats.workers_started == 2 and ocr.stats.crashes == 0
        assert ocr.stats.retired == 1 and _gone(second)  # its second page reached the cap: retired
        attachment_worker = sandbox._worker.process.pid
    assert _gone(attachment_worker)


def test_an_idle_ocr_worker_is_stopped_and_the_next_scan_starts_another() -> None:
    """The daemon asks its pool every minute to stop OCR workers idle for a few minutes (about 0.5 GB each)."""
    from parsers.pool import SandboxPool

    data = (SCANS / "licence_scan.jpg").read_bytes()
    with SandboxPool(1) as pool:
        [sandbox] = pool._all
        assert pool.analyze(data, "licence_scan.jpg", MAIL_DATE).licence.credit_code == build.LICENCE["credit_code"]
        first = sandbox._ocr_sandbox.last_usage["pid"]
        assert pool.release_idle_ocr(3600) == 0 and not _gone(first)  # read a moment ago: kept
        assert pool.release_idle_ocr(0) == 1 and _gone(first) and sandbox._ocr_sandbox is None
        assert pool.release_idle_ocr(0) == 0  # nothing left to stop
        assert pool.analyze(data, "licence_scan.jpg", MAIL_DATE).licence.credit_code == build.LICENCE["credit_code"]
        assert sandbox._ocr_sandbox.last_usage["pid"] != first


def test_closing_the_sandbox_ends_its_ocr_worker(ocr_run) -> None:
    _results, usage, _started = ocr_run
    assert _gone(usage["weekly_upside_down.pdf"]["pid"])  # no orphan once the module's sandbox closed


def test_image_over_the_pixel_cap_is_refused_from_its_header() -> None:
    buffer = io.BytesIO()
    Image.new("L", (2000, 1500), 255).save(buffer, "PNG")
    with pytest.raises(LimitExceededError) as caught:
        load_image(buffer.getvalue(), "big.png", max_pixels=1_000_000)
    assert "2000×1500 像素" in caught.value.problem


# ---------------------------------------------------------------- seal detection (no OCR needed)
@pytest.fixture(scope="module")
def form_page() -> tuple[Image.Image, tuple[int, int]]:
    return build.basic_form_page()


def _page(image: Image.Image) -> Page:
    rgb = np.asarray(build.colour_scan(image, 9)) if image.mode == "RGB" else np.asarray(image)
    return Page(rgb=rgb, number=1, grayscale=is_grayscale(rgb))


def test_seal_found(form_page) -> None:
    image, at = form_page
    assert seal.page_has_seal(_page(build.stamp(image, at, build.APPLICATION["organization"]))) is True


def test_faded_seal_found(form_page) -> None:
    image, at = form_page
    assert seal.page_has_seal(_page(build.stamp(image, at, build.APPLICATION["organization"], fade=0.5))) is True


def test_no_seal_on_an_unstamped_colour_scan(form_page) -> None:
    assert seal.page_has_seal(_page(form_page[0])) is False


def test_a_clean_colour_scan_with_a_faint_tint_is_unstamped_not_unclear(form_page) -> None:
    """A colour scanner on white paper with hardly any tint (channels 2-6 levels apart, through JPEG): the page
    can show red, so no seal on it means unstamped (the applicant is asked), never "cannot tell"."""
    image, at = form_page

    def faint(page: Image.Image) -> Page:
        pixels = np.asarray(page.convert("RGB"), dtype=np.float32) * np.array([0.995, 0.99, 0.975])
        pixels += np.random.default_rng(1).normal(0, 1.5, pixels.shape)
        scanned = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
        return load_image(build.jpeg(scanned, 80), "scan.jpg", 10_000_000)

    unstamped = faint(image)
    assert unstamped.grayscale is False and seal.page_has_seal(unstamped) is False
    assert seal.page_has_seal(faint(build.stamp(image, at, build.APPLICATION["organization"]))) is True


def test_grayscale_scan_cannot_tell(form_page) -> None:
    image, at = form_page
    stamped = build.stamp(image, at, build.APPLICATION["organization"])
    assert seal.page_has_seal(_page(stamped.convert("L"))) is None
    gray_as_rgb = np.asarray(stamped.convert("L").convert("RGB"))  # a grayscale scan saved as an RGB file
    assert seal.page_has_seal(Page(rgb=gray_as_rgb, number=1, grayscale=is_grayscale(gray_as_rgb))) is None


def test_red_pen_circle_is_not_a_seal(form_page) -> None:
    image, at = form_page
    circled = build.red_pen_circle(image, (at[0], at[1] + 250), (360, 100))
    round_circle = build.red_pen_circle(image, at, (230, 230))  # seal-sized, around the organisation's name
    assert seal.page_has_seal(_page(circled)) is False
    assert seal.page_has_seal(_page(round_circle)) is False


def test_red_text_and_logo_are_not_a_seal(form_page) -> None:
    from PIL import ImageDraw

    image = form_page[0].copy()
    draw = ImageDraw.Draw(image)
    draw.text((200, 1500), "加急！请于本周内办理", font=build.font(60), fill=(210, 30, 40))
    draw.ellipse((900, 1450, 1100, 1650), fill=(210, 30, 40))  # a solid red logo disc
    assert seal.page_has_seal(_page(image)) is False


def test_red_pen_fixture_is_not_stamped() -> None:
    page = load_image((SCANS / "basic_form_red_pen.jpg").read_bytes(), "x.jpg", 10_000_000)
    assert page.grayscale is False and seal.page_has_seal(page) is False


# ---------------------------------------------------------------- photos straightened
def test_photo_is_straightened_to_the_sheet() -> None:
    photo = load_image((SCANS / "basic_form_photo.jpg").read_bytes(), "photo.jpg", 10_000_000)
    flat = straighten(photo).rgb
    height, width = flat.shape[:2]
    assert abs(height / width - 297 / 210) < 0.04  # the A4 sheet, not the desk around it
    assert flat.shape != photo.rgb.shape


# ---------------------------------------------------------------- what staff must confirm
def _analysis_with(app: ApplicationData) -> AttachmentAnalysis:
    return AttachmentAnalysis(filename="scan.jpg", format="image", application=app)


def _page_of(cells: dict[str, float], extra: list[tuple[str, float]] = ()) -> list:
    boxes = [OcrBox(10, 30 * i, 300, 30 * i + 20, text, score) for i, (text, score) in
             enumerate([*cells.items(), *extra])]
    return [read_layout(1, np.full((600, 400), 255, np.uint8), boxes)]


def test_bad_check_character_low_confidence_and_malformed_phone_go_to_staff() -> None:
    code = build.APPLICATION["credit_code"]
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    app = ApplicationData(platform_name="粤学通", organization="广州某公司", credit_code=wrong, phone="1392608123",
                          email="a@b.example.cn")
    analysis = _analysis_with(app)
    _score_application(analysis, _page_of({"粤学通": 0.99, "广州某公司": 0.62, wrong: 0.98, "1392608123": 0.99,
                                            "a@b.example.cn": 0.97}))
    assert analysis.application.credit_code == wrong  # kept for staff to see, never "accepted"
    assert set(analysis.low_confidence_fields) == {"organization", "credit_code", "phone"}
    assert analysis.ocr_fields["organization"] == 0.62 and analysis.ocr_fields["platform_name"] == 0.99


def test_valid_code_elsewhere_on_the_page_replaces_a_misread_one() -> None:
    code = build.APPLICATION["credit_code"]
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    analysis = _analysis_with(ApplicationData(credit_code=wrong))
    _score_application(analysis, _page_of({wrong: 0.9}, [(f"统一社会信用代码：{code}", 0.97)]))
    assert analysis.application.credit_code == code
    assert "credit_code" not in analysis.low_confidence_fields


# ---------------------------------------------------------------- weekly reports before a backlog of scans
def test_cities_messages_are_processed_before_a_backlog_of_applications() -> None:
    from types import SimpleNamespace

    from ingest.pipeline.run import weekly_first

    cities = {"广州市": ("gzrsj@example.gov.cn",), "佛山市": ("fsrsj@example.gov.cn",)}  # the store's table
    app = SimpleNamespace(registered_cities=lambda: cities)
    senders = ["a@platform.example.cn", "GZRSJ@example.gov.cn", "b@platform.example.cn", "fsrsj@example.gov.cn",
               "", "gzrsj@example.gov.cn"]
    rows = [SimpleNamespace(id=n, from_addr=sender) for n, sender in enumerate(senders)]
    assert [row.id for row in weekly_first(app, rows)] == [1, 3, 5, 0, 2, 4]


def _longest_dark_row(rgb: np.ndarray) -> float:
    """The darkest row's share of dark pixels: near 1 where a ruled line runs level across the table."""
    gray = rgb if rgb.ndim == 2 else rgb.mean(axis=2)
    return float((gray < 128).mean(axis=1).max())


def test_tilted_flatbed_scan_is_deskewed(form_page) -> None:
    tilted = form_page[0].rotate(1.8, resample=Image.BICUBIC, fillcolor="white")  # no desk around it: a scan
    page = Page(rgb=np.asarray(tilted), number=1)
    level = straighten(page).rgb
    assert level.shape == page.rgb.shape  # nothing to unwarp, only rotated
    assert _longest_dark_row(page.rgb) < 0.4
    assert _longest_dark_row(level) > 0.75


def test_which_results_go_to_ocr() -> None:
    from parsers.materials import MaterialGuess
    from parsers.ocr.triage import needs_ocr

    def plain(fmt: str, text: str = "", category: str | None = None, problems=()) -> AttachmentAnalysis:
        material = MaterialGuess(category, "", 0.9) if category else None
        return AttachmentAnalysis(filename="f", format=fmt, text_excerpt=text, material=material,
                                  problems=list(problems))

    assert needs_ocr(plain("image"))  # IMG_2031.jpg: may be anything
    assert needs_ocr(plain("image", category="basic_form")) and needs_ocr(plain("image", category="credentials"))
    assert needs_ocr(plain("pdf", "扫描全能王 创建"))  # a phone scanner app's watermark is not a text layer
    assert not needs_ocr(plain("pdf", "职业技能提升行动线上培训平台基本情况表 " * 5))
    assert not needs_ocr(plain("image", category="construction"))  # screenshots of the platform
    assert not needs_ocr(plain("image", problems=["附件损坏"]))
    assert not needs_ocr(plain("xlsx"))


def test_phone_photo_stored_sideways_with_an_exif_orientation_is_turned_upright() -> None:
    photo = Image.open(SCANS / "basic_form_photo.jpg")
    sideways = photo.transpose(Image.ROTATE_90)  # the sensor's landscape pixels, as phones store them
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    buffer = io.BytesIO()
    sideways.save(buffer, "JPEG", quality=80, exif=exif.tobytes())
    page = load_image(buffer.getvalue(), "IMG_2031.jpg", 10_000_000)
    assert page.rgb.shape[:2] == (photo.height, photo.width)  # portrait again
    upright = np.asarray(photo.convert("RGB"), dtype=np.int16)
    assert np.abs(page.rgb.astype(np.int16) - upright).mean() < 8


# ---------------------------------------------------------------- which way up (fake readings, no OCR)
def _lines(count: int, tall: bool, score: float, text: str = "平台名称") -> list[OcrBox]:
    return [OcrBox(10, 40 * i, 30, 40 * i + 120, text, score) if tall else
            OcrBox(10, 40 * i, 130, 40 * i + 20, text, score) for i in range(count)]


def _reader(readings: dict[int, list[OcrBox]], page: np.ndarray):
    """A fake OCR: the reading for each quarter turn of ``page`` (counter-clockwise), and the turns asked for."""
    asked = []

    def read(rgb: np.ndarray) -> list[OcrBox]:
        turns = next(k for k in range(4) if np.array_equal(np.rot90(page, k), rgb))
        asked.append(turns)
        return readings.get(turns, [])

    return read, asked


@pytest.mark.parametrize(("readings", "turned", "asked"), [
    ({0: _lines(8, tall=False, score=0.99)}, 0, [0]),  # upright: read once, nothing more
    ({0: []}, 0, [0]),  # nothing like text (a blank page): read once
    ({0: _lines(8, tall=True, score=0.99), 1: _lines(8, tall=False, score=0.99)}, 90, [0, 1]),  # fed clockwise
    ({0: _lines(6, tall=False, score=0.6), 2: _lines(8, tall=False, score=0.99)}, 180, [0, 2]),  # upside down
    ({0: _lines(6, tall=True, score=0.6), 3: _lines(8, tall=False, score=0.99)}, 270, [0, 3]),  # counter-clockwise
    ({0: _lines(6, tall=False, score=0.6), 3: _lines(8, tall=False, score=0.99)}, 270, [0, 2, 3]),  # second guess
    ({0: _lines(2, tall=False, score=0.95)}, 0, [0, 2, 3]),  # little text, no turn better: the first reading
])
def test_page_turned_upright_from_its_own_reading(readings, turned, asked) -> None:
    from parsers.ocr.orientation import read_upright

    rgb = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)  # every quarter turn a different array
    read, calls = _reader(readings, rgb)
    page, boxes, degrees = read_upright(Page(rgb=rgb, number=3, grayscale=True), read)
    assert (degrees, calls) == (turned, asked)
    assert np.array_equal(page.rgb, np.rot90(rgb, turned // 90)) and (page.number, page.grayscale) == (3, True)
    assert boxes == readings.get(turned // 90, [])
