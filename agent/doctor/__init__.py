"""`posagent doctor`: every check a field technician would do by hand, each with a verdict and a fix.

    report = run_doctor(config_path)           # never raises: a broken check is a FAIL finding
    for finding in report.findings: ...        # Finding(name, status OK|WARN|FAIL, message, fix)

`checks` holds the checks (one small module per area, pure judgements apart from the I/O that
gathers facts); `runner` runs them in order and turns a check that raised into a FAIL.
"""

from agent.doctor.context import Context
from agent.doctor.finding import Finding, Status
from agent.doctor.runner import CHECK_NAMES, Report, run_doctor

__all__ = ["CHECK_NAMES", "Context", "Finding", "Report", "Status", "run_doctor"]
