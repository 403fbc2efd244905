"""Turning one CSV row into the values an import writes, or the reason it is rejected."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from crm.consent import address_hash
from crm.models import Account
from people.address_check import address_problem
from people.columns import ACCOUNT, EMAIL, FULL_NAME, fields_for

# The values an import stores per kind, in the staging table's order (after the address).
STORED = {
    "contact": ("first_name", "last_name", "title", "phone", "account_id"),
    "lead": ("first_name", "last_name", "title", "phone", "account_name", "source"),
    "account": ("name", "website", "industry", "phone"),
    "suppression": (),
}


class Rejected(ValueError):
    """The row cannot be imported; str() says why, for the rejected-rows file."""


def account_ids_by_name() -> dict[str, int | None]:
    """Lower-cased account name -> id (None when several accounts share the name)."""
    found: dict[str, int | None] = {}
    for pk, name in Account.objects.order_by("pk").values_list("pk", "name").iterator():
        key = name.strip().casefold()
        found[key] = None if key in found else pk
    return found


@dataclass
class RowChecker:
    """Checks rows against a mapping; remembers the addresses seen to skip repeats in the file."""

    kind: str
    mapping: list[str]
    suppression: bool = False
    suppressed: frozenset[str] = frozenset()
    accounts: dict[str, int | None] | None = None

    def __post_init__(self) -> None:
        fields = {f.name: f for f in fields_for(self.kind, self.suppression)}
        self.columns = [(i, fields[name]) for i, name in enumerate(self.mapping) if name]
        self.stored = STORED["suppression" if self.suppression else self.kind]
        self.seen: set[int] = set()  # hashes of lower-cased addresses: 1M rows stay small

    def values(self, row: list[str]) -> dict[str, str]:
        values = {}
        for index, field in self.columns:
            value = row[index].strip() if index < len(row) else ""
            if "\x00" in value:
                raise Rejected(_("%(field)s contains a NUL character") % {"field": field.label})
            if len(value) > field.max_length and field.name != EMAIL:
                raise Rejected(
                    _("%(field)s too long (more than %(max)s characters)")
                    % {"field": field.label, "max": field.max_length}
                )
            values[field.name] = value
        return values

    def check(self, row: list[str]) -> tuple:
        """(address, address_lower, *stored values); raises Rejected; a repeat of an address
        seen earlier in the file raises Duplicate."""
        values = self.values(row)
        address = values.get(EMAIL, "")
        problem = address_problem(address)
        if problem:
            raise Rejected(problem)
        lower = address.lower()
        key = hash(lower)
        if key in self.seen:
            raise Duplicate(_("duplicate of an earlier row's address"))
        if self.suppressed and address_hash(lower) in self.suppressed:
            raise Rejected(_("the person asked to be erased; the address is never imported"))
        self._names(values)
        if self.kind == "contact" and not self.suppression:
            values["account_id"] = self._account_id(values.get(ACCOUNT, ""))
        if self.kind == "account" and not self.suppression and not values.get("name"):
            raise Rejected(_("no account name"))
        self.seen.add(key)
        return (address, lower, *(values.get(name, "") for name in self.stored))

    def _names(self, values: dict[str, str]) -> None:
        full = values.pop(FULL_NAME, "")
        if full and not values.get("first_name") and not values.get("last_name"):
            first, _space, last = full.rpartition(" ")
            values["first_name"], values["last_name"] = first[:100], last[:100]

    def _account_id(self, name: str) -> int | None:
        if not name:
            return None
        key = name.casefold()
        if key not in self.accounts:
            raise Rejected(_("unknown account: %(name)s") % {"name": name})
        if self.accounts[key] is None:
            raise Rejected(_("several accounts are named %(name)s") % {"name": name})
        return self.accounts[key]


class Duplicate(Rejected):
    """The address was already in an earlier row of the same file (the row is skipped)."""
