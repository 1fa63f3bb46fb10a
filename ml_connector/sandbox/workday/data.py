"""Deterministic master data of the sandbox tenant: customers, suppliers and their contacts.

Everything comes from one seeded ``random.Random``, so a seed always yields byte-identical data and a
failing test can be replayed. The same :class:`Factory` makes the seeded book and the records that
``POST /_sandbox/workday/mutate`` creates or changes later, so both look alike.

Realism that matters to a connector: accented names, several countries/currencies/address formats,
records that are both customer and supplier, inactive records, and legal-but-awkward data (no email,
no region, a very long name). Update timestamps fall in the 90 days before :data:`TENANT_CLOCK_START`
so ``Updated_From``/``Updated_To`` windows select real subsets.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import TypeVar

from ml_connector.sandbox.config import WORKTAG_ROLES, WorktagRole, WorktagTypes
from ml_connector.sandbox.workday import catalog as cat
from ml_connector.sandbox.workday.records import (
    Address,
    BusinessEntity,
    Contact,
    ContactData,
    Customer,
    Email,
    PersonName,
    Phone,
    Reference,
    Supplier,
    Usage,
    WebAddress,
    Worktag,
)

# The seeded book was last written before this instant; live mutations are stamped with real time.
TENANT_CLOCK_START = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY = timedelta(days=90)
INACTIVE_SHARE = 0.08
SHARED_ENTITY_SHARE = 0.10
CONTACTS_PER_RECORD_WEIGHTS = (15, 30, 30, 15, 10)  # 0, 1, 2, 3, 4 contacts
T = TypeVar("T")
# random.choices with cumulative weights skips re-summing on each of ~100k calls.
_CUM_COUNTRY = tuple(accumulate(cat.COUNTRY_WEIGHTS))
_CUM_CATEGORY = tuple(accumulate(cat.CUSTOMER_CATEGORY_WEIGHTS))
_CUM_TERMS = tuple(accumulate(cat.PAYMENT_TERMS_WEIGHTS))
_CUM_CONTACTS = tuple(accumulate(CONTACTS_PER_RECORD_WEIGHTS))
_COUNTRY_BY_CODE = {c.alpha2: c for c in cat.COUNTRIES}

_ASCII_FOLD = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d"}
)


def ascii_slug(text: str, sep: str = "") -> str:
    """Lowercase ASCII for e-mail local parts and domains: ``Ødegård`` → ``odegard``."""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", sep, plain).strip(sep)


def new_wid(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


@dataclass(frozen=True)
class Catalog:
    """The tenant's setup data (categories, terms, currencies ...), each a ready ``Reference``."""

    customer_categories: tuple[Reference, ...]
    customer_groups: tuple[Reference, ...]
    supplier_categories: tuple[Reference, ...]
    supplier_groups: tuple[Reference, ...]
    payment_terms: tuple[Reference, ...]
    currencies: dict[str, Reference]
    statuses: dict[str, Reference]
    approved: Reference
    worktag_types: dict[WorktagRole, Reference]  # by role; the tenant's own type IDs inside
    industries: tuple[Reference, ...]
    segments: tuple[Reference, ...]
    regions: dict[str, Reference]

    @classmethod
    def build(cls, seed: int, worktag_types: WorktagTypes | None = None) -> Catalog:
        """The setup data of ``seed``; ``worktag_types`` renames the worktag types (same WIDs, same values)."""
        rng = random.Random(f"workday-catalog:{seed}")

        def refs(id_type: str, rows: tuple[tuple[str, str], ...]) -> tuple[Reference, ...]:
            return tuple(Reference(new_wid(rng), ((id_type, key),), label) for key, label in rows)

        currencies = {
            code: Reference(new_wid(rng), (("Currency_ID", code), ("Currency_Numeric_Code", num)), code)
            for code, num in cat.CURRENCY_NUMERIC.items()
        }
        statuses = {r.ids[0][1]: r for r in refs("Business_Entity_Status_Value_ID", cat.STATUSES)}
        types = (worktag_types or WorktagTypes()).rows()
        worktag_types_by_role = dict(
            zip(WORKTAG_ROLES, refs("Accounting_Worktag_Type_ID", types), strict=True)
        )
        industries = refs("Organization_Reference_ID", tuple((f"IND_{k}", d) for k, d, _ in cat.INDUSTRIES))
        segments = refs("Organization_Reference_ID", tuple((f"SEG_{k}", d) for k, d in cat.SEGMENTS))
        regions = {
            key: Reference(new_wid(rng), (("Region_Reference_ID", f"REG_{key}"),), label)
            for key, label in cat.WORLD_REGIONS.items()
        }
        return cls(
            customer_categories=refs("Customer_Category_ID", cat.CUSTOMER_CATEGORIES),
            customer_groups=refs("Customer_Group_ID", cat.CUSTOMER_GROUPS),
            supplier_categories=refs("Supplier_Category_ID", cat.SUPPLIER_CATEGORIES),
            supplier_groups=refs("Supplier_Group_ID", cat.SUPPLIER_GROUPS),
            payment_terms=refs("Payment_Terms_ID", cat.PAYMENT_TERMS),
            currencies=currencies,
            statuses=statuses,
            approved=Reference(new_wid(rng), (("Document_Status_ID", "APPROVED"),), "Approved"),
            worktag_types=worktag_types_by_role,
            industries=industries,
            segments=segments,
            regions=regions,
        )


@dataclass
class Counters:
    """Next numbers for every generated ID; copied so ``reset()`` can rewind them."""

    numbers: Counter[str] = field(default_factory=Counter)
    names: set[str] = field(default_factory=set)

    def next(self, kind: str) -> int:
        self.numbers[kind] += 1
        return self.numbers[kind]

    def copy(self) -> Counters:
        return Counters(Counter(self.numbers), set(self.names))


@dataclass(frozen=True)
class TenantData:
    """The seeded book: records in creation order plus when each was last updated (by record ID)."""

    catalog: Catalog
    customers: tuple[Customer, ...]
    suppliers: tuple[Supplier, ...]
    contacts: tuple[Contact, ...]
    updated: dict[str, datetime]
    counters: Counters


def seeded_time(rng: random.Random) -> datetime:
    """A moment in the :data:`HISTORY` before the tenant clock, at millisecond precision."""
    ms = rng.randrange(int(HISTORY.total_seconds() * 1000))
    return TENANT_CLOCK_START - timedelta(milliseconds=ms + 1)


class Factory:
    """Makes and changes records; all randomness from the ``rng`` it is given."""

    def __init__(self, rng: random.Random, catalog: Catalog, counters: Counters) -> None:
        self.rng = rng
        self.catalog = catalog
        self.counters = counters

    # -- small pieces ---------------------------------------------------------------------------
    def _country(self) -> cat.Country:
        return self._pick(cat.COUNTRIES, _CUM_COUNTRY)

    def _digits(self, pattern: str) -> str:
        """Fill a pattern: ``9`` → a digit, ``A`` → a letter, anything else kept (one RNG call for digits)."""
        rng = self.rng
        k = pattern.count("9")
        digits = iter(f"{rng.randrange(10**k):0{k}d}")
        return "".join(
            next(digits) if ch == "9" else rng.choice("ABCDEHJKLMNPRSTWXY") if ch == "A" else ch
            for ch in pattern
        )

    def _pick(self, population: Sequence[T], cum_weights: Sequence[int]) -> T:
        return self.rng.choices(population, cum_weights=cum_weights)[0]

    def _ref_id(self, kind: str) -> str:
        return f"{kind}_REFERENCE-6-{self.counters.next(kind)}"

    def _company_name(self, country: cat.Country, industry_words: tuple[str, ...]) -> tuple[str, str]:
        """(legal name, name without legal suffix); unique within the tenant."""
        rng = self.rng
        for attempt in range(6):
            suffix = rng.choice(country.suffixes)
            pattern = rng.randrange(10)
            if rng.random() < 0.005:
                base = (
                    f"The {rng.choice(cat.NAME_WORDS)} {rng.choice(industry_words)} International Holdings "
                    f"and Consolidated Operations Company of {country.name}"
                )
            elif pattern < 4:
                base = f"{rng.choice(cat.NAME_WORDS)} {rng.choice(industry_words)}"
            elif pattern < 6:
                base = f"{rng.choice(country.last_names)} & {rng.choice(country.last_names)}"
            elif pattern < 8:
                base = f"{rng.choice(country.cities).name} {rng.choice(industry_words)}"
            else:
                base = f"{rng.choice(country.last_names)} {rng.choice(industry_words)}"
            name = f"{base} {suffix}" if attempt < 5 else f"{base} {self.counters.next('NAME')} {suffix}"
            if name not in self.counters.names:
                self.counters.names.add(name)
                return name, base
        raise AssertionError("unreachable")  # pragma: no cover

    def address(self, country: cat.Country, primary: bool, when: datetime) -> Address:
        rng = self.rng
        city = rng.choice(country.cities)
        street, number = rng.choice(country.streets), str(rng.randint(1, 250))
        lines = [f"{street} {number}" if country.address_format == "street_first" else f"{number} {street}"]
        if rng.random() < 0.3:
            lines.append(rng.choice(("Suite 200", "Floor 3", "Building B", "Unit 12", "2nd Floor")))
        region_code, region_name = city.region_code, city.region_name
        if country.alpha2 in {"GB", "NL", "SE", "NO", "CZ", "ZA"} and rng.random() < 0.3:
            region_code = region_name = None  # legal: Workday does not require a region there
        postal = self._digits(country.postal) if country.postal else None
        if country.address_format == "number_first":
            region_short = region_code.split("-")[1] if region_code else ""
            locality = " ".join(p for p in (f"{city.name},", region_short, postal or "") if p).rstrip(",")
        else:
            locality = f"{postal} {city.name}" if postal else city.name
        return Address(
            address_id=self._ref_id("ADDRESS"),
            lines=tuple(lines),
            municipality=city.name,
            country_code=country.alpha2,
            region_code=region_code,
            region_name=region_name,
            postal_code=postal,
            usage=Usage("BUSINESS", primary=primary),
            effective_date=(when - timedelta(days=rng.randint(0, 400))).date(),
            last_modified=when,
            formatted="\n".join([*lines, locality, country.name]),
        )

    def phone(self, country: cat.Country, primary: bool, device: str | None = None) -> Phone:
        rng = self.rng
        area = rng.choice(country.cities).area_code
        raw = self._digits("9999999" if country.phone_code == "1" else rng.choice(("9999999", "99999999")))
        number = f"{raw[:3]}-{raw[3:]}"
        device = device or self._pick(("Landline", "Mobile", "Fax"), (6, 9, 10))
        extension = str(rng.randint(10, 999)) if device == "Landline" and rng.random() < 0.15 else None
        formatted = f"+{country.phone_code} ({area}) {number}" + (f" x{extension}" if extension else "")
        return Phone(
            phone_id=self._ref_id("PHONE"),
            country_alpha3=country.alpha3,
            international_code=country.phone_code,
            area_code=area,
            number=number,
            extension=extension,
            device_type=device,
            usage=Usage("BUSINESS", primary=primary),
            formatted=formatted,
            e164=f"+{country.phone_code}{area}{raw}",
        )

    def email(self, address: str, primary: bool) -> Email:
        return Email(self._ref_id("EMAIL"), address, Usage("BUSINESS", primary=primary))

    # -- business entities ------------------------------------------------------------------------
    def entity(self, country: cat.Country, industry: int, when: datetime, supplier: bool) -> BusinessEntity:
        rng = self.rng
        name, base = self._company_name(country, cat.INDUSTRIES[industry][2])
        domain = f"{ascii_slug(base, '-')[:40].strip('-')}.{country.tld}"
        addresses = [self.address(country, i == 0, when) for i in range(self._pick((1, 2, 3), (60, 90, 100)))]
        phones = [self.phone(country, i == 0) for i in range(self._pick((0, 1, 2, 3), (4, 60, 90, 100)))]
        boxes = (
            ("sales", "orders", "remittance", "info") if supplier else ("accounts", "billing", "ap", "info")
        )
        n_emails = self._pick((0, 1, 2, 3), (3, 53, 88, 100))
        emails = [self.email(f"{box}@{domain}", i == 0) for i, box in enumerate(boxes[:n_emails])]
        web = (
            (
                WebAddress(
                    self._ref_id("WEB_ADDRESS"), f"https://www.{domain}", Usage("BUSINESS", primary=True)
                ),
            )
            if rng.random() < 0.85
            else ()
        )
        tax_id = None if rng.random() < 0.2 else f"{country.alpha2}{self._digits('999999999')}"
        return BusinessEntity(
            name=name,
            external_entity_id=None if rng.random() < 0.7 else f"EXT-{self._digits('9999999')}",
            tax_id=tax_id,
            contact=ContactData(tuple(addresses), tuple(phones), tuple(emails), web),
        )

    def _worktags(self, country: cat.Country, industry: int, with_segment: bool) -> tuple[Worktag, ...]:
        c = self.catalog
        tags = [Worktag(c.worktag_types["industry"], c.industries[industry], "industry")]
        if with_segment:
            tags.append(Worktag(c.worktag_types["segment"], self.rng.choice(c.segments), "segment"))
        tags.append(Worktag(c.worktag_types["region"], c.regions[country.world_region], "region"))
        return tuple(tags)

    def _currency(self, country: cat.Country) -> Reference:
        code = country.currency if self.rng.random() < 0.9 else self.rng.choice(("USD", "EUR"))
        return self.catalog.currencies[code]

    def _status(self) -> Reference:
        return self.catalog.statuses["INACTIVE" if self.rng.random() < INACTIVE_SHARE else "ACTIVE"]

    def customer(
        self, when: datetime, shared: tuple[BusinessEntity, str, cat.Country, int] | None = None
    ) -> Customer:
        """A new customer; ``shared`` = (entity, supplier ID, country, industry) of the same company."""
        rng, c = self.rng, self.catalog
        n = self.counters.next("CUSTOMER")
        if shared:
            entity, supplier_id, country, industry = shared
        else:
            country, industry, supplier_id = self._country(), rng.randrange(len(cat.INDUSTRIES)), None
            entity = self.entity(country, industry, when, supplier=False)
        customer_id = f"CUS-{n:06d}"
        ref_id = f"CUSTOMER_REFERENCE_ID-{n:06d}"
        wid = new_wid(rng)
        credit = None if rng.random() < 0.1 else float(rng.choice((5, 10, 25, 50, 100, 250, 500)) * 1000)
        return Customer(
            reference=Reference(
                wid, (("Customer_ID", customer_id), ("Customer_Reference_ID", ref_id)), entity.name
            ),
            customer_id=customer_id,
            customer_reference_id=ref_id,
            entity=entity,
            category=self._pick(c.customer_categories, _CUM_CATEGORY),
            payment_terms=self._pick(c.payment_terms, _CUM_TERMS),
            currency=self._currency(country),
            credit_limit=credit,
            status=self._status(),
            worktags=self._worktags(country, industry, with_segment=True),
            supplier_id=supplier_id,
            groups=(rng.choice(c.customer_groups),) if rng.random() < 0.4 else (),
        )

    def supplier(self, when: datetime) -> tuple[Supplier, cat.Country, int]:
        rng, c = self.rng, self.catalog
        n = self.counters.next("SUPPLIER")
        country, industry = self._country(), rng.randrange(len(cat.INDUSTRIES))
        entity = self.entity(country, industry, when, supplier=True)
        supplier_id = f"SUP-{n:06d}"
        ref_id = f"SUPPLIER_REFERENCE_ID-{n:06d}"
        supplier = Supplier(
            reference=Reference(
                new_wid(rng), (("Supplier_ID", supplier_id), ("Supplier_Reference_ID", ref_id)), entity.name
            ),
            supplier_id=supplier_id,
            supplier_reference_id=ref_id,
            entity=entity,
            category=rng.choice(c.supplier_categories),
            groups=tuple(rng.sample(c.supplier_groups, self._pick((1, 2), (80, 100)))),
            payment_terms=self._pick(c.payment_terms, _CUM_TERMS),
            currency=self._currency(country),
            status=self._status(),
            approval_status=c.approved,
            worktags=self._worktags(country, industry, with_segment=False),
        )
        return supplier, country, industry

    # -- contacts ---------------------------------------------------------------------------------
    def contacts_for(
        self,
        country_code: str,
        domain: str,
        *,
        customer_id: str | None = None,
        supplier_id: str | None = None,
        parent_wid: str | None = None,
    ) -> list[Contact]:
        count = self._pick(range(5), _CUM_CONTACTS)
        return [
            replace(
                self.contact(
                    country_code, domain, i == 0 and customer_id is not None, customer_id, supplier_id
                ),
                parent_wid=parent_wid,
            )
            for i in range(count)
        ]

    def contact(
        self, country_code: str, domain: str, bill_to: bool, customer_id: str | None, supplier_id: str | None
    ) -> Contact:
        rng = self.rng
        home = _COUNTRY_BY_CODE[country_code]
        origin = home if rng.random() < 0.8 else self._country()
        first, last = rng.choice(origin.first_names), rng.choice(origin.last_names)
        name = PersonName(
            first=first,
            last=last,
            middle=rng.choice(origin.first_names) if rng.random() < 0.1 else None,
            prefix=rng.choice(cat.CONTACT_TITLES) if rng.random() < 0.2 else None,
            country_code=origin.alpha2,
        )
        n = self.counters.next("CONTACT")
        emails = () if rng.random() < 0.1 else (self.email(self._person_email(name, domain), True),)
        phones = tuple(
            self.phone(home, i == 0, "Mobile" if i else None) for i in range(rng.choice((0, 1, 1, 2)))
        )
        contact_id = f"BEC-{n:06d}"
        return Contact(
            reference=Reference(
                new_wid(rng), (("Business_Entity_Contact_ID", contact_id),), _formatted(name)
            ),
            contact_id=contact_id,
            name=name,
            contact=ContactData(phones=phones, emails=emails),
            customer_id=customer_id,
            supplier_id=supplier_id,
            primary_bill_to=bill_to,
            default_bill_to=bill_to,
        )

    def _person_email(self, name: PersonName, domain: str) -> str:
        local = f"{ascii_slug(name.first)}.{ascii_slug(name.last)}"
        return (
            f"{local}{self.rng.randint(2, 99)}@{domain}" if self.rng.random() < 0.1 else f"{local}@{domain}"
        )

    # -- changes (mutations) ----------------------------------------------------------------------
    def _changed_contact_data(self, data: ContactData, country_code: str, domain: str) -> ContactData:
        """A new primary phone, and sometimes a new primary e-mail: what AR clerks actually edit."""
        country = _COUNTRY_BY_CODE[country_code]
        phones = (self.phone(country, True, "Landline"), *(p for p in data.phones if not p.usage.primary))
        emails = data.emails
        if self.rng.random() < 0.5 or not emails:
            emails = (self.email(f"finance{self.rng.randint(1, 99)}@{domain}", True),)
            emails += tuple(e for e in data.emails if not e.usage.primary)
        return replace(data, phones=phones, emails=emails)

    def unparseable_customer(self, customer: Customer) -> Customer:
        """The name gains a control character, which Workday writes as ``&#x1;``: not allowed in XML 1.0,
        so the page that carries it cannot be parsed (as a real tenant's legacy data can do)."""
        entity = replace(customer.entity, name=f"{customer.entity.name}\x01")
        return replace(customer, reference=replace(customer.reference, descriptor=entity.name), entity=entity)

    def changed_customer(self, customer: Customer) -> Customer:
        rng = self.rng
        terms = rng.choice([t for t in self.catalog.payment_terms if t != customer.payment_terms])
        entity = customer.entity
        entity = replace(entity, contact=self._changed_contact_data(entity.contact, *_origin(entity)))
        if rng.random() < 0.3:
            entity = replace(entity, name=f"{entity.name} (Holdings)")
        category = customer.category
        if rng.random() < 0.3:
            category = rng.choice(self.catalog.customer_categories)
        reference = replace(customer.reference, descriptor=entity.name)
        return replace(customer, reference=reference, entity=entity, payment_terms=terms, category=category)

    def changed_supplier(self, supplier: Supplier) -> Supplier:
        rng = self.rng
        terms = rng.choice([t for t in self.catalog.payment_terms if t != supplier.payment_terms])
        entity = supplier.entity
        entity = replace(entity, contact=self._changed_contact_data(entity.contact, *_origin(entity)))
        if rng.random() < 0.3:
            supplier = replace(supplier, category=rng.choice(self.catalog.supplier_categories))
        return replace(
            supplier,
            reference=replace(supplier.reference, descriptor=entity.name),
            entity=entity,
            payment_terms=terms,
        )

    def changed_contact(self, contact: Contact, domain: str) -> Contact:
        rng = self.rng
        name = contact.name
        if rng.random() < 0.2:  # a married name
            origin = _COUNTRY_BY_CODE[name.country_code]
            name = replace(name, last=rng.choice([n for n in origin.last_names if n != name.last]))
        country = _COUNTRY_BY_CODE[name.country_code]
        phones = (self.phone(country, True, "Mobile"),)
        emails = (
            (self.email(self._person_email(name, domain), True),)
            if rng.random() < 0.7
            else contact.contact.emails
        )
        if emails == contact.contact.emails and not emails:
            emails = (self.email(self._person_email(name, domain), True),)
        reference = replace(contact.reference, descriptor=_formatted(name))
        return replace(
            contact, reference=reference, name=name, contact=ContactData(phones=phones, emails=emails)
        )

    def corrupted_contact(self, contact: Contact) -> Contact:
        """The contact's primary email loses its domain dot and gains a second ``@``."""
        local = _formatted(contact.name).lower().replace(" ", ".") or "contact"
        broken = self.email(f"{local}@@example", True)
        others = tuple(e for e in contact.contact.emails if not e.usage.primary)
        return replace(contact, contact=replace(contact.contact, emails=(broken, *others)))

    def deactivated(self, record: Customer | Supplier) -> Customer | Supplier:
        return replace(record, status=self.catalog.statuses["INACTIVE"])

    # -- names with every class of character (``unusual_*_names`` mutations) -----------------------
    def unusual_text(self, base: str) -> str:
        """``base`` rewritten with one or two classes of :data:`UNUSUAL_NAME_CLASSES`, picked at random.

        Every character is one XML 1.0 can carry (control characters are ``unparseable_customers``'
        business); only the ``long`` class goes past Pipedrive's 255 characters, only ``blank`` leaves no
        name at all.
        """
        rng = self.rng
        classes = rng.sample(UNUSUAL_NAME_CLASSES, rng.choice((1, 1, 2)))
        text = base
        for cls in classes:
            text = _unusual(cls, text, rng)
        return text

    def unusual_company(self, record: Customer | Supplier) -> Customer | Supplier:
        """The customer's or supplier's name (and its reference descriptor) with unusual characters."""
        entity = replace(record.entity, name=self.unusual_text(record.entity.name))
        return replace(record, reference=replace(record.reference, descriptor=entity.name), entity=entity)

    def unusual_contact(self, contact: Contact) -> Contact:
        """The contact's first and/or last name with unusual characters; emails and phones unchanged."""
        name = contact.name
        which = self.rng.choice(("first", "last", "both"))
        if which in ("first", "both"):
            name = replace(name, first=self.unusual_text(name.first))
        if which in ("last", "both"):
            name = replace(name, last=self.unusual_text(name.last))
        return replace(contact, reference=replace(contact.reference, descriptor=_formatted(name)), name=name)


# Classes of characters a real tenant's names hold, for ``unusual_*_names`` mutations.
UNUSUAL_NAME_CLASSES: tuple[str, ...] = (
    "combining",  # decomposed accents: e + U+0301, stacked marks
    "rtl",  # Arabic and Hebrew script, with right-to-left and left-to-right marks
    "emoji",  # astral code points, a ZWJ sequence, a flag, a skin tone modifier
    "cjk",  # Chinese, Japanese and Korean
    "quotes",  # straight, curly and guillemet quotes, an apostrophe
    "xml",  # & < > " ' and a CDATA end, which every XML writer must escape
    "padding",  # leading/trailing spaces and a non-breaking space inside
    "long",  # more than the 255 characters Pipedrive takes
    "limit",  # exactly 255 characters
    "blank",  # nothing but spaces: no name at all
)
_UNUSUAL_PIECES: dict[str, tuple[str, ...]] = {
    "combining": (
        "Cafe\u0301",
        "A\u030a\u0301ngstro\u0308m",
        "Z\u0327\u0306\u0300alg\u0337o\u0489",
        "n\u0303",
    ),
    "rtl": (
        "\u0634\u0631\u0643\u0629 \u0627\u0644\u0646\u0648\u0631",
        '\u05d7\u05d1\u05e8\u05d4 \u05d1\u05e2"\u05de',
        "\u200f\u0645\u062d\u0645\u062f\u200e",
        "\u202bRTL\u202c",
    ),
    "emoji": (
        "\U0001f680",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\U0001f1e9\U0001f1ea",
        "\U0001f44d\U0001f3fd",
        "\u2615",
    ),
    "cjk": (
        "\u682a\u5f0f\u4f1a\u793e\u5c71\u7530",
        "\u5317\u4eac\u79d1\u6280\u6709\u9650\u516c\u53f8",
        "\uc0bc\uc131",
        "\u3053\u3093\u306b\u3061\u306f",
        "\U00020bb7",
    ),
    "quotes": (
        "O'Brien",
        '"Quoted"',
        "\u2018single\u2019",
        "\u201cdouble\u201d",
        "\u00abGuillemets\u00bb",
        "`tick`",
    ),
    "xml": ("A & B", "<b>bold</b>", "x > y < z", "]]>", "&amp; literally", "'apos' \"quot\""),
}


def _unusual(cls: str, base: str, rng: random.Random) -> str:
    """``base`` with one class of unusual characters (see :data:`UNUSUAL_NAME_CLASSES`)."""
    if cls == "padding":
        inner = base.replace(" ", "\u00a0", 1)
        return f"  {inner}\t "
    if cls == "blank":
        return " " * rng.randint(1, 4)
    if cls in ("long", "limit"):
        length = 255 if cls == "limit" else rng.randint(256, 400)
        filler = " ".join(rng.choice(cat.NAME_WORDS) for _ in range(length))
        return f"{base} {filler}"[:length].rstrip().ljust(length, "x")
    piece = rng.choice(_UNUSUAL_PIECES[cls])
    return f"{piece} {base}" if rng.random() < 0.5 else f"{base} {piece}"


def _formatted(name: PersonName) -> str:
    return " ".join(p for p in (name.first, name.middle, name.last) if p)


def _origin(entity: BusinessEntity) -> tuple[str, str]:
    """(country, e-mail domain) of an entity, read back from its first address and web/e-mail data."""
    country = entity.contact.addresses[0].country_code if entity.contact.addresses else "US"
    return country, entity_domain(entity)


def entity_domain(entity: BusinessEntity) -> str:
    for web in entity.contact.web:
        return web.url.removeprefix("https://www.")
    for email in entity.contact.emails:
        return email.address.split("@", 1)[1]
    return f"{ascii_slug(entity.name, '-')[:40].strip('-')}.example"


def generate(
    seed: int, customers: int, suppliers: int, worktag_types: WorktagTypes | None = None
) -> TenantData:
    """The seeded book: suppliers first, ~10% of them also customers, then contacts for every record.
    ``worktag_types`` only renames the worktag types: the same seed gives the same records."""
    catalog = Catalog.build(seed, worktag_types)
    counters = Counters()
    rng = random.Random(seed)
    factory = Factory(rng, catalog, counters)
    updated: dict[str, datetime] = {}
    supplier_rows = []
    for _ in range(suppliers):
        when = seeded_time(rng)
        supplier, country, industry = factory.supplier(when)
        updated[supplier.supplier_id] = when
        supplier_rows.append((supplier, country, industry))
    n_shared = round(SHARED_ENTITY_SHARE * min(customers, suppliers))
    shared_suppliers = sorted(rng.sample(range(suppliers), n_shared))
    shared_customers = sorted(rng.sample(range(customers), n_shared))
    pairs = dict(zip(shared_customers, shared_suppliers, strict=True))
    customer_list: list[Customer] = []
    supplier_list = [row[0] for row in supplier_rows]
    for i in range(customers):
        when = seeded_time(rng)
        if i in pairs:
            supplier, country, industry = supplier_rows[pairs[i]]
            customer = factory.customer(when, (supplier.entity, supplier.supplier_id, country, industry))
            supplier_list[pairs[i]] = replace(supplier, customer_id=customer.customer_id)
        else:
            customer = factory.customer(when)
        updated[customer.customer_id] = when
        customer_list.append(customer)
    contacts: list[Contact] = []
    for customer in customer_list:
        country_code, domain = _origin(customer.entity)
        contacts += factory.contacts_for(
            country_code, domain, customer_id=customer.customer_id, parent_wid=customer.reference.wid
        )
    for supplier in supplier_list:
        country_code, domain = _origin(supplier.entity)
        contacts += factory.contacts_for(
            country_code, domain, supplier_id=supplier.supplier_id, parent_wid=supplier.reference.wid
        )
    for contact in contacts:
        updated[contact.contact_id] = seeded_time(rng)
    return TenantData(catalog, tuple(customer_list), tuple(supplier_list), tuple(contacts), updated, counters)


def effective_today(moment: datetime) -> date:
    """``As_Of_Effective_Date`` default: the tenant's today for a given entry moment."""
    return moment.astimezone(UTC).date()
