"""The web request deadline: the watchdog's checks, driven with explicit times."""

import threading

from atalaia.lib.deadline import DeadlineMiddleware, Deadlines, RequestDeadline


def serve(app, path: str = "/api/v1/plans/validate") -> tuple[threading.Thread, list]:
    """Run one request through `app` in its own thread, as a gthread worker does."""
    answers: list = []

    def start_response(status, headers, exc_info=None):
        answers.append(status)

    def request():
        answers.append(b"".join(app({"PATH_INFO": path}, start_response)))

    thread = threading.Thread(target=request)
    thread.start()
    return thread, answers


def test_a_request_past_its_deadline_is_interrupted_and_answered_503():
    deadlines, entered = Deadlines(60, grace=10), threading.Event()

    def endless(environ, start_response):  # Python work that never ends by itself
        entered.set()
        while True:
            sum(range(1000))

    thread, answers = serve(DeadlineMiddleware(endless, deadlines))
    assert entered.wait(10)
    started = deadlines.running[thread.ident].started
    assert deadlines.check(started + 59) == [] and thread.is_alive()
    assert deadlines.check(started + 61) == []  # interrupted, within its grace
    thread.join(10)
    assert answers == ["503 Service Unavailable",
                       b"the request took longer than 60 s and was stopped\n"]
    assert deadlines.running == {}


def test_a_request_that_survives_the_interruption_is_reported_after_the_grace():
    deadlines, entered, release = Deadlines(60, grace=10), threading.Event(), threading.Event()

    def stubborn(environ, start_response):
        entered.set()
        while not release.is_set():
            try:
                release.wait(0.01)
            except RequestDeadline:
                pass  # what a broad `except` deep in some library would do
        start_response("200 OK", [])
        return [b"done"]

    thread, answers = serve(DeadlineMiddleware(stubborn, deadlines), "/stuck")
    assert entered.wait(10)
    started = deadlines.running[thread.ident].started
    assert deadlines.check(started + 61) == []
    assert deadlines.check(started + 70) == []
    assert deadlines.check(started + 72) == ["/stuck"]  # the watchdog ends the worker
    release.set()
    thread.join(10)
    assert answers == ["200 OK", b"done"] and deadlines.running == {}


def test_a_stream_is_not_timed_once_its_response_has_begun():
    deadlines, streaming = Deadlines(60), threading.Event()
    release = threading.Event()

    def live(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream")])

        def events():
            yield b"data: first\n\n"
            streaming.set()
            release.wait(10)
            yield b"data: later\n\n"
        return events()

    thread, answers = serve(DeadlineMiddleware(live, deadlines), "/incidents/1/live/")
    assert streaming.wait(10)
    assert deadlines.running == {}  # the application call is over; the stream goes on
    assert deadlines.check(float("inf")) == []
    release.set()
    thread.join(10)
    assert answers == ["200 OK", b"data: first\n\ndata: later\n\n"]
