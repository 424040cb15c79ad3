"""Near the end of a send the claims shrink to a share of what is left, so processes finish together."""

from __future__ import annotations

from newsletter.delivery.dispatch import Worker
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.services import Services
from tests.factories import add_subscribers


def test_claims_shrink_to_a_share_of_what_is_left_so_processes_finish_together(
    services: Services, issue_id: int
) -> None:
    add_subscribers(services.sessions, 300)
    services.publisher.queue(issue_id)
    settings = services.settings.model_copy(update={"batch_size": 60, "record_every": 10, "worker_processes": 2})
    backend = MemoryBackend(settings)
    worker = Worker(services.store, backend, settings, services.links)
    sizes = []
    while handled := worker.run_once():
        sizes.append(handled)
    # A process's share of what is queued at each claim (two processes: half), at most the batch
    # size and not less than record_every (10) while that many are left.
    assert sizes == [60, 60, 60, 60, 30, 15, 10, 5]
    assert len(backend.sent) == 300 == len({m.recipient for m in backend.sent})
    assert services.store.counts(issue_id)["sent"] == 300
