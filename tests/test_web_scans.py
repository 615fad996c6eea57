"""The console's message page for a scanned attachment: its page image beside the values OCR read.

What OCR said is scripted here (``ScriptedAnalyzer``: the real OCR runs in
test_scans_end_to_end.py); the page images are rendered from the real scan
fixtures, decoded again from the archived message as a download is.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from ingest.runtime.poll import ingest_paths
from parsers.application import ApplicationData
from tests.conftest import FIXTURES
from tests.test_application_paths import ScriptedAnalyzer, mail
from tests.web_support import ADMIN, STAFF, filled_app, message_id_from, sign_in
from web.app import create_app
from web.page_image import MAX_SIDE

SCANS = FIXTURES / "attachments" / "scans"
SENDER = "apply@yxt-edu.example.cn"
PDF_SCAN = "附件1_基本情况表（盖章扫描件）.pdf"
PHOTO = "附件1_基本情况表（手机拍照）.jpg"
BOMB = "附件1_基本情况表（照片）.png"
FORM_DOCX = "附件1_基本情况表.docx"
BROKEN_PDF = "附件1_基本情况表（扫描件，传输中断）.pdf"
HOSTILE_VALUE = "<img src=x onerror=alert(1)>广州粤学通教育科技有限公司"


@pytest.fixture
def store_url() -> str:
    return "sqlite:///var/zxjyck.db"  # the page does not depend on the backend


@pytest.fixture
def scanned(app, clock, tmp_path: Path):
    clock.value = datetime(2020, 2, 27, 1, 0, tzinfo=UTC)
    filled_app(app, tmp_path)
    analyzer = ScriptedAnalyzer()
    for name in (PDF_SCAN, PHOTO, BOMB):
        analyzer.ocr[name] = {
            "scanned": True, "stamped": None, "ocr_fields": {"organization": 0.95, "credit_code": 0.52},
            "low_confidence_fields": ["credit_code"],
            "application": ApplicationData(organization=HOSTILE_VALUE, credit_code="91440106MA5CQ7XK30")}
    app.analyzer = analyzer
    mail(tmp_path / "scan-in", "a.eml", sender=SENDER, subject="线上培训平台申报材料",
         when=datetime(2020, 2, 26, 2, 0, tzinfo=UTC),
         files={PDF_SCAN: (SCANS / "basic_form_stamped.pdf").read_bytes(),
                PHOTO: (SCANS / "basic_form_photo.jpg").read_bytes(),
                BOMB: (SCANS / "hostile_pixel_bomb.png").read_bytes(),
                FORM_DOCX: (FIXTURES / "attachments" / "notice" / "附件1_基本情况表.docx").read_bytes(),
                BROKEN_PDF: (SCANS / "basic_form_stamped.pdf").read_bytes()[:20000]})
    ingest_paths(app, [tmp_path / "scan-in"])
    return app


@pytest.fixture
def client(scanned):
    with TestClient(create_app(scanned), base_url="http://testserver", follow_redirects=False) as c:
        yield c


def _png(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(response.content))
    assert max(image.size) <= MAX_SIDE
    return image


def test_message_page_shows_the_page_image_beside_the_values_and_confidences(client, scanned) -> None:
    sign_in(client, STAFF)  # staff, not only administrators, check scans
    pk = message_id_from(scanned, SENDER)
    html = client.get(f"/messages/{pk}").text
    assert f'src="/messages/{pk}/attachments/0/page.png"' in html
    assert f'src="/messages/{pk}/attachments/1/page.png"' in html
    assert "/attachments/3/page.png" not in html  # the Word form is no scan
    section = html[html.index('id="ocr-0"'):html.index('id="ocr-1"')]
    row = re.search(r"<tr class=\"held\"><td>统一社会信用代码</td><td>91440106MA5CQ7XK30</td>"
                    r"<td class=\"num\">0\.52</td><td>待核对</td></tr>", section)
    assert row, section
    assert re.search(r"<td>机构名称</td><td>&lt;img src=x onerror=alert\(1\)&gt;广州粤学通教育科技有限公司</td>"
                     r"<td class=\"num\">0\.95</td>", section), section
    assert "<img src=x" not in html  # the value read is text, escaped
    assert "无法判断" in section


def test_page_images_of_a_scanned_pdf_and_a_photo(client, scanned) -> None:
    sign_in(client, STAFF)
    pk = message_id_from(scanned, SENDER)
    pdf_page = _png(client.get(f"/messages/{pk}/attachments/0/page.png"))
    assert pdf_page.height > pdf_page.width  # an A4 page, upright
    photo = _png(client.get(f"/messages/{pk}/attachments/1/page.png"))
    assert photo.width > 300 and photo.height > 300
    red = Image.open(io.BytesIO(client.get(f"/messages/{pk}/attachments/0/page.png").content)).convert("RGB")
    assert any(r > 150 and g < 90 and b < 90 for r, g, b in red.getdata()), "the seal's red is in the image"


def test_page_image_refuses_what_is_no_picture_or_too_big(client, scanned) -> None:
    sign_in(client, ADMIN)
    pk = message_id_from(scanned, SENDER)
    bomb = client.get(f"/messages/{pk}/attachments/2/page.png")
    assert bomb.status_code == 422 and "超出大小限制" in bomb.text and "Traceback" not in bomb.text
    assert client.get(f"/messages/{pk}/attachments/3/page.png").status_code == 404  # a docx
    broken = client.get(f"/messages/{pk}/attachments/4/page.png")  # a PDF cut off in transit
    assert broken.status_code in (404, 422) and "Traceback" not in broken.text
    assert not broken.content.startswith(b"\x89PNG")
    for path in (f"/messages/{pk}/attachments/9/page.png", "/messages/999999/attachments/0/page.png",
                 f"/messages/{pk}/attachments/..%2F0/page.png"):
        assert client.get(path).status_code in (404, 400), path


def test_page_image_needs_a_session(client, scanned) -> None:
    pk = message_id_from(scanned, SENDER)
    response = client.get(f"/messages/{pk}/attachments/0/page.png")
    assert response.status_code == 303 and "/login" in response.headers["location"]
    assert not response.content.startswith(b"\x89PNG")


def test_project_and_row_fields_have_values_and_names_staff_can_read() -> None:
    from ingest.pipeline.process import ocr_values
    from parsers.analysis import AttachmentAnalysis
    from parsers.application import ProjectData, ocr_field_label

    form = ApplicationData(organization="广州粤学通教育科技有限公司", projects=[
        ProjectData(name="电工技能提升", occupation="电工", format="录播", hours=48, raw_hours="48", assessment="线上考试",
                    source="自有", fee="免费")])
    analysis = AttachmentAnalysis(filename="x.pdf", format="pdf", application=form,
                                  ocr_fields={"organization": 0.99, "projects[0].name": 0.98, "projects[0].hours": 0.97,
                                              "projects[5].fee": 0.5})
    assert ocr_values(analysis) == {"organization": "广州粤学通教育科技有限公司", "projects[0].name": "电工技能提升",
                                    "projects[0].hours": "48", "projects[5].fee": None}
    assert ocr_field_label("projects[0].hours") == "培训项目1·培训课时"
    assert ocr_field_label("rows[2].headcount") == "第3行·备案人数"
    assert ocr_field_label("credit_code") == "统一社会信用代码"
    assert ocr_field_label("city") == "地市"
