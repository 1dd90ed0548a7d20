"""OpenID Connect provider core: OpenID Connect Core 1.0 on OAuth 2.0 (RFC 6749), I/O-free.

Decision: Quivive carries its own protocol core and uses joserfc for JOSE (JWS, JWK, JWT), instead
of Authlib's server core behind an adapter. Why, measured against DESIGN.md's list of Authlib
pitfalls: an adapter would have had to override or work around six behaviours (InsecureTransport
raised outside its error handling, ID tokens without ``iss``/``kid``, a Flask/Django-bound
UserInfo endpoint, refresh tokens issued without ``offline_access``, codes not consumed
atomically, query-versus-body precedence) plus its untyped mixin hooks, which mypy strict cannot
check. What is left of the core after those overrides is request validation, a few hundred typed
lines here with each MUST quoted beside its check. Authlib is still used, as a relying party, by
the tests: a standard client must work against this provider with discovery alone.

One module per specification: ``authorization`` (RFC 6749 §4.1 + OIDC Core §3.1.2),
``pkce`` (RFC 7636), ``client_auth`` (RFC 6749 §2.3, RFC 7523), ``tokens`` (OIDC Core §2 ID
token, RFC 9068 access token), ``jose_keys`` (RFC 7517/7518), ``discovery`` (OIDC Discovery
1.0), ``logout`` (RP-Initiated and Back-Channel Logout 1.0), ``claims`` (OIDC Core §5.4 plus
the ``healthcare`` scope), ``acr`` (the acr ↔ assurance level table), ``params`` (RFC 6749 §3.1
parameter rules) and ``errors`` (RFC 6749 §4.1.2.1, §5.2; OIDC Core §3.1.2.6).
"""
