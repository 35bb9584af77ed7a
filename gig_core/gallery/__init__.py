"""`gig gallery`: the merchandisers' web page over the model registry.

registry_view.py reads versions, their metrics and reports; plots.py draws the history;
app.py is the Starlette app (pages, zip download, approval); templates/ are its Jinja2 pages.
"""
