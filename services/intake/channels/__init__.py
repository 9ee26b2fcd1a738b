"""Adapters of the protocols citizens and staff reach intake by: each turns its channel's
own format into canonical `Submission`s (or LINE follow-ups), the same for HTTP and
`intake.raw`. Pure: parsing and protocol rules, no I/O."""
