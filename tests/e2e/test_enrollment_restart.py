"""member.enroll prints one slip per job_id, ever: a resend after the agent was killed (or stopped)
answers the slip's recorded state and prints nothing; a slip that never started is printed once; a
slip cut short by the crash is never printed again by itself."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.ecr.client import EcrClient, EcrError
from tests.support.daemon import MemberStore


def slips_for(store: MemberStore, job_id: str) -> int:
    """How many slips the printer got whose QR names this enrollment (its out_string is in the URL)."""
    return sum(1 for job in store.printer.jobs() if any(job_id in qr for qr in job.qr))


def enroll_and_print(ecr: EcrClient, job_id: str) -> dict[str, object]:
    answer = ecr.request("member.enroll", {"job_id": job_id})
    ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == f"enroll-{job_id}" and b["job"]["state"] == "printed",
                 timeout=20)  # fmt: skip
    return answer


def prints_next_and_nothing_else(store: MemberStore, ecr: EcrClient, before: int) -> None:
    """A new enrollment prints; the queue is FIFO, so a second slip of an old one would come before it."""
    enroll_and_print(ecr, "ENROLLNEXT")
    jobs = store.printer.wait_for_jobs(before + 1, timeout=10)
    assert len(jobs) == before + 1 and slips_for(store, "ENROLLNEXT") == 1


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_resend_after_a_restart_prints_no_second_slip(member_store: MemberStore, how: str) -> None:
    daemon = member_store.daemon
    with daemon.ecr() as ecr:
        first = enroll_and_print(ecr, "ENROLLFIRST")
    assert slips_for(member_store, "ENROLLFIRST") == 1
    daemon.kill() if how == "kill" else daemon.stop()
    daemon.start()
    with daemon.ecr() as ecr:
        again = ecr.request("member.enroll", {"job_id": "ENROLLFIRST"})
        assert again["enrollment"] == first["enrollment"]
        assert again["job"] == {"job_id": "enroll-ENROLLFIRST", "kind": "activation", "state": "printed",
                                "reason": None, "error_code": None, "bytes_sent": again["job"]["bytes_sent"],
                                "any_sent": True}  # fmt: skip
        with pytest.raises(EcrError) as conflict:
            ecr.request("member.enroll", {"job_id": "ENROLLFIRST", "external_card_no": "CARD-1"})
        assert conflict.value.code == "IDEMPOTENCY_CONFLICT"
        prints_next_and_nothing_else(member_store, ecr, before=1)
    assert slips_for(member_store, "ENROLLFIRST") == 1


def test_a_slip_still_queued_at_the_crash_prints_once_after_it(member_store: MemberStore) -> None:
    daemon, printer = member_store.daemon, member_store.printer
    printer.set_state(slow_bps=300)
    with daemon.ecr() as ecr:
        ecr.request("print.text", {"job_id": "LONG", "lines": ["a slow receipt line"] * 60})
        ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == "LONG" and b["job"]["state"] == "printing")
        queued = ecr.request("member.enroll", {"job_id": "ENROLLQUEUED"})
        assert queued["job"]["state"] == "queued"  # behind the long receipt
    daemon.kill()  # while the receipt prints: the slip never started
    printer.set_state(slow_bps=0)
    daemon.start()
    before = len(printer.jobs())  # the receipt's torn part, if the printer kept it
    with daemon.ecr() as ecr:
        resent = ecr.request("member.enroll", {"job_id": "ENROLLQUEUED"})
        assert resent["enrollment"] == queued["enrollment"]
        ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == "enroll-ENROLLQUEUED" and b["job"]["state"] == "printed",
                     timeout=20)  # fmt: skip
        printer.wait_for_jobs(before + 1, timeout=10)
        assert slips_for(member_store, "ENROLLQUEUED") == 1
        assert ecr.request("member.enroll", {"job_id": "ENROLLQUEUED"})["job"]["state"] == "printed"
        prints_next_and_nothing_else(member_store, ecr, before=before + 1)
    assert slips_for(member_store, "ENROLLQUEUED") == 1


def test_a_slip_cut_short_by_the_crash_is_never_printed_again_by_itself(member_store: MemberStore) -> None:
    daemon, printer = member_store.daemon, member_store.printer
    printer.set_state(slow_bps=100)
    with daemon.ecr() as ecr:
        ecr.request("member.enroll", {"job_id": "ENROLLTORN"})
        ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == "enroll-ENROLLTORN" and b["job"]["state"] == "printing",
                     timeout=20)  # fmt: skip
    daemon.kill()
    printer.set_state(slow_bps=0)
    daemon.start()
    before = len(printer.jobs())
    with daemon.ecr() as ecr:
        resent = ecr.request("member.enroll", {"job_id": "ENROLLTORN"})["job"]
        assert (resent["state"], resent["any_sent"]) == ("failed", True)
        assert "check whether it came out" in resent["reason"]
        prints_next_and_nothing_else(member_store, ecr, before=before)
    assert slips_for(member_store, "ENROLLTORN") <= 1  # at most the torn one


def test_two_copies_sent_at_once_make_one_enrollment_and_one_slip(member_store: MemberStore) -> None:
    """The ECR resends before the first answer came (e.g. a reconnect): both get the one enrollment."""
    daemon = member_store.daemon
    with daemon.ecr() as first, daemon.ecr() as second, ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda ecr: ecr.request("member.enroll", {"job_id": "ENROLLTWICE"}), (first, second)))
        assert answers[0]["enrollment"] == answers[1]["enrollment"]
        first.wait_for("print.updated", lambda b: b["job"]["job_id"] == "enroll-ENROLLTWICE" and b["job"]["state"] == "printed",
                       timeout=20)  # fmt: skip
        prints_next_and_nothing_else(member_store, first, before=1)
    assert slips_for(member_store, "ENROLLTWICE") == 1
