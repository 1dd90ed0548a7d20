from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import Engine, text

from quivive.clock import FrozenClock
from quivive.composition import Services
from quivive.protocols.webauthn import NewCredential
from quivive.services.accounts import NewAccount
from quivive.storage.database import create_database_engine
from quivive.storage.passkeys import PasskeyRepository
from quivive.storage.webauthn_challenges import CeremonyRepository, PendingCeremony

PARALLEL = 8


def new_credential(sign_count: int) -> NewCredential:
    return NewCredential(
        credential_id=b"\x01" * 16,
        public_key=b"cose",
        sign_count=sign_count,
        aaguid="00000000-0000-0000-0000-000000000000",
        transports=("usb", "nfc"),
        user_verified=True,
        backup_eligible=False,
        backup_state=False,
    )


def test_counter_compare_and_set_lets_one_of_parallel_uses_through(
    services: Services, clock: FrozenClock
) -> None:
    user = services.accounts.create(NewAccount(username="alice"), actor="test")
    repository = PasskeyRepository(services.engine)
    passkey = repository.add(
        user.id, new_credential(4), user_handle=b"h" * 32, name="Clé", now=clock.now()
    )

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(
            pool.map(
                lambda _: repository.record_use(
                    passkey.id, sign_count=5, backup_state=False, now=clock.now()
                ),
                range(PARALLEL),
            )
        )

    assert results.count(True) == 1
    assert repository.record_use(passkey.id, sign_count=6, backup_state=False, now=clock.now())
    assert not repository.record_use(passkey.id, sign_count=0, backup_state=False, now=clock.now())


def test_zero_counter_may_follow_zero(services: Services, clock: FrozenClock) -> None:
    user = services.accounts.create(NewAccount(username="alice"), actor="test")
    repository = PasskeyRepository(services.engine)
    passkey = repository.add(
        user.id, new_credential(0), user_handle=b"h" * 32, name="Clé", now=clock.now()
    )

    assert repository.record_use(passkey.id, sign_count=0, backup_state=False, now=clock.now())
    stored = repository.find(passkey.credential_id)
    assert stored is not None
    assert stored.transports == ("usb", "nfc")
    assert stored.last_used_at == clock.now()


def test_ceremony_is_consumed_once_under_parallel_requests(
    services: Services, clock: FrozenClock
) -> None:
    repository = CeremonyRepository(services.engine)
    ceremony = PendingCeremony("login", None, "Y2hhbGxlbmdl", clock.now() + timedelta(minutes=5))
    repository.add("a" * 64, ceremony, now=clock.now())

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(
            pool.map(
                lambda _: repository.consume("a" * 64, "login", now=clock.now()), range(PARALLEL)
            )
        )

    assert [result for result in results if result is not None] == [ceremony]


def test_ceremony_for_another_purpose_is_not_consumed(
    services: Services, clock: FrozenClock
) -> None:
    repository = CeremonyRepository(services.engine)
    user = services.accounts.create(NewAccount(username="alice"), actor="test")
    ceremony = PendingCeremony("register", user.id, "Y2g", clock.now() + timedelta(minutes=5))
    repository.add("b" * 64, ceremony, now=clock.now())

    assert repository.consume("b" * 64, "login", now=clock.now()) is None
    assert repository.consume("b" * 64, "register", now=clock.now()) == ceremony


def test_expired_ceremonies_are_swept(services: Services, clock: FrozenClock) -> None:
    repository = CeremonyRepository(services.engine)
    old = PendingCeremony("login", None, "b2xk", clock.now() + timedelta(minutes=5))
    repository.add("c" * 64, old, now=clock.now())
    clock.advance(timedelta(minutes=6))

    repository.add("d" * 64, old, now=clock.now())

    assert repository.consume("c" * 64, "login", now=clock.now() - timedelta(minutes=6)) is None


def second_node_engine(services: Services) -> Engine:
    """Another engine on the same database, as a second Quivive node would have."""
    url = services.engine.url.render_as_string(hide_password=False)
    schema = None
    if services.engine.dialect.name == "postgresql":
        with services.engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return create_database_engine(url, schema=schema)


def test_two_nodes_store_one_counter_value_once(services: Services, clock: FrozenClock) -> None:
    user = services.accounts.create(NewAccount(username="alice"), actor="test")
    first = PasskeyRepository(services.engine)
    other_engine = second_node_engine(services)
    second = PasskeyRepository(other_engine)
    passkey = first.add(
        user.id, new_credential(7), user_handle=b"h" * 32, name="Clé", now=clock.now()
    )

    def use(repository: PasskeyRepository) -> bool:
        return repository.record_use(passkey.id, sign_count=8, backup_state=False, now=clock.now())

    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            results = list(pool.map(use, [first, second] * (PARALLEL // 2)))
    finally:
        other_engine.dispose()

    assert results.count(True) == 1


def test_two_nodes_consume_one_ceremony_once(services: Services, clock: FrozenClock) -> None:
    other_engine = second_node_engine(services)
    nodes = [CeremonyRepository(services.engine), CeremonyRepository(other_engine)]
    ceremony = PendingCeremony("login", None, "Y2hhbGxlbmdl", clock.now() + timedelta(minutes=5))
    nodes[0].add("e" * 64, ceremony, now=clock.now())

    def consume(repository: CeremonyRepository) -> PendingCeremony | None:
        return repository.consume("e" * 64, "login", now=clock.now())

    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            results = list(pool.map(consume, nodes * (PARALLEL // 2)))
    finally:
        other_engine.dispose()

    assert [result for result in results if result is not None] == [ceremony]
