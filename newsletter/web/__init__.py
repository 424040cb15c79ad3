"""The web app: public pages for readers and the editor's admin, built by ``create_app``."""

from newsletter.web.app import create_app

__all__ = ["create_app"]
