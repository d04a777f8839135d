"""People on the platform: principals, roles, grid scopes, the policy, personal data.

- :mod:`.roles`: every action and the roles that bundle them;
- :mod:`.principals`: who acts (a user, a machine's token, the command line);
- :mod:`.personal`: reporters' contact details and their masks;
- :mod:`.credentials`: password hashes and API tokens.

The accounts and the audit trail are stored by :mod:`geogrid.storage`.

Examples
--------
>>> commander = Principal("li.si", "commander", scope=("1",))
>>> commander.may("report.close"), commander.covers(["1", "101"])
(True, True)
"""

from geogrid.access.personal import Contact, check_contact
from geogrid.access.principals import (
    ANONYMOUS,
    SYSTEM,
    Principal,
    cli_principal,
    principal_of,
)
from geogrid.access.roles import (
    ACTIONS,
    ANONYMOUS_MAY,
    HANDLER_ROLES,
    ROLE_LABELS,
    ROLES,
    action_of_transition,
    check_action,
    check_role,
    statuses_to_act_on,
    steps_allowed,
)

__all__ = [
    "ACTIONS",
    "ANONYMOUS",
    "ANONYMOUS_MAY",
    "HANDLER_ROLES",
    "ROLES",
    "ROLE_LABELS",
    "SYSTEM",
    "Contact",
    "Principal",
    "action_of_transition",
    "check_action",
    "check_contact",
    "check_role",
    "cli_principal",
    "principal_of",
    "statuses_to_act_on",
    "steps_allowed",
]
