"""RFC 5424 (The Syslog Protocol) lines for audit records, as a SIEM ingests them.

``<PRI>1 TIMESTAMP HOSTNAME quivive - MSGID [quivive@32473 name="value" ...] MSG``
"""

from __future__ import annotations

import json
import re

from quivive.domain.audit_chain import ChainRecord

# RFC 5424 6.2.1: PRI = facility * 8 + severity. Facility 10 is security/authorization (authpriv).
FACILITY_AUTHPRIV = 10
SEVERITY_WARNING = 4
SEVERITY_NOTICE = 5
APP_NAME = "quivive"
# RFC 5424 7.2.2: an SD-ID with "@" carries a private enterprise number. 32473 is the number
# RFC 5612 reserves for documentation; a deployment with its own PEN should use that.
SD_ID = "quivive@32473"
NILVALUE = "-"

# RFC 5424 6.2.4/6.2.7: HOSTNAME and MSGID are PRINTUSASCII (33-126), at most 255 and 32 long.
_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")
# RFC 5424 6.3.3: PARAM-NAME is SD-NAME, 1*32 PRINTUSASCII except '=', SP, ']', '"'.
_NOT_SD_NAME = re.compile(r'[^\x21-\x7e]|[=\]"]')
_FIELDS = (
    "sequence",
    "actor",
    "subject",
    "outcome",
    "reason",
    "source_address",
    "user_agent",
    "request_id",
    "hash",
)


def escape_param_value(value: str) -> str:
    """RFC 5424 6.3.3: inside PARAM-VALUE, '"', '\\' and ']' MUST be escaped with '\\'."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


# A line per record: control characters (a forged line break above all) become U+FFFD.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(value: str) -> str:
    return _CONTROL.sub("\ufffd", value)


def _token(value: str, limit: int) -> str:
    return _NOT_PRINTUSASCII.sub("_", value)[:limit] or NILVALUE


def _name(value: str) -> str:
    return _NOT_SD_NAME.sub("_", value)[:32] or "_"


def format_record(record: ChainRecord, hostname: str) -> str:
    severity = SEVERITY_NOTICE if record.outcome == "success" else SEVERITY_WARNING
    pri = FACILITY_AUTHPRIV * 8 + severity
    params = [(name, getattr(record, name)) for name in _FIELDS]
    details: dict[str, str] = json.loads(record.details)
    params += [(_name(f"detail.{key}"), value) for key, value in details.items()]
    structured = " ".join(
        f'{_name(name)}="{escape_param_value(_one_line(str(value)))}"'
        for name, value in params
        if value is not None
    )
    message = f"{record.action} {record.outcome}"
    if record.reason:
        message += f" ({record.reason})"
    header = f"<{pri}>1 {record.at} {_token(hostname, 255)} {APP_NAME} {NILVALUE}"
    return f"{header} {_token(record.action, 32)} [{SD_ID} {structured}] {_one_line(message)}"
