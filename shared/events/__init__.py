"""Event contracts: frozen pydantic models, named as past-tense facts."""

from shared.events.envelope import Envelope, new_event_id

__all__ = ["Envelope", "new_event_id"]
