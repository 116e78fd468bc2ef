"""`posagent support-bundle`: everything support needs from a till in one archive, secrets removed.

    result = build_bundle(config_path, output=None, doctor=True, since_hours=72)
    print(result.path, result.summary)     # BundleError only when nothing could be written

`site` reads the config (valid or not), `facts`, `logfiles` and `outbox_summary` gather the parts,
`redact` takes secrets out, `bundle` puts it together.
"""

from agent.support.bundle import DEFAULT_SINCE_HOURS, BundleError, BundleResult, build_bundle
from agent.support.redact import Redactor, redact_config

__all__ = ["DEFAULT_SINCE_HOURS", "BundleError", "BundleResult", "Redactor", "build_bundle", "redact_config"]
