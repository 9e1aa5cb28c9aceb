"""The platform in the browser: server-rendered pages (Jinja2) with a little plain JavaScript, and
every asset served by us (the pages work offline)."""
