"""The evaluation's claims on the real PostgreSQL: two transactions at once never hold the same
recall, and what a transaction decided is gone if it does not commit."""
import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bookflow_recall.domain import recall as domain
from bookflow_recall.storage import projection
from bookflow_recall.storage import recall as storage
from bookflow_recall.storage.tables import recall_step_runs
from bookflow_runtime.database import Database

NOW = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
TODAY = date(2027, 3, 10)


async def clinic_with_due_recalls(db: Database, count: int) -> str:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    template = domain.Template(uuid.uuid4(), tenant, "Kontrol", "kontrol", 0, 6, "months", None,
                               steps=(domain.Step(0, (), (domain.Action("send", "sms"),)),))
    async with db.transaction() as s:
        await projection.save_tenant(s, projection.Tenant(tenant, "Klinik", "UTC", "da"), NOW)
        await storage.save_settings(s, storage.Settings(tenant, enabled=True), NOW - timedelta(days=1))
        await storage.save_template(s, template, NOW - timedelta(days=1))
        for _ in range(count):
            recall = storage.CustomerRecall(uuid.uuid4(), tenant, uuid.uuid4(), template.id, domain.start(template, TODAY),
                                            NOW - timedelta(days=1))
            await storage.insert_recall(s, recall, "staff:test", NOW - timedelta(days=1))
    return tenant


async def test_two_transactions_at_once_claim_different_recalls(database_url):
    engine = create_async_engine(database_url, poolclass=sa.pool.NullPool)
    db = Database(engine)
    try:
        tenant = await clinic_with_due_recalls(db, 40)
        async with db.transaction() as a, db.transaction() as b:
            first = await storage.claim_due(a, tenant, TODAY, 25, before=NOW)
            second = await storage.claim_due(b, tenant, TODAY, 25, before=NOW)
        assert len(first) == 25 and len(second) == 15
        assert not {r.id for r in first} & {r.id for r in second}
    finally:
        await engine.dispose()


async def test_what_a_transaction_decided_is_gone_if_it_does_not_commit(database_url):
    engine = create_async_engine(database_url, poolclass=sa.pool.NullPool)
    db = Database(engine)
    try:
        tenant = await clinic_with_due_recalls(db, 3)

        class Crash(Exception):
            pass

        try:
            async with db.transaction() as s:
                claimed = await storage.claim_due(s, tenant, TODAY, 10, before=NOW)
                runs = [storage.StepRun(r.id, 1, 0, TODAY, "acted", None) for r in claimed]
                assert len(await storage.record_step_runs(s, tenant, runs, NOW)) == 3
                raise Crash
        except Crash:
            pass
        async with db.transaction() as s:
            assert (await s.execute(sa.select(sa.func.count()).select_from(recall_step_runs)
                                    .where(recall_step_runs.c.tenant_id == tenant))).scalar_one() == 0
            again = await storage.claim_due(s, tenant, TODAY, 10, before=NOW)
            assert len(again) == 3
            # A step recorded before is not fresh a second time.
            runs = [storage.StepRun(r.id, 1, 0, TODAY, "acted", None) for r in again]
            assert len(await storage.record_step_runs(s, tenant, runs, NOW)) == 3
            assert await storage.record_step_runs(s, tenant, runs, NOW) == set()
    finally:
        await engine.dispose()
