"""Activities for schedule upkeep."""

from __future__ import annotations

from temporalio import activity

from core.db import Database
from core.scheduling import expire_holds


class HousekeepingActivities:
    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="expire_holds")
    async def expire_holds(self) -> int:
        released = await expire_holds(self._db)
        activity.logger.info("holds expired", extra={"released": released})
        return released
