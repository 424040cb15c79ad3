"""The shipped templates (Jinja2 + MJML email layouts, web pages); a package so they install with the code."""
