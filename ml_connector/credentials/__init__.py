"""Encrypted, self-refreshing credentials for the Workday and Pipedrive hooks.

- :mod:`keys`: the Fernet keys (environment or an Airflow secrets backend), MultiFernet for rotation.
- :mod:`vault`: token state encrypted on disk, written atomically, with a cross-process lock per connection.
- :mod:`oauth`: a refresh-token OAuth2 source that plugs into ``HttpClient`` as its ``RequestAuth``.
- :mod:`alerts`: what happens when the identity provider rejects a credential.
"""

from ml_connector.credentials.alerts import log_credential_alert
from ml_connector.credentials.keys import KeyConfigError, load_fernet
from ml_connector.credentials.oauth import AccessToken, OAuthTokenSource, TokenRejected
from ml_connector.credentials.vault import TokenVault, VaultError, default_state_dir

__all__ = [
    "AccessToken",
    "KeyConfigError",
    "OAuthTokenSource",
    "TokenRejected",
    "TokenVault",
    "VaultError",
    "default_state_dir",
    "load_fernet",
    "log_credential_alert",
]
