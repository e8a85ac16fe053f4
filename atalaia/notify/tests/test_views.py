"""The deliveries page: what went out, what failed and why; sending a failed one again."""

from atalaia.notify.models import Channel, Delivery, DeliveryStatus
from atalaia.notify.outbox import enqueue


def dead(key: str, error: str) -> Delivery:
    delivery = enqueue(Channel.APPRISE, "json://127.0.0.1:9/x", "<ops> channel", "Down",
                       "b", idempotency_key=key)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD, attempts=8,
                                                   last_error=error)
    return delivery


def test_failures_are_listed_with_their_error_and_filtered(clients):
    dead("a", "connection refused <by host>")
    enqueue(Channel.EMAIL, "ana@example.test", "Ana", "Page", "b", idempotency_key="b")
    page = clients["communicator"].get("/deliveries/").content.decode()
    assert "connection refused &lt;by host&gt;" in page and "&lt;ops&gt; channel" in page
    assert "json://" not in page  # a target can hold a secret: never shown
    only_dead = clients["communicator"].get("/deliveries/?status=dead").content.decode()
    assert "&lt;ops&gt; channel" in only_dead and "Ana" not in only_dead
    assert "Send again" not in only_dead  # communicators see, commanders decide


def test_a_dead_delivery_can_be_sent_again(clients):
    delivery = dead("a", "refused")
    response = clients["commander"].post(f"/deliveries/{delivery.pk}/retry/")
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.QUEUED, 0)
