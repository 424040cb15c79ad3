"""Moves a test subprocess's clock with the test session's (see tests/clock.py).

On PYTHONPATH only when NEWSLETTER_TEST_CLOCK is set; the shift (seconds) is in
NL_TEST_CLOCK_SHIFT. A Python without time_machine (a fresh venv) runs on the real clock.
"""

import os

_shift = os.environ.get("NL_TEST_CLOCK_SHIFT")
if _shift:
    try:
        import time
        from datetime import datetime, timezone

        import time_machine
    except ImportError:
        pass
    else:
        time_machine.travel(datetime.fromtimestamp(time.time() + float(_shift), timezone.utc), tick=True).start()
        os.environ["NL_TEST_CLOCK_PID"] = str(os.getpid())
