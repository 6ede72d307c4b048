"""Staff edits in the sandbox, as people make them in Wisenet, for webhook tests."""

from __future__ import annotations

import random

from connector.sandbox.app import SandboxServer
from tests.support.sandbox import TODAY, control


def staff_edits(server: SandboxServer, rng: random.Random, count: int) -> list[str]:
    """Make `count` random edits through the control API; return what each was (ids only)."""
    db = server.sandbox.db
    enrolments = sorted(db.course_enrolments.ids())
    learners = sorted(db.learners.ids())
    units = sorted(db.unit_enrolments.ids())
    done: list[str] = []
    for _ in range(count):
        roll = rng.random()
        ce = rng.choice(enrolments)
        if roll < 0.25:
            days = rng.choice((5, 40, 400))
            control(
                server,
                "POST",
                f"/course-enrolments/{ce}/status",
                json={"status": "Completed", "actual_end_date": _days_ago(days)},
            )
            done.append(f"completed CE {ce} {days} days ago")
        elif roll < 0.40:
            control(server, "POST", f"/course-enrolments/{ce}/credentials", json={})
            done.append(f"credential for CE {ce}")
        elif roll < 0.55:
            learner = rng.choice(learners)
            control(
                server,
                "POST",
                f"/records/Learner/{learner}",
                json={"Personal/UniqueStudentIdentifier": None, "Personal/UsiStatus": None},
            )
            done.append(f"USI removed from learner {learner}")
        elif roll < 0.70:
            unit = rng.choice(units)
            control(server, "POST", f"/unit-enrolments/{unit}/outcome", json={"code": "20"})
            done.append(f"outcome on unit enrolment {unit}")
        elif roll < 0.80:
            status = rng.choice(("Withdrawn", "Current", "Enquiry"))
            control(server, "POST", f"/course-enrolments/{ce}/status", json={"status": status})
            done.append(f"CE {ce} to {status}")
        elif roll < 0.88:
            learner = rng.choice(learners)
            made = control(server, "POST", "/course-enrolments", json={"learner_id": learner})
            enrolments.append(int(made["Data"]["CourseEnrolmentId"]))
            done.append(f"new CE for learner {learner}")
        elif roll < 0.94:
            control(
                server, "POST", "/webhooks/trigger", json={"entity": "CourseEnrolment", "id": ce}
            )
            done.append(f"automation triggered on CE {ce}")
        else:
            control(server, "DELETE", f"/records/CourseEnrolment/{ce}")
            enrolments.remove(ce)
            done.append(f"CE {ce} deleted")
    return done


def _days_ago(days: int) -> str:
    return TODAY.fromordinal(TODAY.toordinal() - days).isoformat()
