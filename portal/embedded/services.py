"""Lock the data directory, start the embedded services it needs, and stop them in order."""

from __future__ import annotations

from pathlib import Path

from portal.embedded.errors import EmbeddedError
from portal.embedded.lock import DataDirLock, Runtime
from portal.embedded.postgres import EmbeddedPostgres
from portal.embedded.redis import EmbeddedRedis


class EmbeddedServices:
    """Lock the data directory, then start PostgreSQL and Redis as needed by the config."""

    def __init__(self, data_dir: Path, *, need_postgres: bool, need_redis: bool):
        self.data_dir = data_dir
        self.lock = DataDirLock(data_dir)
        self.postgres = EmbeddedPostgres(data_dir) if need_postgres else None
        self.redis = EmbeddedRedis(data_dir) if need_redis else None

    def start(self, purpose: str) -> Runtime:
        self.lock.acquire(purpose)
        try:
            database_url = self.postgres.start() if self.postgres else ""
            redis_url = self.redis.start() if self.redis else ""
        except OSError as e:
            self.stop()
            raise EmbeddedError(
                f"The embedded databases could not start in {self.data_dir} ({e}): set "
                "PORTAL_DATA_DIR to a directory this user may write, or set PORTAL_DATABASE_URL "
                "and PORTAL_REDIS_URL."
            ) from None
        except BaseException:
            self.stop()
            raise
        runtime = Runtime(database_url=database_url, redis_url=redis_url)
        runtime.write(self.data_dir)
        return runtime

    def stop(self) -> None:
        for service in (self.redis, self.postgres):
            if service:
                service.stop()
        Runtime.path(self.data_dir).unlink(missing_ok=True)
        self.lock.release()
