"""Settings the soak's fixture and test share."""

from __future__ import annotations

# Seconds a hook waits for an answer (the connections' `timeout` extra): a `delay` fault longer than this
# is a timeout.
HTTP_TIMEOUT_S = 3
