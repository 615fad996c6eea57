"""Labels shown to people: the one table for each set of codes the store keeps.

Notices, the digest, the workbooks, the dossier, the CLI and the console all
print a stored code (a message's status, a report's status, a material key...)
as Chinese words. Each code has one label, here; a caller that wants the code
as well (the bilingual CLI) adds it (see :func:`with_code`), it does not keep
its own wording. A code without a label is shown as itself.

Nothing here imports a project package: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The kind a message was classified as (store.models.MESSAGE_KINDS).
KIND: dict[str, str] = {
    "weekly_report": "周报",
    "application": "平台申报",
    "bounce": "退信",
    "auto_reply": "自动回复",
    "status_query": "进度查询",
    "other": "其他",
}

# A message's processing status (store.models.MESSAGE_STATUSES).
MESSAGE_STATUS: dict[str, str] = {
    "received": "待处理",
    "processed": "已处理",
    "needs_review": "待人工核对",
    "failed": "处理失败",
}

# A city's weekly report for a week (week status, workbooks, console).
REPORT_STATUS: dict[str, str] = {
    "accepted": "已收到",
    "needs_correction": "待更正",
    "needs_review": "待人工核对",
    "missing": "未报送",
}

# How a city reported a week, against its deadline (ingest.outputs.rates): the /trends grid, a city's page.
TIMELINESS: dict[str, str] = {
    "on_time": "按时",
    "late": "逾期",
    "corrected": "经更正",
    "pending": "待确认",
    "missing": "未报送",
}

# Marks on a city's week that staff should notice (ingest.outputs.rates ``flags``).
REPORT_FLAG: dict[str, str] = {
    "late": "逾期",
    "corrected": "经更正后确认",
    "revised": "有多个版本",
    "held": "待人工核对",
    "outlier": "请核实",
}

# An outbox row's delivery status.
OUTBOX_STATUS: dict[str, str] = {
    "pending": "待发送",
    "sent": "已发送",
    "failed": "发送失败",
    "suppressed": "未发送",
}

# The statuses a digest line can show: a city's report, or a notice that went wrong.
DIGEST_STATUS: dict[str, str] = {
    **REPORT_STATUS,
    "late": "逾期报送",
    "pending": OUTBOX_STATUS["pending"],
    "failed": OUTBOX_STATUS["failed"],
    "bounced": "被退信",
    "suppressed": OUTBOX_STATUS["suppressed"],
}

# The notices we send (notify.compose context kinds).
NOTICE_KIND: dict[str, str] = {
    "receipt": "回执",
    "missing_items": "补充材料通知",
    "correction_request": "更正通知",
    "late_reminder": "催报提醒",
    "digest": "每日汇总",
    "outcome": "评审结果通知",
    "status_reply": "进度查询答复",
    "alert": "运行告警",
}

# The conditions administrators are alerted to ([alerts] to; ingest.runtime.alerts).
ALERT: dict[str, str] = {
    "imap_login": "收信登录被拒绝（IMAP，授权码可能已失效）",
    "smtp_login": "发信登录被拒绝（SMTP，授权码可能已失效）",
    "stalled": "长时间没有成功收取邮件",
    "notices": "通知发送失败",
    "disk": "磁盘剩余空间不足",
    "ocr": "OCR 识别进程反复异常终止",
    "daemon": "常驻服务（zxjyck run）已停止：没有心跳",
}

# The five materials of an application (store.models.MATERIAL_KEYS), worded as the notice asks for them,
# and the one extra item a missing-items notice can ask for.
MATERIAL: dict[str, str] = {
    "basic_form": "附件1 基本情况表",
    "credentials": "机构资信类材料",
    "construction": "平台建设材料",
    "operation": "平台运行材料",
    "content": "平台培训内容材料",
    # not a sixth material: asked for when the basic form arrived only as an editable, unstamped copy
    "stamped_form": "加盖公章的基本情况表（扫描件或照片）",
}

# Whether a seal was seen on a scanned page (True / False / None: cannot tell).
SEAL: dict[bool | None, str] = {
    True: "有公章",
    False: "未见公章",
    None: "无法判断（灰度扫描件或未识别）",
}
SEAL_EN: dict[bool | None, str] = {True: "seal found", False: "no seal", None: "cannot tell"}

LATE = "逾期"


def label(table: Mapping[Any, str], code: Any) -> Any:
    """``code``'s label in ``table``; the code itself when it has none (a value from a newer version)."""
    return table.get(code, code)


def with_code(table: Mapping[str, str], code: str) -> str:
    """The label followed by the code, for the bilingual CLI: "待处理 received"."""
    shown = table.get(code)
    return f"{shown} {code}" if shown else code


def report_status(status: str, late: bool = False) -> str:
    """A weekly report's status as shown, "（逾期）" added when it came late and was not simply missing."""
    shown = DIGEST_STATUS.get(status, status)
    return f"{shown}（{LATE}）" if late and status != "missing" else shown
