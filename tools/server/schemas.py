"""The messages of the device and admin APIs, as typed models: the OpenAPI description is made from them."""
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

HASH = r"^[0-9a-f]{64}$"
DEVICE_ID = r"^[0-9A-Za-z_.-]{1,32}$"
NONCE = r"^[0-9A-Za-z]{8,32}$"
START = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
END = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
ALL = "all"             # a rule's scope: every badge, or every device
UNIX_MAX = 2**32 - 1
MAX_OUTLETS = 8
POWER_MAX_W = 100_000
ENERGY_MAX_WH = 1e9     # a board's counter: 3.6 kW for 30 years
# a badge UID as a reader or a person writes it: 4, 7 or 10 bytes in hex, each byte pair maybe after a colon or a space
_BYTE = "[: ]?[0-9A-Fa-f]{2}"
UID = r"^[0-9A-Fa-f]{2}(%s){3}((%s){3}((%s){3})?)?$" % (_BYTE, _BYTE, _BYTE)
UID_HELP = "a badge UID is 4, 7 or 10 bytes in hex, e.g. 04:A1:B2:C3"


def _integral(value):
    """JSON has one kind of number: 3.0 is the integer 3, as the OpenAPI description (JSON Schema) says."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def integer(**limits):
    """An integer field within `limits` (ge, le) that also takes an integral float."""
    return Annotated[int, Field(**limits), BeforeValidator(_integral)]


def badge_uid(text):
    """The UID's hex digits alone ("04:a1 B2C3" gives "04a1B2C3"); ValueError with a plain message when it is none."""
    if not isinstance(text, str) or not re.fullmatch(UID, text):
        raise ValueError(UID_HELP)
    return text.replace(":", "").replace(" ", "")


def _uid(text):
    try:
        return badge_uid(text)
    except ValueError:
        raise PydanticCustomError("badge_uid", UID_HELP) from None


BadgeUid = Annotated[str, AfterValidator(_uid), WithJsonSchema(
    {"type": "string", "pattern": UID, "description": "4, 7 or 10 bytes in hex, with or without colons or spaces "
                                                      "between them: 04A1B2C3, 04:A1:B2:C3, 04 a1 b2 c3"})]
BadgeHash = Annotated[str, Field(pattern=HASH, description="hex HMAC-SHA256(site secret, UID bytes), lowercase")]
DeviceId = Annotated[str, Field(pattern=DEVICE_ID)]
Outlet = integer(ge=1, le=MAX_OUTLETS)
Unix = Annotated[integer(ge=0, le=UNIX_MAX), Field(description="unix time, seconds")]
Name = Annotated[str, Field(min_length=1, max_length=32)]
Outlets = Annotated[list[Outlet], Field(min_length=1, max_length=MAX_OUTLETS)]
PriorityClass = integer(ge=0, le=9)
Watts = integer(ge=0, le=POWER_MAX_W)
Weekday = integer(ge=1, le=7)


def measure(low, high, what):
    """A float within [low, high]: NaN and the infinities are refused (and an integer is taken)."""
    return Annotated[float, Field(ge=low, le=high, allow_inf_nan=False, description=what)]


Power = measure(0, POWER_MAX_W, "active power now, W")
EnergyCounter = measure(0, ENERGY_MAX_WH, "the board's counter of the energy taken, Wh: it only grows, but starts "
                                          "again lower when the board lost it")


class Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Error(Message):
    error: str
    time: int | None = Field(None, description="server time (unix), only with a refused clock")


# Device API

class AuthorizeIn(Message):
    badge: BadgeHash


class AuthorizeOut(Message):
    allow: bool
    outlets: list[int]
    seconds: int | None
    name: str | None
    reason: str


class SessionIn(Message):
    id: str = Field(pattern=r"^[0-9A-Za-z_.:-]{1,64}$", description="idempotency key, unique per device")
    badge: BadgeHash
    outlet: Outlet
    start: Unix
    end: Unix
    energy_wh: measure(0, 1e6, "Wh")
    measured: bool = Field(False, description="energy_wh measured by the metering chip (false: estimated from the "
                                              "outlet's rated power)")

    @model_validator(mode="after")
    def _order(self):
        if self.end < self.start:
            raise ValueError("end before start")
        return self


class SessionOut(Message):
    ok: bool
    duplicate: bool


class PendingCommand(Message):
    model_config = ConfigDict(populate_by_name=True)
    id: int
    op: str
    outlets: list[int] | None
    priority_class: int | None = Field(alias="class")
    until: int | None


class CommandsOut(Message):
    commands: list[PendingCommand]


class AckIn(Message):
    ok: bool
    result: str = Field(max_length=200)


class Ok(Message):
    ok: bool


class OutletState(Message):
    on: bool
    why: str = Field(max_length=32)
    power_w: Power | None = None
    energy_wh: EnergyCounter | None = None


class HeartbeatIn(Message):
    """The board's state. The power and energy fields are optional: a board without them (older, or without a
    metering chip) sends none."""
    version: str = Field(min_length=1, max_length=32)
    uptime: integer(ge=0, le=UNIX_MAX)
    heap: integer(ge=0, le=UNIX_MAX)
    outlets: list[OutletState] = Field(max_length=MAX_OUTLETS)
    shed: bool
    power_w: Power | None = None
    energy_wh: EnergyCounter | None = None
    measured: bool = Field(False, description="the power and energy come from the metering chip (false: estimated "
                                              "from each outlet's rated power)")
    volts: measure(0, 1000, "mains voltage, V rms") | None = None
    amps: measure(0, 1000, "the strip's current, A rms") | None = None
    pf: measure(-1, 1, "power factor") | None = None


class HeartbeatOut(Message):
    ok: bool
    time: int


# Admin API

class DeviceIn(Message):
    model_config = ConfigDict(regex_engine="python-re")     # for the look-ahead
    id: str = Field(pattern=r"^(?!all$)[0-9A-Za-z_.-]{1,32}$", description='not "all": in a rule, every device')
    name: Name | None = Field(None, description="default: the id")
    power: list[Watts] = Field(
        [0] * 6, min_length=1, max_length=MAX_OUTLETS, description="rated power of each outlet (W); one per outlet")


class DeviceUpdate(Message):
    name: Name | None = None
    power: list[Watts] | None = Field(None, min_length=1, max_length=MAX_OUTLETS)


class DeviceOut(Message):
    id: str
    name: str
    power: list[int]
    last_seen: int | None
    state: dict | None
    skew: int | None = Field(description="the board's clock minus the server's at its last heartbeat, seconds")


class DeviceCreated(DeviceOut):
    secret: str = Field(description="the device's key: shown this once")


class BadgeIn(Message):
    uid: BadgeUid
    owner: Name


class BadgeUpdate(Message):
    """Rename a badge's owner, or disable it (its rules stay, and grant nothing while it is disabled)."""
    owner: Name = None
    enabled: bool = None


class BadgeOut(Message):
    hash: str
    owner: str
    enabled: bool


Every = Literal["all"]


class RuleIn(Message):
    """A rule names its badge and its device, or says "all": an empty rule grants nothing, it is refused."""
    badge: BadgeHash | Every = Field(description='a badge hash, or "all": every enrolled badge')
    device: DeviceId | Every = Field(description='a device id, or "all": every device')
    outlets: Outlets | None = Field(None, description="null: every outlet")
    days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = Field(
        None, description="ISO weekdays, 1 = Monday; null: every day")
    start: str | None = Field(None, pattern=START, description="HH:MM local; null: all day")
    end: str | None = Field(None, pattern=END, description="HH:MM local; before start: past midnight")
    max_seconds: integer(ge=1, le=7 * 86400) | None = Field(None, description="longest session; null: no limit")
    enabled: bool = True

    @model_validator(mode="after")
    def _hours(self):
        if (self.start is None) != (self.end is None):
            raise ValueError("start and end go together")
        if self.start is not None and self.start == self.end:
            raise ValueError("start equals end: leave both out for all day")
        return self


class RuleUpdate(Message):
    """Only the fields given change; the result is checked as a whole. A field that may not be null in a rule may not
    be null here either (it is left out to keep it)."""
    badge: BadgeHash | Every = None
    device: DeviceId | Every = None
    outlets: Outlets | None = None
    days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = None
    start: str | None = Field(None, pattern=START)
    end: str | None = Field(None, pattern=END)
    max_seconds: integer(ge=1, le=7 * 86400) | None = None
    enabled: bool = None


class RuleOut(RuleIn):
    id: int


class CommandIn(Message):
    model_config = ConfigDict(populate_by_name=True)
    device: DeviceId
    op: Literal["on", "off", "toggle", "shed", "unshed"]
    outlets: Outlets | None = None
    priority_class: PriorityClass | None = Field(None, alias="class", description="outlets of this priority class")
    until: Unix | None = Field(None, description="shed only: when the shedding ends by itself")

    @model_validator(mode="after")
    def _target(self):
        if self.op in ("on", "off", "toggle"):
            if self.outlets is None or self.priority_class is not None:
                raise ValueError("%s needs outlets (and no class)" % self.op)
        elif self.outlets is not None and self.priority_class is not None:
            raise ValueError("give outlets or class, not both (neither: every outlet)")
        if self.until is not None and self.op != "shed":
            raise ValueError("until goes with shed only")
        return self


class CommandOut(Message):
    model_config = ConfigDict(populate_by_name=True)
    id: int
    device: str
    op: str
    outlets: list[int] | None
    priority_class: int | None = Field(alias="class")
    until: int | None
    created: int
    acked: int | None
    ok: bool | None
    result: str | None


class SessionRecord(Message):
    key: str
    device: str
    badge: str
    owner: str | None
    outlet: int
    start: int
    end: int
    duration_s: int
    energy_wh: float
    measured: bool


class StatRow(Message):
    device: str | None
    outlet: int | None
    badge: str | None
    owner: str | None
    day: str | None = Field(description="YYYY-MM-DD in the server's time zone")
    count: int
    seconds: int
    energy_wh: float
    energy_wh_measured: float = Field(description="the part of energy_wh in sessions measured by the metering chip")
    energy_wh_estimated: float = Field(description="the part estimated from the outlets' rated power")


class ReadingOut(Message):
    time: int = Field(description="when the server had the heartbeat (unix)")
    outlet: int | None = Field(description="null: the whole strip")
    power_w: float | None
    energy_wh: float | None = Field(description="the board's energy counter then")
    measured: bool


class EnergyDayOut(Message):
    day: str = Field(description="YYYY-MM-DD, the UTC day of the heartbeats")
    outlet: int | None = Field(description="null: the whole strip")
    energy_wh: float
    energy_wh_measured: float
    energy_wh_estimated: float
    source: Literal["measured", "estimated", "mixed"] = Field(
        description="where the day's counters came from: the metering chip, estimates from the rated power, or both")
