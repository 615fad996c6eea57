"""A batch of applications built through the real ingest path, for the panel, publication and status tests.

Each applicant sends one mail: its basic form (附件1 as a two-column sheet, its own contact person,
phone, e-mail and address) and the four materials. ``[applications] require_stamped_form`` is off,
so each is complete on arrival and falls in the first batch (closes 2020-02-28).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl

from parsers.validators import credit_code_check_char
from tests.test_application_paths import MATERIALS, mail

PANEL_CONFIG = """
[applications]
require_stamped_form = false
notify_outcome = true
"""


@dataclass(frozen=True)
class Applicant:
    n: int
    platform: str
    organization: str
    credit_code: str
    website: str
    contact: str
    title: str
    phone: str
    email: str  # the contact address the form names
    address: str
    sender: str  # the address the mail came from
    project: str

    @property
    def personal(self) -> tuple[str, ...]:
        """Every contact field of the application: none may appear in a public document."""
        return (self.contact, self.title, self.phone, self.email, self.address, self.sender)


SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈"
GIVEN = ("晓明", "丽华", "建国", "志强", "秀英", "海燕", "文博", "思远", "嘉怡", "子涵", "雨桐", "浩然", "俊杰", "诗琪")
PROJECTS = ("数控车床操作", "电工作业安全", "养老护理", "跨境电商运营", "工业机器人运维", "茶艺", "汽车维修",
            "网络安全运维", "家政服务", "焊接工艺", "直播电商", "中式烹调", "美容美发", "物流管理")


def credit_code(n: int) -> str:
    first17 = f"9144010{n:010d}"
    return first17 + credit_code_check_char(first17)


def applicant(n: int) -> Applicant:
    organization = "广州市智造&云<科技>有限公司" if n == 1 else f"广东粤技第{n}培训科技有限公司"
    return Applicant(
        n=n, platform=f"粤技云课堂{n:02d}", organization=organization, credit_code=credit_code(n),
        website=f"https://www.yueji{n:02d}.example.cn", contact=f"{SURNAMES[n]}{GIVEN[n]}", title="副总经理",
        phone=f"020-8765{n:04d}", email=f"contact{n:02d}@yueji{n:02d}.example.cn",
        address=f"广州市天河区科韵路{n}号{n + 10}室", sender=f"apply{n:02d}@yueji-mail.example.cn",
        project=PROJECTS[n])


def form_xlsx(a: Applicant) -> bytes:
    """附件1 as a two-column sheet (fixtures/build_mail.py's layout) with this applicant's values."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["职业技能提升行动线上培训平台基本情况表"])
    ws.merge_cells("A1:H1")
    for label, value in (("平台名称", a.platform), ("网    址", a.website), ("机构名称", a.organization),
                         ("统一社会信用代码", a.credit_code), ("联系人", a.contact), ("职务", a.title),
                         ("联系电话", a.phone), ("电子邮箱", a.email), ("通讯地址", a.address),
                         ("平台简介", "面向企业职工的线上职业技能培训平台。")):
        ws.append([label, value])
    ws.append([])
    ws.append(["序号", "项目名称", "专业（职业/工种/岗位）", "培训形式", "培训课时", "评价形式", "资源来源", "费用"])
    ws.append([1, a.project, "相关职业", "线上直播", "48课时", "线上考核", "自有", "免费"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def send_applications(folder: Path, applicants: list[Applicant], start: datetime) -> None:
    for a in applicants:
        mail(folder, f"app{a.n:02d}.eml", sender=a.sender, subject=f"职业技能提升行动线上培训平台申报材料（{a.platform}）",
             when=start + timedelta(minutes=10 * a.n), files={"附件1_基本情况表.xlsx": form_xlsx(a), **MATERIALS})


def query(folder: Path, name: str, sender: str, subject: str, when: datetime) -> None:
    mail(folder, name, sender=sender, subject=subject, when=when, files={}, body="您好，请问我们的申报现在到哪一步了？")


FIRST_MAIL = datetime(2020, 2, 26, 1, 0, tzinfo=UTC)
