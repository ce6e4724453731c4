"""`rollctl serve`: the decide verdict over HTTP, for the controllers that move traffic.

`decisions` keeps the plans, the sources and a cache of verdicts (no HTTP in it); `app` is the ASGI
application (Starlette) with the routes for `GET /v1/decide`, Argo Rollouts' web metric and Flagger's
webhooks. Starlette and uvicorn are the optional extra `rollctl[serve]`; nothing else imports this package.
"""
