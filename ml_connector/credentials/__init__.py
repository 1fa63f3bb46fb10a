"""Encrypted, self-refreshing credentials for the Workday and Pipedrive hooks.

Nothing is imported here: a hook imports only what it uses, so importing one (at DAG parse time) loads
neither the OAuth code nor the vault.

- :mod:`keys`: the Fernet keys (environment or an Airflow secrets backend), MultiFernet for rotation.
- :mod:`vault`: token state encrypted on disk, written atomically, with a cross-process lock per connection.
- :mod:`oauth`: a refresh-token OAuth2 source that plugs into ``HttpClient`` as its ``RequestAuth``.
- :mod:`alerts`: what happens when the identity provider rejects a credential.
"""
