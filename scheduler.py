"""Starts the scheduler process: `python scheduler.py` (the same as `newsletter scheduler`)."""

from newsletter.config import load_settings
from newsletter.schedule.process import run_scheduler

if __name__ == "__main__":
    run_scheduler(load_settings())
