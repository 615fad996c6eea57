"""The console's routes: server-rendered pages and form posts, no JavaScript needed.

Every page needs a signed-in user (else a redirect to /login); every POST needs
the session's CSRF token (else 403); admin actions check the role on the server.
The work itself is done by ``ingest.staff_actions``, the same functions the CLI calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import jinja2
import markupsafe
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ingest.app import App
from ingest.errors import IngestError
from ingest.workflows import staff as actions
from parsers.application import ocr_field_label
from parsers.cities import GUANGDONG_CITIES
from store.errors import StoreError
from store.models import REVIEW_STATES, VERDICTS
from web import monitoring, queries, security
from web.page_image import can_show
from web.text import content_disposition, strip_controls
from zxjyck import labels
from zxjyck.calendar import week_start

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
MAX_FORM_BYTES = 256 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _finalize(value):
    """Every value printed in a template: sender text loses its control characters (autoescape does the rest)."""
    if value is None:
        return ""
    if isinstance(value, markupsafe.Markup):  # our own markup (macros, escaped values): already safe
        return value
    return strip_controls(value) if isinstance(value, str) else value


def make_env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             finalize=_finalize, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["multiline"] = lambda v: strip_controls(v or "", keep_newlines=True)
    env.globals.update(STATUS=labels.MESSAGE_STATUS, KIND=labels.KIND, REPORT_STATUS=labels.REPORT_STATUS,
                       OUTBOX_STATUS=labels.OUTBOX_STATUS, CITIES=GUANGDONG_CITIES, REVIEW_STATES=REVIEW_STATES,
                       VERDICTS=VERDICTS,
                       MATERIAL_LABELS=labels.MATERIAL, ALERT=labels.ALERT)
    env.globals.update(ocr_field_label=ocr_field_label, SEAL_LABELS=labels.SEAL, can_show=can_show)
    env.globals.update(TIMELINESS=labels.TIMELINESS, REPORT_FLAG=labels.REPORT_FLAG)
    env.filters["percent"] = lambda v: f"{v * 100:.0f}%"
    env.filters["urlpart"] = lambda v: quote(str(v), safe="")
    return env


class Redirect(Exception):  # noqa: N818 - control flow (an HTTP 303), not an error
    """Raised by a handler to answer with a redirect; never an error, so not a ZxjyckError."""

    def __init__(self, url: str):
        self.url = url


class Page:
    """One request as the handlers see it (run in a worker thread: the store calls block)."""

    def __init__(self, console: Console, request: Request, form: FormData | None, login: security.Login | None):
        self.console, self.request, self.form, self.login = console, request, form, login
        self.app = console.app

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def render(self, template: str, status: int = 200, **context) -> HTMLResponse:
        html = self.console.env.get_template(template).render(
            login=self.login, path=self.request.url.path, local=lambda m: queries.local(self.app, m), **context)
        return HTMLResponse(html, status_code=status)

    def done(self, message: str, back: str, status: int = 200) -> HTMLResponse:
        return self.render("result.html", status=status, message=message, back=back)

    def require_admin(self) -> None:
        if not (self.login and self.login.is_admin):
            raise HTTPException(403, "只有管理员可以执行此操作 / admin only")


Handler = Callable[[Page], Response]


class Console:
    def __init__(self, app: App):
        self.app = app
        self.env = make_env()

    def page(self, handler: Handler, *, public: bool = False) -> Callable:
        async def endpoint(request: Request) -> Response:
            form = None
            if request.method == "POST":
                length = request.headers.get("content-length", "")
                if not length.isdigit() or int(length) > MAX_FORM_BYTES:  # forms are small; no chunked bodies
                    raise HTTPException(413 if length.isdigit() else 411, "表单过大或缺少长度 / form too large")
                try:
                    form = await request.form(max_files=0, max_fields=50, max_part_size=64 * 1024)
                except Exception as exc:  # malformed body: a clear refusal, never a traceback
                    raise HTTPException(400, "表单无法读取 / unreadable form") from exc
            return await run_in_threadpool(self._run, handler, request, form, public)

        return endpoint

    def _run(self, handler: Handler, request: Request, form: FormData | None, public: bool) -> Response:
        login = security.current_login(self.app, request.cookies.get(security.SESSION_COOKIE))
        if login is None and not public:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        if form is not None and login is not None and not public:
            if not security.same_token(form.get("csrf_token"), login.csrf):
                return self._error(request, login, 403, "请求已过期或来源不明（CSRF 校验失败），请返回页面重试")
        page = Page(self, request, form, login)
        try:
            return handler(page)
        except Redirect as r:
            return RedirectResponse(r.url, status_code=303)
        except actions.StaffActionError as exc:
            return page.done(str(exc), _safe_next(page.field("back", "/pending")), status=400)
        except (IngestError, StoreError) as exc:
            log.warning("console action failed: %s", exc)
            return page.done(f"操作未完成 / not done: {exc}", "/", status=400)

    def _error(self, request: Request, login, status: int, message: str) -> HTMLResponse:
        page = Page(self, request, None, login)
        return page.render("result.html", status=status, message=message, back="/")


def _int(text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError) as exc:
        raise HTTPException(404, "not found") from exc
    if not 0 < value < 2**31:
        raise HTTPException(404, "not found")
    return value


# The weeks a page or workbook can be asked for: far around any campaign, and clear of the calendar's ends
# (the week of 0001-01-01 starts in year 0, the week after 9999-12-27 in year 10000).
FIRST_WEEK, LAST_WEEK = date(1970, 1, 5), date(2999, 12, 30)


def _monday(text: str) -> date:
    try:
        value = date.fromisoformat(text)
    except ValueError as exc:
        raise HTTPException(404, "日期应为 YYYY-MM-DD / not a date") from exc
    if not FIRST_WEEK <= value <= LAST_WEEK + timedelta(days=6):
        raise HTTPException(404, f"日期超出范围（{FIRST_WEEK}—{LAST_WEEK}）/ date out of range")
    if value != week_start(value):  # any day of a week stands for that week
        raise Redirect(f"/week/{week_start(value).isoformat()}")
    return value


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---------------------------------------------------------------- the audit log: who read what, from where


def _audit(page: Page, action: str, detail: str = "", message_pk: int | None = None, actor: str | None = None) -> None:
    """One audit entry for this request: the signed-in user (or ``actor``), the client's address."""
    who = actor if actor is not None else (page.login.name if page.login else "-")
    actions.audit(page.app, who, action, detail, message_pk, address=_client(page.request))


def audit_page(page: Page) -> Response:
    """Admins read the audit log, filtered by user, action and days; paged in the database."""
    from ingest.outputs.audit_log import AuditFilter, action_label, audit_entries, local_time

    page.require_admin()
    p = page.request.query_params
    since, until = _day_or_none(p.get("since", "")), _day_or_none(p.get("until", ""))
    number = _int(p.get("page", "1") or "1")
    query = AuditFilter(since, until, p.get("user", "")[:255].strip(), p.get("action", "")[:64].strip(),
                        limit=AUDIT_PAGE, offset=(number - 1) * AUDIT_PAGE)
    data = audit_entries(page.app, query)
    pages = max(1, -(-data.total // AUDIT_PAGE))
    keep = {k: v for k, v in (("user", query.user), ("action", query.action),
                              ("since", since.isoformat() if since else ""),
                              ("until", until.isoformat() if until else "")) if v}
    return page.render("audit.html", data=data, query=query, number=number, pages=pages, keep=keep,
                       action_label=action_label, at=lambda e: local_time(page.app, e.at))


AUDIT_PAGE = 50


def _day_or_none(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise HTTPException(400, "日期应为 YYYY-MM-DD / not a date") from exc


# ---------------------------------------------------------------- login / logout


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def login_page(page: Page) -> Response:
    import secrets

    if page.request.method == "GET":
        token = secrets.token_urlsafe(32)
        response = page.render("login.html", csrf=token, next=_safe_next(page.request.query_params.get("next", "/")),
                               error="")
        _set_cookie(page.request, response, security.LOGIN_CSRF_COOKIE, token, max_age=3600)
        return response
    cookie_token = page.request.cookies.get(security.LOGIN_CSRF_COOKIE)
    if not security.same_token(page.field("csrf_token"), cookie_token):
        return page.render("result.html", status=403, message="登录表单已过期（CSRF 校验失败），请重新打开登录页",
                           back="/login")
    name, password = page.field("username").strip()[:64], page.field("password")[:1024]
    keys = security.throttle_keys(name, _client(page.request))
    wait = security.login_wait(page.app, keys)
    if wait.total_seconds() > 0:
        return page.render("login.html", status=429, csrf=cookie_token, next=_safe_next(page.field("next", "/")),
                           error=f"登录失败次数过多，请 {int(wait.total_seconds()) + 1} 秒后再试 / too many attempts")
    user = actions.check_credentials(page.app, name, password) if name and password else None
    if user is None:
        security.record_failure(page.app, keys)
        log.warning("console login failed for %r from %s", name, _client(page.request))
        _audit(page, "login_failed", actor=name or "-", detail="用户名或密码不正确 wrong name or password")
        return page.render("login.html", status=401, csrf=cookie_token, next=_safe_next(page.field("next", "/")),
                           error="用户名或密码不正确 / wrong user name or password")
    security.clear_failures(page.app, keys)
    security.end_session(page.app, page.request.cookies.get(security.SESSION_COOKIE))  # never two live sessions
    token = security.start_session(page.app, user.id, _client(page.request), page.app.settings.web.session_hours)
    _audit(page, "login", actor=user.name)
    response = RedirectResponse(_safe_next(page.field("next", "/")), status_code=303)
    _set_cookie(page.request, response, security.SESSION_COOKIE, token,
                max_age=int(page.app.settings.web.session_hours * 3600))
    response.delete_cookie(security.LOGIN_CSRF_COOKIE, path="/")
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def logout(page: Page) -> Response:
    _audit(page, "logout")
    security.end_session(page.app, page.request.cookies.get(security.SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- pages


def home(page: Page) -> Response:
    raise Redirect(f"/week/{queries.default_week(page.app).isoformat()}")


def week_page(page: Page) -> Response:
    monday = _monday(page.request.path_params["day"])
    summary = queries.week(page.app, monday)
    can_close = page.app.now() >= page.app.settings.schedule.calendar().deadline(monday)
    return page.render("week.html", summary=summary, prev=monday - timedelta(days=7), next=monday + timedelta(days=7),
                       weeks=queries.recent_weeks(page.app), can_close=can_close)


def pending_page(page: Page) -> Response:
    from ingest.outputs.week_status import pending_checks

    return page.render("pending.html", items=queries.pending(page.app), checks=pending_checks(page.app.engine))


def messages_page(page: Page) -> Response:
    p = page.request.query_params
    query = queries.MessageQuery(status=p.get("status", "")[:20], kind=p.get("kind", "")[:20],
                                 city=p.get("city", "")[:16], q=p.get("q", "")[:100])
    return page.render("messages.html", rows=queries.messages(page.app, query), query=query)


def message_page(page: Page) -> Response:
    pk = _int(page.request.path_params["pk"])
    try:
        data = queries.message_page(page.app, pk)
    except IngestError as exc:
        raise HTTPException(404, "找不到该邮件 / no such message") from exc
    _audit(page, "view_message", message_pk=pk)
    return page.render("message.html", data=data, m=data.detail.message)


def _archived_attachment(page: Page, unavailable: str, usable=lambda stored: True):
    """The stored attachment row named by the path and its bytes, decoded again from the archived message:
    never a path from the request. 404 with ``unavailable`` when the row is missing or not ``usable``."""
    from ingest.pipeline.decode import decode_message

    pk, position = _int(page.request.path_params["pk"]), page.request.path_params["pos"]
    try:
        data = queries.message_page(page.app, pk)
    except IngestError as exc:
        raise HTTPException(404, "找不到该邮件 / no such message") from exc
    stored = next((a for a in data.detail.attachments if a.position == position), None)
    if stored is None or not usable(stored):
        raise HTTPException(404, unavailable)
    try:
        raw = page.app.archive.get(data.detail.message.sha256)
    except StoreError as exc:
        raise HTTPException(404, "归档中找不到该邮件原件 / the archived message is missing") from exc
    decoded = decode_message(raw)
    if position >= len(decoded.attachments):
        raise HTTPException(404, "找不到该附件 / no such attachment")
    return stored, decoded.attachments[position].data


def attachment_download(page: Page) -> Response:
    """One attachment, as the sender sent it, to download (never shown inline)."""
    stored, body = _archived_attachment(page, "找不到该附件 / no such attachment")
    _audit(page, "download_attachment", f"附件 attachment {stored.position + 1}", stored.message_pk)
    return Response(body, media_type="application/octet-stream",
                    headers={"Content-Disposition": content_disposition(stored.filename)})


def attachment_page_image(page: Page) -> Response:
    """A scanned attachment's first page as a PNG we encode (pictures and PDFs only), for staff to compare
    with the values OCR read; decoded from the archived message like a download, same login rules."""
    from web.page_image import FormatError, NotAPicture, page_png

    no_image = "该附件没有可显示的页面图像 / no page image for this attachment"
    stored, body = _archived_attachment(page, no_image, lambda stored: can_show(stored.format))
    try:
        png = page_png(body, stored.filename, stored.format)
    except NotAPicture as exc:
        raise HTTPException(404, no_image) from exc
    except (FormatError, MemoryError) as exc:
        log.info("page image of message %s attachment %s refused: %s", page.request.path_params["pk"],
                 stored.position, exc)
        raise HTTPException(422, "无法显示该附件的页面图像（文件损坏或超出大小限制）/ "
                                 "the page cannot be shown (damaged or over the size limit)") from exc
    _audit(page, "view_attachment", f"附件 attachment {stored.position + 1}", stored.message_pk)
    return Response(png, media_type="image/png",
                    headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"})


def applications_page(page: Page) -> Response:
    return page.render("applications.html", items=queries.applications(page.app))


def outbox_page(page: Page) -> Response:
    return page.render("outbox.html", rows=queries.outbox_problems(page.app))


def exports_page(page: Page) -> Response:
    return page.render("exports.html", weeks=queries.recent_weeks(page.app, 12),
                       publications=queries.publications(page.app))


def export_week(page: Page) -> Response:
    monday = _monday(page.request.path_params["day"])
    return _workbook(page, f"周报汇总-{monday.isoformat()}.xlsx", week=monday, applications=False)


def export_applications(page: Page) -> Response:
    return _workbook(page, "平台申报汇总.xlsx", week=None, applications=True)


def _workbook(page: Page, name: str, *, week: date | None, applications: bool) -> Response:
    import io

    from ingest.outputs.workbooks import build_applications_workbook, build_week_workbook
    from store.db import session_scope

    tz = queries.tz(page.app)
    with session_scope(page.app.engine) as session:
        wb = build_applications_workbook(session, tz) if applications else build_week_workbook(session, week, tz)
    buffer = io.BytesIO()
    wb.save(buffer)
    _audit(page, "export", f"console xlsx {'applications' if applications else week}")
    return Response(buffer.getvalue(), media_type=XLSX, headers={"Content-Disposition": content_disposition(name)})


def trends_page(page: Page) -> Response:
    from web.charts import Point, chart

    data = queries.trends(page.app)
    weekly = chart([Point(w.week_start, w.people) for w in data.weeks], ident="chart-weekly",
                   title="全省每周备案人数（已确认的报表）", unit="人")
    total = chart([Point(w.week_start, w.cumulative_people) for w in data.weeks], ident="chart-total",
                  title="全省累计备案人数", unit="人", kind="line")
    return page.render("trends.html", data=data, charts=[weekly, total])


def city_page(page: Page) -> Response:
    name = page.request.path_params["city"]
    if name not in GUANGDONG_CITIES:
        raise HTTPException(404, "没有这个地市（请使用地市全称，如“广州市”）/ no such city")
    return page.render("city.html", h=queries.city(page.app, name))


def platforms_page(page: Page) -> Response:
    report, weeks = queries.platforms(page.app)
    return page.render("platforms.html", report=report, weeks=weeks)


def act_platform_link(page: Page) -> Response:
    name, target = page.field("name"), page.field("application").strip()
    if target == "none":
        actions.link_platform(page.app, page.login.name, name, None)
        return page.done(f"已取消“{name[:60]}”的人工关联", "/platforms")
    if not (target.isascii() and target.isdigit() and 0 < int(target) < 2**31):
        raise actions.InvalidInput("请选择要关联的平台申报 / choose an application")
    actions.link_platform(page.app, page.login.name, name, int(target))
    return page.done(f"已将“{name[:60]}”关联到申报 {target}", "/platforms")


def health_page(page: Page) -> Response:
    return page.render("health.html", data=queries.health_page(page.app))


# ---------------------------------------------------------------- actions (POST)


def _back(page: Page, default: str) -> str:
    return _safe_next(page.field("back", default))


def act_confirm(page: Page) -> Response:
    pk = _int(page.request.path_params["pk"])
    status = actions.confirm_sender(page.app, page.login.name, pk, page.field("city") or None)
    return page.done(f"已确认发件人并重新处理邮件 {pk}：{labels.label(labels.MESSAGE_STATUS, status)}", _back(page, "/pending"))


def act_reject(page: Page) -> Response:
    pk = _int(page.request.path_params["pk"])
    actions.reject_message(page.app, page.login.name, pk, page.field("note"))
    return page.done(f"已退回邮件 {pk}，不计入统计", _back(page, "/pending"))


def act_not_report(page: Page) -> Response:
    pk = _int(page.request.path_params["pk"])
    actions.mark_not_report(page.app, page.login.name, pk, page.field("note"))
    return page.done(f"已将邮件 {pk} 标为“不是周报”", _back(page, "/pending"))


def act_replay(page: Page) -> Response:
    page.require_admin()
    pk = _int(page.request.path_params["pk"])
    status = actions.replay_message(page.app, page.login.name, pk)
    return page.done(f"已重新处理邮件 {pk}：{labels.label(labels.MESSAGE_STATUS, status)}", _back(page, f"/messages/{pk}"))


def act_resend(page: Page) -> Response:
    page.require_admin()
    oid = _int(page.request.path_params["oid"])
    actions.resend_notice(page.app, page.login.name, oid)
    return page.done(f"通知 {oid} 已重新排队，将在下一轮发送", "/outbox")


def act_dismiss(page: Page) -> Response:  # any signed-in user: a bounce is a staff matter
    oid = _int(page.request.path_params["oid"])
    actions.dismiss_notice(page.app, page.login.name, oid, page.field("note"))
    return page.done(f"通知 {oid} 已标记为已处理，不再计为发送故障", "/outbox")
def act_close_week(page: Page) -> Response:
    monday = _monday(page.request.path_params["day"])
    actions.close_week(page.app, page.login.name, monday)
    return page.done(f"已关闭 {monday.isoformat()} 这一周；此后收到的该周报表作为修订，待接受后才计入",
                     f"/week/{monday.isoformat()}")


def act_verify(page: Page) -> Response:
    rid = _int(page.request.path_params["rid"])
    actions.verify_report(page.app, page.login.name, rid)
    return page.done(f"周报 {rid} 的备案人数已核实", _back(page, "/"))


def act_accept_revision(page: Page) -> Response:
    rid = _int(page.request.path_params["rid"])
    actions.accept_revision(page.app, page.login.name, rid)
    return page.done(f"已接受修订（周报 {rid}），该周合计已更新", _back(page, "/"))


def act_review(page: Page) -> Response:
    aid = _int(page.request.path_params["aid"])
    actions.set_review_state(page.app, page.login.name, aid, page.field("state"), page.field("note"))
    return page.done("审核状态已保存", "/applications")


def act_verdict(page: Page) -> Response:
    from ingest.workflows.panel import set_verdict

    aid = _int(page.request.path_params["aid"])
    outcome = set_verdict(page.app, page.login.name, aid, page.field("verdict"), page.field("score"),
                          page.field("opinion"))
    message = {"unchanged": "评审结论没有变化", "recorded": "评审结论已录入"}.get(outcome, "评审结论已更改")
    return page.done(message, f"/applications#app-{aid}")


def users_page(page: Page) -> Response:
    page.require_admin()
    return page.render("users.html", users=actions.list_users(page.app))


def act_user(page: Page) -> Response:
    page.require_admin()
    what, name = page.request.path_params["what"], page.field("name").strip()
    if what == "add":
        actions.add_user(page.app, page.login.name, name, page.field("role"), page.field("password"))
        return page.done(f"已创建账号 {name}", "/admin/users")
    if what == "disable":
        if name == page.login.name:
            raise actions.NotAllowed("不能停用自己正在使用的账号 / you cannot disable yourself")
        actions.disable_user(page.app, page.login.name, name)
        return page.done(f"已停用账号 {name}", "/admin/users")
    if what == "passwd":
        actions.set_password(page.app, page.login.name, name, page.field("password"))
        return page.done(f"已重设 {name} 的密码", "/admin/users")
    raise HTTPException(404, "not found")


def cities_page(page: Page) -> Response:
    page.require_admin()
    return page.render("cities.html", registered=actions.list_city_addresses(page.app))


def act_city(page: Page) -> Response:
    page.require_admin()
    what, city, address = page.request.path_params["what"], page.field("city"), page.field("address")
    if what == "add":
        done = actions.add_city_address(page.app, page.login.name, city, address)
        return page.done("已登记" if done else "该邮箱已是登记邮箱", "/admin/cities")
    if what == "remove":
        done = actions.remove_city_address(page.app, page.login.name, city, address)
        return page.done("已删除" if done else "该邮箱不是登记邮箱", "/admin/cities")
    raise HTTPException(404, "not found")


# ---------------------------------------------------------------- the application


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response, and no caching of pages."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for key, value in security.HEADERS.items():
                    if key.lower().encode() not in names:
                        headers.append((key.encode(), value.encode()))
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    text = exc.detail if isinstance(exc.detail, str) else "error"
    html = make_env().get_template("error.html").render(status=exc.status_code, message=text)
    return HTMLResponse(html, status_code=exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    """The 500 page. Starlette answers it from outside every middleware, so it carries the security headers
    itself."""
    log.exception("console error on %s", request.url.path)
    html = make_env().get_template("error.html").render(status=500, message="内部错误，已记录 / internal error")
    return HTMLResponse(html, status_code=500, headers={**security.HEADERS, "Cache-Control": "no-store"})


def create_app(app: App) -> Starlette:
    c = Console(app)
    get, post = ["GET"], ["POST"]
    routes = [
        Route("/login", c.page(login_page, public=True), methods=["GET", "POST"]),
        Route("/logout", c.page(logout), methods=post),
        Route("/", c.page(home), methods=get),
        Route("/week/{day}", c.page(week_page), methods=get),
        Route("/week/{day}/close", c.page(act_close_week), methods=post),
        Route("/reports/{rid}/verify", c.page(act_verify), methods=post),
        Route("/reports/{rid}/accept", c.page(act_accept_revision), methods=post),
        Route("/pending", c.page(pending_page), methods=get),
        Route("/messages", c.page(messages_page), methods=get),
        Route("/messages/{pk}", c.page(message_page), methods=get),
        Route("/messages/{pk}/attachments/{pos:int}", c.page(attachment_download), methods=get),
        Route("/messages/{pk}/attachments/{pos:int}/page.png", c.page(attachment_page_image), methods=get),
        Route("/messages/{pk}/confirm", c.page(act_confirm), methods=post),
        Route("/messages/{pk}/reject", c.page(act_reject), methods=post),
        Route("/messages/{pk}/not-report", c.page(act_not_report), methods=post),
        Route("/messages/{pk}/replay", c.page(act_replay), methods=post),
        Route("/applications", c.page(applications_page), methods=get),
        Route("/applications/{aid}/review", c.page(act_review), methods=post),
        Route("/applications/{aid}/verdict", c.page(act_verdict), methods=post),
        Route("/outbox", c.page(outbox_page), methods=get),
        Route("/outbox/{oid}/resend", c.page(act_resend), methods=post),
        Route("/outbox/{oid}/dismiss", c.page(act_dismiss), methods=post),
        Route("/exports", c.page(exports_page), methods=get),
        Route("/exports/week/{day}.xlsx", c.page(export_week), methods=get),
        Route("/exports/applications.xlsx", c.page(export_applications), methods=get),
        Route("/health", c.page(health_page), methods=get),
        Route("/trends", c.page(trends_page), methods=get),
        Route("/cities/{city}", c.page(city_page), methods=get),
        Route("/platforms", c.page(platforms_page), methods=get),
        Route("/platforms/link", c.page(act_platform_link), methods=post),
        Route("/admin/users", c.page(users_page), methods=get),
        Route("/admin/users/{what}", c.page(act_user), methods=post),
        Route("/admin/cities", c.page(cities_page), methods=get),
        Route("/admin/cities/{what}", c.page(act_city), methods=post),
        Route("/audit", c.page(audit_page), methods=get),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        # --- monitoring (web/monitoring.py): no login; /metrics only when [web] metrics, to [web] metrics_allow
        Route("/healthz", monitoring.healthz, methods=get),
        Route("/metrics", monitoring.metrics, methods=get),
    ]
    starlette = Starlette(routes=routes, middleware=[Middleware(monitoring.AccessLog), Middleware(SecurityHeaders)],
                          exception_handlers={HTTPException: _http_error, Exception: _server_error})
    starlette.state.zxjyck = app
    return starlette
