"""The Starlette application: pages, the live event stream, the snooze command, the PWA files.

Paths (all under the base path a reverse proxy serves the app at):

* ``/login``, ``/logout`` — the session; every other page needs one (pages redirect to the login,
  ``/api/…`` answers 401).
* ``/`` — a wearer's Now page, or a clinician's ``/patients`` list.
* ``/w/{wearer}/now|today|trends`` — the pages; ``/api/w/{wearer}/state|events|trends`` — the same
  data as JSON and as server-sent events; ``POST /api/w/{wearer}/snooze`` — pause reminders.
  Another wearer's data is 403 for a wearer, and for a clinician it is 403 unless assigned.
* ``/manifest.webmanifest``, ``/sw.js``, ``/offline``, ``/static/…`` — installable app, offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from datetime import date
from pathlib import Path
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from posturewatch.web import pages
from posturewatch.web.accounts import Account, Accounts
from posturewatch.web.data import RANGES, StoreReader
from posturewatch.web.live import LiveFeed
from posturewatch.web.security import LoginThrottle, SecurityHeaders, check_post, csrf_token

HERE = Path(__file__).parent
STATIC = HERE / "static"
KEEPALIVE_S = 15.0
SNOOZES = ({"minutes": 15}, {"minutes": 30}, {"minutes": 60}, {"until": "tomorrow"})
VERSION = "1"


class WebApp:
    """Holds the parts the handlers share; ``asgi`` is the application to serve."""

    def __init__(self, accounts: Accounts, feed: LiveFeed, reader: StoreReader, *, secret: str,
                 base_path: str = "", secure_cookies: bool = False, session_days: float = 14.0) -> None:
        self.accounts = accounts
        self.feed = feed
        self.reader = reader
        self.throttle = LoginThrottle()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        routes = [
            Route("/", self.home), Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]), Route("/logout", self.logout, methods=["POST"]),
            Route("/patients", self.patients), Route("/w/{user}", self.wearer_home),
            Route("/w/{user}/now", self.now), Route("/w/{user}/today", self.today),
            Route("/w/{user}/trends", self.trends), Route("/api/w/{user}/state", self.state_json),
            Route("/api/w/{user}/events", self.events), Route("/api/w/{user}/trends", self.trends_json),
            Route("/api/w/{user}/snooze", self.snooze, methods=["POST"]),
            Route("/manifest.webmanifest", self.manifest), Route("/sw.js", self.service_worker),
            Route("/offline", self.offline), Route("/healthz", self.health),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ]
        middleware = [
            Middleware(SecurityHeaders),
            Middleware(SessionMiddleware, secret_key=secret, session_cookie="posturewatch_session",
                       max_age=int(session_days * 86400), same_site="strict",
                       https_only=secure_cookies, path=base_path or "/"),
        ]
        self.asgi = Starlette(routes=routes, middleware=middleware, lifespan=self._lifespan,
                              exception_handlers={HTTPException: self._http_error})

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette):
        self.feed.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            self.feed.stop()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def base(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def account(self, request: Request) -> Account | None:
        name = request.session.get("user")
        return self.accounts.get(name) if isinstance(name, str) else None

    def require(self, request: Request, wearer: str | None = None) -> Account:
        """The signed-in account (401 without one), allowed to see ``wearer`` (403 otherwise)."""
        account = self.account(request)
        if account is None:
            raise HTTPException(401, "sign in first")
        if wearer is not None and not account.may_see(wearer):
            raise HTTPException(403, f"{account.name} may not see {wearer}'s data")
        return account

    def render(self, request: Request, template: str, status: int = 200, **values) -> Response:
        account = values.pop("account", None) or self.account(request)
        context = {"base": self.base(request), "csrf": csrf_token(request), "account": account,
                   "wearer": None, "page": template.removesuffix(".html"), **values}
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        response.headers["Cache-Control"] = "no-store" if template == "login.html" else "private, no-cache"
        return response

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        base = self.base(request)
        api = request.url.path.startswith(f"{base}/api/")
        if exc.status_code == 401 and not api and request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{base}/login?next={quote(target)}", status_code=303)
        if api or request.method != "GET":
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        titles = {403: "Not allowed", 404: "Not found"}
        return self.render(request, "error.html", exc.status_code,
                           title=titles.get(exc.status_code, "Error"), message=exc.detail)

    def _next(self, request: Request, raw: str | None) -> str:
        base = self.base(request)
        ok = raw and raw.startswith(f"{base}/") and not raw.startswith("//") and "\\" not in raw
        return raw if ok and not raw.startswith(f"{base}/login") else f"{base}/"

    # ------------------------------------------------------------------ session
    async def login_form(self, request: Request) -> Response:
        if self.account(request) is not None:
            return RedirectResponse(self._next(request, request.query_params.get("next")), 303)
        return self.render(request, "login.html", title="Sign in", error=None, name="",
                           next=self._next(request, request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        form = await request.form()
        check_post(request, str(form.get("csrf", "")))
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        target = self._next(request, str(form.get("next", "")))
        wait = self.throttle.wait_s(name)
        if wait > 0:
            response = self.render(request, "login.html", 429, title="Sign in", name=name, next=target,
                                   error=f"Too many wrong passwords: try again in {wait / 60:.0f} min.")
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        account = await run_in_threadpool(self.accounts.verify, name, password) if name else None
        if account is None:
            self.throttle.failed(name)
            return self.render(request, "login.html", 401, title="Sign in", name=name, next=target,
                               error="Wrong name or password.")
        self.throttle.succeeded(name)
        request.session.clear()  # a new session: nothing from before the login survives
        request.session.update({"user": account.name, "csrf": secrets.token_urlsafe(32)})
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        check_post(request, str(form.get("csrf", "")))
        request.session.clear()
        return RedirectResponse(f"{self.base(request)}/login", status_code=303)

    # ------------------------------------------------------------------ pages
    async def home(self, request: Request) -> Response:
        account = self.require(request)
        base = self.base(request)
        if account.role == "clinician":
            return RedirectResponse(f"{base}/patients", status_code=303)
        return RedirectResponse(f"{base}/w/{account.name}/now", status_code=303)

    async def wearer_home(self, request: Request) -> Response:
        user = request.path_params["user"]
        self.require(request, user)
        return RedirectResponse(f"{self.base(request)}/w/{user}/now", status_code=303)

    async def patients(self, request: Request) -> Response:
        account = self.require(request)
        if account.role != "clinician":
            return RedirectResponse(f"{self.base(request)}/w/{account.name}/now", status_code=303)
        rows = await run_in_threadpool(pages.patient_rows, self.reader, account.wearers, self.feed.snapshot)
        return self.render(request, "patients.html", account=account, title="Patients", patients=rows)

    def _stored(self, user: str) -> tuple[list[dict], list[dict]]:
        """Open episodes and today's reminders from the store (begun or sent before the feed
        started listening)."""
        return self.reader.open_episodes(user), self.reader.recent_alerts(user)

    def _merged(self, user: str, snap: dict, stored: tuple[list[dict], list[dict]]) -> dict:
        """The live snapshot completed from the store, minus episodes the feed has seen end."""
        episodes, alerts = stored
        skip = {e["id"] for e in snap["episodes"]} | self.feed.ended(user)
        known = {a["id"] for a in snap["alerts"]}
        return {**snap, "episodes": snap["episodes"] + [e for e in episodes if e["id"] not in skip],
                "alerts": sorted(snap["alerts"] + [a for a in alerts if a["id"] not in known],
                                 key=lambda a: -(a.get("ts_ms") or 0))[:5]}

    def _now_snapshot(self, user: str) -> dict:
        return self._merged(user, self.feed.snapshot(user), self._stored(user))

    async def now(self, request: Request) -> Response:
        user = request.path_params["user"]
        account = self.require(request, user)
        snap = await run_in_threadpool(self._now_snapshot, user)
        return self.render(request, "now.html", account=account, wearer=user, title=f"Now · {user}",
                           state=pages.now_view(snap, self.reader.tz), may_snooze=account.name == user)

    async def today(self, request: Request) -> Response:
        user = request.path_params["user"]
        account = self.require(request, user)
        day = request.query_params.get("day") or None
        if day is not None:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise HTTPException(400, f"day must be YYYY-MM-DD, got {day!r}") from None
        loaded = await run_in_threadpool(self.reader.day, user, day)
        today = self.reader.today_iso()
        if isinstance(loaded, str):
            return self.render(request, "today.html", account=account, wearer=user, title=f"Today · {user}",
                               heading="Today" if day in (None, today) else f"Day {day}",
                               day=day or today, problem=f"No data for this day. ({loaded})")
        view = await run_in_threadpool(pages.day_view, *loaded, today)
        return self.render(request, "today.html", account=account, wearer=user, title=f"Today · {user}",
                           problem=None, **view)

    def _days(self, request: Request) -> int:
        raw = request.query_params.get("days", "7")
        if not raw.isdigit() or int(raw) not in RANGES:
            raise HTTPException(400, f"days must be one of {', '.join(map(str, RANGES))}")
        return int(raw)

    async def trends(self, request: Request) -> Response:
        user = request.path_params["user"]
        account = self.require(request, user)
        days = self._days(request)
        trends = await run_in_threadpool(self.reader.trends, user, days)
        return self.render(request, "trends.html", account=account, wearer=user, title=f"Trends · {user}",
                           days=days, ranges=RANGES, trends=trends, sparks=pages.trend_sparks(trends))

    # ------------------------------------------------------------------ data
    async def state_json(self, request: Request) -> Response:
        user = request.path_params["user"]
        self.require(request, user)
        return JSONResponse(await run_in_threadpool(self._now_snapshot, user),
                            headers={"Cache-Control": "private, no-cache"})

    async def trends_json(self, request: Request) -> Response:
        user = request.path_params["user"]
        self.require(request, user)
        trends = await run_in_threadpool(self.reader.trends, user, self._days(request))
        goals = trends.goals
        return JSONResponse({"days": trends.days, "worn_days": trends.with_data, "figures": [
            {"name": f.name, "label": f.label, "unit": f.spec.unit, "values": f.values,
             "this_week": f.this_week, "last_week": f.last_week} for f in trends.figures],
            "goals": None if goals is None else {
                "week": goals.week, "step": goals.step, "steps": goals.steps,
                "progress_pct": goals.progress_pct, "met_this_week": goals.met_this_week,
                "streaks": [{"name": s.name, "label": s.label, "current": s.current, "best": s.best}
                            for s in goals.streaks]}})

    async def events(self, request: Request) -> Response:
        user = request.path_params["user"]
        self.require(request, user)
        queue = self.feed.listen(user)
        stored = await run_in_threadpool(self._stored, user)

        async def stream():
            try:
                snap = self._merged(user, self.feed.snapshot(user), stored)
                yield f"event: state\ndata: {json.dumps(snap)}\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if item is None:
                        return
                    kind, data = item
                    if kind == "state":
                        data = self._merged(user, data, stored)
                    yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
            finally:
                self.feed.unlisten(user, queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def snooze(self, request: Request) -> Response:
        user = request.path_params["user"]
        account = self.require(request, user)
        check_post(request)
        if account.name != user:
            raise HTTPException(403, "only the wearer pauses their own reminders")
        try:
            body = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        if body not in SNOOZES:
            raise HTTPException(400, "snooze must be {\"minutes\": 15|30|60} or {\"until\": \"tomorrow\"}")
        command = {**body, "id": f"web-{secrets.token_hex(6)}"}
        if not self.feed.command(user, "snooze", command):
            raise HTTPException(503, "no connection to the MQTT broker; try again in a moment")
        return JSONResponse({"sent": command}, status_code=202)

    # ------------------------------------------------------------------ app shell
    async def manifest(self, request: Request) -> Response:
        base = self.base(request)
        return JSONResponse({
            "name": "posturewatch", "short_name": "posture", "start_url": f"{base}/", "scope": f"{base}/",
            "display": "standalone", "background_color": "#F5F7FA", "theme_color": "#1F4E79",
            "description": "Your posture now, today and over the weeks",
            "icons": [{"src": f"{base}/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
                      {"src": f"{base}/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
                      {"src": f"{base}/static/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
        }, media_type="application/manifest+json")

    async def service_worker(self, request: Request) -> Response:
        base = self.base(request)
        text = (STATIC / "sw.js").read_text().replace("__BASE__", base).replace("__VERSION__", VERSION)
        return Response(text, media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": f"{base}/"})

    async def offline(self, request: Request) -> Response:
        return self.render(request, "offline.html", title="Offline")

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "mqtt": self.feed.state})
