"""Users' satisfaction through the signed link of the closing message: no account,
GET only asks, POST answers once per recipient, forged or altered links are refused."""

import pytest
from django.core import signing
from django.test import Client

from atalaia.review.actions import (
    SATISFACTION_SALT,
    AlreadyAnswered,
    ReviewError,
    recipient_digest,
    record_user_feedback,
    satisfaction_token,
    satisfaction_url,
)
from atalaia.review.models import UserFeedback


def _path(crisis, recipient="ana@example.test"):
    url = satisfaction_url(crisis, recipient)
    assert url.startswith("http") and "/feedback/" in url
    return url[url.index("/feedback/"):]


def test_the_link_works_without_an_account_and_get_answers_nothing(crisis):
    path = _path(crisis)
    page = Client().get(path)
    assert page.status_code == 200
    assert 'id="satisfaction-form"' in page.content.decode()
    assert crisis.title in page.content.decode()
    assert not UserFeedback.objects.exists()
    answered = Client().post(path, {"rating": "4", "comment": "Clear updates"})
    assert answered.status_code == 200 and 'id="thanks"' in answered.content.decode()
    feedback = UserFeedback.objects.get()
    assert (feedback.incident, feedback.rating, feedback.comment) == (crisis, 4, "Clear updates")
    assert feedback.recipient == recipient_digest("ana@example.test")
    assert "ana@example.test" not in feedback.recipient


def test_one_answer_per_recipient(crisis):
    path = _path(crisis)
    assert Client().post(path, {"rating": "2"}).status_code == 200
    again = Client().post(path, {"rating": "5"})
    assert again.status_code == 409 and 'id="already"' in again.content.decode()
    assert 'id="already"' in Client().get(path).content.decode()
    assert UserFeedback.objects.get().rating == 2
    # The same address written differently is the same recipient.
    with pytest.raises(AlreadyAnswered):
        record_user_feedback(satisfaction_token(crisis, " Ana@Example.test "), 5)
    Client().post(_path(crisis, "bob@example.test"), {"rating": "5"})
    assert UserFeedback.objects.count() == 2


def test_a_forged_or_altered_link_is_refused(crisis):
    token = satisfaction_token(crisis, "ana@example.test")
    forged = signing.dumps({"i": crisis.pk, "r": recipient_digest("eve@example.test")},
                           salt="someone else's salt", compress=True)
    altered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    other_salt = signing.dumps({"i": crisis.pk}, salt=SATISFACTION_SALT + "x")
    for bad in (forged, altered, other_salt, "not-a-token"):
        response = Client().post(f"/feedback/{bad}/", {"rating": "1"})
        assert response.status_code == 400 and 'id="problem"' in response.content.decode()
        with pytest.raises(ReviewError):
            record_user_feedback(bad, 1)
    assert not UserFeedback.objects.exists()


def test_the_rating_is_checked(crisis):
    path = _path(crisis)
    assert Client().post(path, {"rating": "9"}).status_code == 400
    with pytest.raises(ReviewError):
        record_user_feedback(satisfaction_token(crisis, "x@example.test"), 0)
    assert not UserFeedback.objects.exists()


def test_a_confidential_incident_keeps_its_title(crisis):
    type(crisis).objects.filter(pk=crisis.pk).update(confidential=True)
    assert crisis.title not in Client().get(_path(crisis)).content.decode()


def test_a_link_opened_too_often_waits_then_answers(crisis, clock):
    path, visitor = _path(crisis), Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(10):  # a mail scanner, a reader, a reload or two…
        assert visitor.get(path).status_code == 200
    refused = visitor.post(path, {"rating": "5"})
    assert refused.status_code == 429 and refused["Retry-After"] == "6"
    assert 'id="problem"' in refused.content.decode() and not UserFeedback.objects.exists()
    clock.shift(6)
    assert visitor.post(path, {"rating": "5"}).status_code == 200
    assert UserFeedback.objects.get().rating == 5
