"""The registered sending addresses of the cities, kept in the store.

``[cities]`` in config.toml seeds the table: at every start each configured
address that the table has never held is added (actor ``config.toml``). An
address a person removed stays removed (the row keeps ``removed_at``), so a
decision made in the console or with ``zxjyck city remove`` is not undone by
the next restart. Every change writes an audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session, col, select

from store.models import AuditEntry, CityAddress

CONFIG_ACTOR = "config.toml"


def normalize_address(address: str) -> str:
    return address.strip().lower()


_CACHE_KEY = "zxjyck.registered_cities"


def registered_cities(session: Session) -> dict[str, tuple[str, ...]]:
    """City -> its registered addresses (current ones only), in the order they were added.

    Read once per transaction (a message's transaction asks several times); ``add_address`` and
    ``remove_address`` on the same session forget the copy."""
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return dict(cached[1])
    found: dict[str, list[str]] = {}
    rows = session.exec(select(CityAddress).where(col(CityAddress.removed_at).is_(None)).order_by(col(CityAddress.id)))
    for row in rows:
        found.setdefault(row.city, []).append(row.address)
    result = {city: tuple(addresses) for city, addresses in found.items()}
    session.info[_CACHE_KEY] = (session.get_transaction(), result)
    return dict(result)


def city_of_address(session: Session, address: str) -> str | None:
    row = session.exec(select(CityAddress).where(CityAddress.address == normalize_address(address),
                                                 col(CityAddress.removed_at).is_(None)).order_by(col(CityAddress.id))).first()
    return row.city if row else None


def add_address(session: Session, city: str, address: str, actor: str, now: datetime,
                message_pk: int | None = None) -> bool:
    """Register ``address`` for ``city`` (again, if it was removed); False when it already is."""
    session.info.pop(_CACHE_KEY, None)
    address = normalize_address(address)
    row = session.exec(select(CityAddress).where(CityAddress.city == city, CityAddress.address == address)).first()
    if row is not None and row.removed_at is None:
        return False
    if row is None:
        row = CityAddress(city=city, address=address, added_by=actor[:255], added_at=now)
    else:
        row.added_by, row.added_at, row.removed_by, row.removed_at = actor[:255], now, None, None
    session.add(row)
    session.add(AuditEntry(at=now, actor=actor[:255], action="city_add", message_pk=message_pk,
                           detail=f"{city} {address}"))
    return True


def remove_address(session: Session, city: str, address: str, actor: str, now: datetime) -> bool:
    """Unregister ``address`` for ``city``; False when it was not registered."""
    session.info.pop(_CACHE_KEY, None)
    address = normalize_address(address)
    row = session.exec(select(CityAddress).where(CityAddress.city == city, CityAddress.address == address,
                                                 col(CityAddress.removed_at).is_(None))).first()
    if row is None:
        return False
    row.removed_by, row.removed_at = actor[:255], now
    session.add(row)
    session.add(AuditEntry(at=now, actor=actor[:255], action="city_remove", detail=f"{city} {address}"))
    return True


def seed_from_config(session: Session, cities: Mapping[str, tuple[str, ...]], now: datetime) -> list[str]:
    """Add every configured address the table has never held; returns "city address" for each one added."""
    known = {(row.city, row.address) for row in session.exec(select(CityAddress))}
    added = []
    for city, addresses in cities.items():
        for address in addresses:
            address = normalize_address(address)
            if (city, address) in known:
                continue
            add_address(session, city, address, CONFIG_ACTOR, now)
            known.add((city, address))
            added.append(f"{city} {address}")
    return added
