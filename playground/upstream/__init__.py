"""The only code that talks HTTP to image gateways.

Pure functions build request bodies for each endpoint and dialect, one client sends them with
httpx, every response shape is normalised to `UpstreamResult`, and every failure becomes an
`UpstreamError` with a kind. Nothing here knows about Django models or forms.
"""
