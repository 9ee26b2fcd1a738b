"""The demo's last words about the officers' console: where it is and who to sign in as."""

from __future__ import annotations

from tools.accounts import DEMO_PASSWORD
from tools.demo.context import DemoContext

# (who, user name, what they find first): the demo directory's people, README's table.
SIGN_INS = (
    ("clerk (complaints desk)", "desk", "queue, intake on a citizen's behalf"),
    ("officer (engineering)", "eng-somchai", "the cases assigned to them"),
    ("head of division", "eng-head", "the department's queue and standing"),
    ("ปลัด / นายก", "palad / nayok", "escalations, corruption reports, overdue"),
    ("planner", "planner", "projects and participation"),
    ("operator", "operator", "dead letters and replay"),
    ("auditor", "auditor", "dead letters (no bodies)"),
)


def print_sign_ins(ctx: DemoContext, base: str) -> None:
    ctx.heading("Officers' console")
    ctx.line(f"  the officers' console: {base}/   (every demo password: {DEMO_PASSWORD})")
    ctx.table([(who, user, first) for who, user, first in SIGN_INS], ("role", "sign in as", "sees"))
