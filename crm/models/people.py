"""People a mass email can reach (Accounts, Contacts, Leads, Users) and their shared addresses."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from crm.address_fields import AddressField


def normalize_address(address: str) -> str:
    return address.strip().lower()


class EmailAddress(models.Model):
    """One row per address, shared by every person who uses it; flags apply everywhere."""

    address = AddressField(_("address"))
    # Unique by a constraint rather than unique=True, which would add a second, LIKE-only
    # index that nothing searches with and every new address has to write.
    address_lower = models.CharField(max_length=254, editable=False)
    opt_out = models.BooleanField(
        _("opted out"), default=False, help_text=_("Receives no mass email at all.")
    )
    invalid = models.BooleanField(
        _("invalid"), default=False, help_text=_("Hard-bounced: no mass email is sent to it.")
    )
    soft_bounces = models.PositiveIntegerField(_("soft bounces"), default=0)

    class Meta:
        verbose_name = _("email address")
        verbose_name_plural = _("email addresses")
        # address_lower is set by save() with Python's lower(): SQL's LOWER() differs for
        # non-ASCII letters (SQLite lowers only A-Z), so no CHECK constraint compares them.
        ordering = ["address_lower"]
        constraints = [
            models.UniqueConstraint(fields=["address_lower"], name="emailaddress_address_once")
        ]

    def __str__(self) -> str:
        return self.address

    def save(self, *args, **kwargs) -> None:
        self.address = self.address.strip()
        self.address_lower = normalize_address(self.address)
        super().save(*args, **kwargs)

    @classmethod
    def for_address(cls, address: str) -> "EmailAddress":
        """The shared row for `address` (any case), created on first use."""
        row, _created = cls.objects.get_or_create(
            address_lower=normalize_address(address), defaults={"address": address.strip()}
        )
        return row


class Person(models.Model):
    """Fields every email target has. `name` is what {Person.name} renders."""

    email_address = models.ForeignKey(
        EmailAddress,
        verbose_name=_("email address"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The id another system (the CRM's other parts, a shop) keeps for the record; the API finds
    # and upserts by it. Unique per kind when set (people_constraints).
    external_id = models.CharField(
        _("external id"),
        max_length=255,
        null=True,
        blank=True,
        default=None,
        help_text=_("The id another system (the CRM, a shop) keeps for this record."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # When the record's own fields last changed (the API's `updated_since`); db_default for
    # rows written with SQL of their own (imports).
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_default=Now())

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @property
    def email(self) -> str:
        return self.email_address.address if self.email_address_id else ""


def people_constraints(prefix: str) -> list[models.UniqueConstraint]:
    """An external id names at most one record of a kind."""
    return [
        models.UniqueConstraint(
            fields=["external_id"],
            condition=models.Q(external_id__isnull=False),
            name=f"{prefix}_external_id_once",
        )
    ]


def people_indexes(prefix: str) -> list[models.Index]:
    """What a sync by `updated_since` reads: the records in (updated_at, id) order."""
    return [models.Index(fields=["updated_at", "id"], name=f"{prefix}_updated")]


class Account(Person):
    name = models.CharField(_("name"), max_length=255)
    website = models.URLField(_("website"), blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name"]
        constraints = people_constraints("account")
        indexes = people_indexes("account")

    @property
    def first_name(self) -> str:
        return ""

    @property
    def last_name(self) -> str:
        return ""


class NamedPerson(Person):
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100)
    title = models.CharField(_("title"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    # A date automations can start from (N days before or after, every year).
    birthday = models.DateField(_("birthday"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["last_name", "first_name"]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Contact(NamedPerson):
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        db_index=False,  # the partial index below: most contacts have no account
    )

    class Meta(NamedPerson.Meta):
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = people_constraints("contact")
        indexes = [
            models.Index(
                fields=["account"],
                condition=models.Q(account__isnull=False),
                name="contact_account",
            ),
            *people_indexes("contact"),
        ]


class Lead(NamedPerson):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        ASSIGNED = "assigned", _("Assigned")
        IN_PROCESS = "in_process", _("In Process")
        CONVERTED = "converted", _("Converted")
        RECYCLED = "recycled", _("Recycled")
        DEAD = "dead", _("Dead")

    account_name = models.CharField(_("account name"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status, default=Status.NEW)
    source = models.CharField(_("source"), max_length=100, blank=True)

    class Meta(NamedPerson.Meta):
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = people_constraints("lead")
        indexes = people_indexes("lead")


class TargetType(models.TextChoices):
    ACCOUNT = "account", _("Account")
    CONTACT = "contact", _("Contact")
    LEAD = "lead", _("Lead")
    USER = "user", _("User")


def target_key(to, label, on_delete=models.CASCADE) -> models.ForeignKey:
    """One of the target keys of TargetFields: optional, with no index of its own."""
    return models.ForeignKey(
        to, verbose_name=label, null=True, blank=True, on_delete=on_delete, db_index=False
    )


class TargetFields(models.Model):
    """Points at exactly one Account, Contact, Lead or User (one FK each, so deletes cascade).

    The four keys have no index of their own: a row sets one of them, and a plain index would
    store the three NULLs too, four index writes per row where one is needed. Each concrete
    model adds target_indexes() (partial: only the rows that point at that kind), or unique
    constraints that lead with the key."""

    account = target_key(Account, _("account"))
    contact = target_key(Contact, _("contact"))
    lead = target_key(Lead, _("lead"))
    user = target_key(settings.AUTH_USER_MODEL, _("user"))

    TARGET_FIELDS = ("account", "contact", "lead", "user")

    class Meta:
        abstract = True

    @classmethod
    def target_indexes(cls, prefix: str) -> list[models.Index]:
        """One partial index per target key, holding only the rows that set it: what deleting
        a person (the cascade) and finding a person's rows look up."""
        return [
            models.Index(
                fields=[field],
                condition=models.Q(**{f"{field}__isnull": False}),
                name=f"{prefix}_{field}",
            )
            for field in cls.TARGET_FIELDS
        ]

    @classmethod
    def one_target_constraint(cls, name: str, allow_none: bool = False) -> models.CheckConstraint:
        """A check that at most (or exactly, unless allow_none) one target FK is set."""
        options = [
            models.Q(**{f"{field}__isnull": field != chosen for field in cls.TARGET_FIELDS})
            for chosen in cls.TARGET_FIELDS
        ]
        if allow_none:
            options.append(models.Q(**{f"{field}__isnull": True for field in cls.TARGET_FIELDS}))
        condition = options[0]
        for option in options[1:]:
            condition |= option
        return models.CheckConstraint(condition=condition, name=name)

    @property
    def target(self):
        for field in self.TARGET_FIELDS:
            if getattr(self, f"{field}_id"):
                return getattr(self, field)
        return None

    @property
    def target_type(self) -> str:
        for field in self.TARGET_FIELDS:
            if getattr(self, f"{field}_id"):
                return field
        return ""

    def set_target(self, target) -> None:
        field = target_type_of(target)
        for name in self.TARGET_FIELDS:
            setattr(self, name, target if name == field else None)


def target_type_of(target) -> str:
    """The TargetType value for an Account, Contact, Lead or User instance."""
    if isinstance(target, Account):
        return TargetType.ACCOUNT
    if isinstance(target, Contact):
        return TargetType.CONTACT
    if isinstance(target, Lead):
        return TargetType.LEAD
    if target._meta.label == settings.AUTH_USER_MODEL:
        return TargetType.USER
    raise TypeError(f"{type(target).__name__} cannot be an email target")
