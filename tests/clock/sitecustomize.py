"""Runs this Python process, and every Python process it starts, with the clock moved
ahead by ATALAIA_TEST_CLOCK_OFFSET_DAYS (`make test-future` puts this folder on
PYTHONPATH and sets 365), so a test that depends on today's date fails today.

Why not libfaketime: with Python 3.11 it either makes `threading.Event.wait(timeout)`
wait for the offset (monotonic clock faked; `sem_clockwait` is not intercepted) or makes
`time.sleep` fail with EINVAL (FAKETIME_DONT_FAKE_MONOTONIC=1), and it cannot move Go
programs (Alertmanager) at all. time-machine moves the wall clock of Python (`time.time`,
`datetime.now`, …) and leaves the monotonic clock alone, as a machine whose date is
wrong would. The clock ticks; tests that travel (time-machine) still go where they ask.
Processes started by the tests inherit the variable and PYTHONPATH and move the same
distance from the real clock, so they agree with the test's own clock.
"""

import os

if days := os.environ.get("ATALAIA_TEST_CLOCK_OFFSET_DAYS"):
    import datetime
    import time

    import time_machine

    time_machine.travel(
        datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=float(days)),
        tick=True).start()
    # A ticking clock starts from the first reading, not from start(): read it now, so
    # that every process stays the same distance from the real clock.
    time.time()
