"""The administration API, under /api/v1/admin, behind a bearer token."""
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tools.server.schemas import (HASH, MAX_OUTLETS, BadgeIn, BadgeOut, BadgeUpdate, CommandIn, CommandOut,
                                  DeviceCreated, DeviceId, DeviceIn, DeviceOut, DeviceUpdate, EnergyDayOut, ReadingOut,
                                  RuleIn, RuleOut, RuleUpdate, SessionRecord, StatRow, Unix)
from tools.server.signing import same

bearer = HTTPBearer(auto_error=False, description="the server's admin token (--admin-token)")


PREFIX = "/api/v1/admin"
BODY_MAX = 256 * 1024
SERIES_MAX = 10000      # points in an answer: 48 hours of heartbeats every 20 s


def refusal(token, authorization):
    """Why a request with this Authorization header (None: none) is refused, or None when `token` is in it."""
    if token is None:
        return "the admin API is off: start the server with --admin-token"
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not same(given.strip(), token):
        return "a valid bearer token is needed"
    return None


def admin(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]):
    """The token is checked before the body is read (app.Front); this declares it in the description, and checks it
    again."""
    why = refusal(request.app.state.admin_token, request.headers.get("authorization"))
    if why:
        raise HTTPException(401, why, {"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix=PREFIX, tags=["admin"], dependencies=[Depends(admin)],
                   responses={400: {"description": "a body that is not JSON"},
                              401: {"description": "no valid admin token"},
                              408: {"description": "the body did not come in time"},
                              413: {"description": "a body over 256 KB"}})
NOT_FOUND = {404: {"description": "no such thing"}}
CONFLICT = {409: {"description": "already there"}}
DevicePath = Annotated[str, Path(pattern=r"^[0-9A-Za-z_.-]{1,32}$")]
HashPath = Annotated[str, Path(pattern=HASH)]
RuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Since = Annotated[Unix | None, Query(description="sessions that started at or after (unix)")]
Until = Annotated[Unix | None, Query(description="sessions that started before (unix)")]


def store(request: Request):
    return request.app.state.store


Store = Annotated[object, Depends(store)]


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(s: Store):
    return s.devices()


@router.post("/devices", response_model=DeviceCreated, status_code=201, responses=CONFLICT)
def add_device(body: DeviceIn, s: Store):
    """Create a device. The answer holds its secret: the only time it is shown."""
    device, secret = s.add_device(body)
    return DeviceCreated(**device.model_dump(), secret=secret)


@router.get("/devices/{device_id}", response_model=DeviceOut, responses=NOT_FOUND)
def get_device(device_id: DevicePath, s: Store):
    return s.device(device_id)


@router.patch("/devices/{device_id}", response_model=DeviceOut, responses=NOT_FOUND)
def update_device(device_id: DevicePath, body: DeviceUpdate, s: Store):
    return s.update_device(device_id, body)


@router.delete("/devices/{device_id}", status_code=204, response_class=Response, responses=NOT_FOUND)
def remove_device(device_id: DevicePath, s: Store):
    """Remove a device with its rules and commands; its sessions stay in the statistics."""
    s.remove_device(device_id)


@router.get("/devices/{device_id}/series", response_model=list[ReadingOut], responses=NOT_FOUND)
def series(device_id: DevicePath, s: Store,
           since: Annotated[Unix | None, Query(description="heartbeats at or after (unix)")] = None,
           until: Annotated[Unix | None, Query(description="heartbeats before (unix)")] = None,
           outlet: Annotated[int | None, Query(ge=1, le=MAX_OUTLETS, description="none: the whole strip")] = None,
           limit: Annotated[int, Query(ge=1, le=SERIES_MAX)] = 1000):
    """The power and energy counter the device's heartbeats gave, for its whole strip or one outlet: the latest
    `limit` points of the span, oldest first. Points are kept for a while (docs/server.md); the days' energy for
    good."""
    return s.series(device_id, outlet, since, until, limit)


@router.get("/devices/{device_id}/energy", response_model=list[EnergyDayOut], responses=NOT_FOUND)
def energy(device_id: DevicePath, s: Store,
           since: Annotated[date | None, Query(description="from this day (YYYY-MM-DD, UTC)")] = None,
           until: Annotated[date | None, Query(description="to this day, included")] = None):
    """The energy the device's strip (`outlet` null) and each outlet took per UTC day, from the increases of the
    counters its heartbeats gave. A removed device's days stay."""
    return s.energy_days(device_id, since, until)


@router.get("/badges", response_model=list[BadgeOut])
def list_badges(s: Store):
    return s.badges()


@router.post("/badges", response_model=BadgeOut, status_code=201, responses=CONFLICT)
def enrol(body: BadgeIn, s: Store):
    """Enrol a badge by its UID: only its keyed hash is kept."""
    return s.enrol(body)


@router.patch("/badges/{badge}", response_model=BadgeOut, responses=NOT_FOUND)
def update_badge(badge: HashPath, body: BadgeUpdate, s: Store):
    """Rename a badge's owner (`{"owner": "Alice B."}`), or disable it (`{"enabled": false}`): a disabled badge is
    refused, its rules kept for when it is enabled again."""
    return s.update_badge(badge, body)


@router.delete("/badges/{badge}", status_code=204, response_class=Response, responses=NOT_FOUND)
def remove_badge(badge: HashPath, s: Store):
    """Remove a badge with its rules; its sessions stay in the statistics."""
    s.remove_badge(badge)


@router.get("/rules", response_model=list[RuleOut])
def list_rules(s: Store):
    return s.rules()


@router.post("/rules", response_model=RuleOut, status_code=201, responses=NOT_FOUND)
def add_rule(body: RuleIn, s: Store):
    return s.add_rule(body)


@router.get("/rules/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
def get_rule(rule_id: RuleId, s: Store):
    return s.rule(rule_id)


@router.patch("/rules/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
def update_rule(rule_id: RuleId, body: RuleUpdate, s: Store):
    """Change some fields of a rule (`{"enabled": false}` disables it)."""
    return s.update_rule(rule_id, body)


@router.delete("/rules/{rule_id}", status_code=204, response_class=Response, responses=NOT_FOUND)
def remove_rule(rule_id: RuleId, s: Store):
    s.remove_rule(rule_id)


@router.post("/commands", response_model=CommandOut, status_code=201, responses=NOT_FOUND)
def send_command(body: CommandIn, s: Store):
    """Queue a command for a device: it gets it at its next poll of /api/v1/device/commands."""
    return s.send_command(body)


@router.get("/commands", response_model=list[CommandOut])
def list_commands(s: Store, device: Annotated[DeviceId | None, Query()] = None,
                  pending: Annotated[bool | None, Query(description="only unacknowledged (or acknowledged)")] = None):
    return s.commands(device, pending)


@router.get("/sessions", response_model=list[SessionRecord])
def list_sessions(s: Store, since: Since = None, until: Until = None,
                  device: Annotated[DeviceId | None, Query()] = None,
                  badge: Annotated[str | None, Query(pattern=HASH)] = None,
                  outlet: Annotated[int | None, Query(ge=1, le=8)] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    """The latest sessions first."""
    return s.sessions(limit, device=device, badge=badge, outlet=outlet, since=since, until=until)


@router.get("/stats", response_model=list[StatRow])
def stats(s: Store, by: Annotated[Literal["badge", "outlet", "device", "day"], Query()] = "badge",
          since: Since = None, until: Until = None, device: Annotated[DeviceId | None, Query()] = None,
          badge: Annotated[str | None, Query(pattern=HASH)] = None):
    """Sessions counted, total seconds and total energy (Wh, and its parts measured by the metering chip and
    estimated), per badge, per outlet (of a device), per device, or per day (of the sessions' start, in the server's
    time zone)."""
    return s.stats(by, device=device, badge=badge, since=since, until=until)
