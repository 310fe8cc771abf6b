"""Authentication and authorisation: who is calling (a `Principal` from a verified bearer token)
and what they may touch (small policy functions raising `Forbidden`).

`principal` and `policy` are pure; `tokens` verifies JWTs against a JWKS behind a small port;
`dev_issuer` mints local tokens; `context` hands the current request's principal to views.
"""
