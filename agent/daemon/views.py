"""The objects the ECR sees (SALE, JOB), shaped once for answers and events alike."""

from __future__ import annotations

from typing import Any

from agent.sales.machine import Sale
from drivers.printer import PrintJob


def sale_view(sale: Sale) -> dict[str, Any]:
    return {
        "sale_id": sale.sale_id, "state": sale.state.value, "final": sale.final, "amount": sale.amount,
        "subject": sale.subject, "attempt": sale.attempt, "out_trade_no": sale.out_trade_no,
        "trade_no": sale.trade_no, "reason": sale.reason, "sub_code": sale.sub_code, "refunded": sale.refunded,
        "member_card_no": sale.member_card_no, "member_card_source": sale.member_card_source,
    }  # fmt: skip


def print_job_view(job: PrintJob) -> dict[str, Any]:
    return {"job_id": job.id, "kind": job.kind, "state": job.state.value, "reason": job.reason,
            "error_code": job.error_code, "bytes_sent": job.bytes_sent, "any_sent": job.any_sent}  # fmt: skip
