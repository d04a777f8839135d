"""Reporters' personal data (个人信息): contact details kept apart, shown masked.

A resident who reports a matter may leave a name, a phone number, an e-mail
address or a device id so the handler can call back. They are fields of their
own, never folded into the description or the history; roles that handle the
report in scope see them whole, everyone else masked, and public channels
(Open311 ``GET``, ``/ogc``, aggregates) never.

Examples
--------
>>> contact = Contact(name="张三", phone="13800001234", email="zhang@example.cn")
>>> contact.masked().as_dict()
{'name': '张*', 'phone': '138****1234', 'email': 'z***@example.cn'}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from geogrid.errors import InputError

#: Longest contact field kept: longer text is refused, not cut.
MAX_CONTACT_FIELD = 200
CONTACT_FIELDS = ("name", "phone", "email", "device", "account")


@dataclass(frozen=True, slots=True)
class Contact:
    """A reporter's contact details; every field optional."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    device: str | None = None
    account: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f) for f in CONTACT_FIELDS)

    def as_dict(self) -> dict[str, str]:
        """The fields that are set."""
        return {k: v for k, v in asdict(self).items() if v}

    def masked(self) -> Contact:
        """The same contact with every field masked, for those who may not see it whole."""
        return Contact(mask_name(self.name), mask_phone(self.phone), mask_email(self.email),
                       mask_device(self.device), mask_device(self.account))  # fmt: skip


def check_contact(contact: Contact, field: str = "contact") -> Contact:
    """``contact`` if every field is text of a sensible length; an error naming the field."""
    for name in CONTACT_FIELDS:
        value = getattr(contact, name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InputError(f"{field}.{name}: must be text, got {type(value).__name__}")
        if len(value) > MAX_CONTACT_FIELD:
            raise InputError(f"{field}.{name}: at most {MAX_CONTACT_FIELD} characters")
    return contact


def mask_phone(phone: str | None) -> str | None:
    """A mobile number's first three and last four digits; other numbers' last four.

    Separators are dropped; a country code is kept in front.

    Examples
    --------
    >>> mask_phone("13800001234"), mask_phone("+86 138-0000-1234")
    ('138****1234', '+86 138****1234')
    >>> mask_phone("0577-88001234"), mask_phone("110")
    ('****1234', '***')
    """
    if not phone:
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "***"
    if len(digits) < 11 or not digits[-11:].startswith("1"):  # not a mobile number
        return "****" + digits[-4:]
    country = digits[:-11]
    national = digits[-11:]
    return (f"+{country} " if country else "") + national[:3] + "****" + national[-4:]


def mask_email(email: str | None) -> str | None:
    """The first letter of the mailbox and the domain.

    Examples
    --------
    >>> mask_email("zhang@example.cn"), mask_email("no-at-sign")
    ('z***@example.cn', '***')
    """
    if not email:
        return email
    box, at, domain = email.partition("@")
    return f"{box[:1]}***@{domain}" if at and box else "***"


def mask_name(name: str | None) -> str | None:
    """The family name (the first character) and a star for the rest.

    Examples
    --------
    >>> mask_name("张三"), mask_name("欧阳娜娜"), mask_name("Li Wei")
    ('张*', '欧***', 'L*****')
    """
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask_device(device: str | None) -> str | None:
    """Only the last four characters.

    Examples
    --------
    >>> mask_device("IMEI-861234")
    '****1234'
    """
    if not device:
        return device
    return "****" + device[-4:] if len(device) > 4 else "****"
