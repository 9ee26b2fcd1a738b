from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "ruam_submissions_accepted_total",
            "Submissions that became a new case, by channel and kind",
            ["channel", "kind"],
            registry=registry,
        )
        self.duplicates = Counter(
            "ruam_submissions_duplicate_total",
            "Submissions already seen (same channel + channel message id), by channel",
            ["channel"],
            registry=registry,
        )
        self.refused = Counter(
            "ruam_submissions_refused_total",
            "Submissions refused as malformed, by channel and reason",
            ["channel", "reason"],
            registry=registry,
        )
        self.additions = Counter(
            "ruam_submissions_added_to_case_total",
            "Follow-up messages added to an open conversation's case, by channel",
            ["channel"],
            registry=registry,
        )
        self.status_queries = Counter(
            "ruam_status_queries_total",
            "Messages that only asked after a case by its number (answered, no case opened),"
            " by channel",
            ["channel"],
            registry=registry,
        )
        self.withdrawn = Counter(
            "ruam_messages_withdrawn_total",
            "Messages of a case the citizen took back (LINE's unsend): their words erased"
            " from the vault and the public text, by channel",
            ["channel"],
            registry=registry,
        )
        self.signature_refusals = Counter(
            "ruam_webhook_signature_refused_total",
            "Webhook calls refused because their signature did not verify, by channel",
            ["channel"],
            registry=registry,
        )
        self.deferred = Counter(
            "ruam_webhook_deferred_total",
            "Webhook events that could not be taken at once and were put on intake.raw to be"
            " taken when the fault passes, by channel",
            ["channel"],
            registry=registry,
        )
        self.line_messages = Counter(
            "ruam_citizen_line_messages_total",
            "Messages sent to citizens on LINE, by how: `reply` (free, within a minute of their"
            " message) or `push` (counted against the Official Account's monthly quota)",
            ["by"],
            registry=registry,
        )
        self.line_media = Counter(
            "ruam_line_media_total",
            "Photos (`image`), voice messages (`audio`), videos and files (`document`) citizens"
            " sent on LINE, copied into the vault (`kept`) or left with LINE (`not_kept`: gone"
            " from LINE, too large, or not a format kept)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.case_updates = Counter(
            "ruam_intake_case_updates_total",
            "Routing events applied to intake's read model (or ignored as stale), by outcome",
            ["event", "outcome"],
            registry=registry,
        )
