"""Use cases of the survey service: ask, record answers, aggregate, alert, report.

Aggregation, argued (docs/survey-aggregates.md): responses are stored once (unique id
per token or paper form) and never change. A response's figures are *added* to each of
its six slice buckets and to its department's day, one document each, read and written
by id through a compare-and-set, so what one response costs does not grow with what is
stored. Counts are integers, so adding stays exact. Each bucket remembers the responses
it took last and the response is marked `counted` once every bucket has it: a redelivered
or replayed `survey.responded` adds nothing twice. The trailing window of an alert is the
sum of a few department months read by id. `rebuild` is the exact full recount from the
stored responses. A response belongs to the period in which it was given (`responded_at`,
Bangkok time), so a late or keyed-in answer lands in its own month and fiscal year
whatever the arrival order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.survey.domain import rules
from services.survey.domain.errors import (
    AlreadyAnswered,
    CampaignClosed,
    CampaignNotFound,
    InvalidAnswers,
    SurveyNotFound,
    UnknownQuestionnaire,
    UnreadableCsv,
)
from services.survey.domain.model import (
    Alert,
    AlertDecision,
    Answer,
    Bucket,
    Campaign,
    DepartmentMonth,
    Figures,
    KeptBucket,
    MonthKey,
    Questionnaire,
    Response,
    ResponseSubmission,
    Slice,
    Survey,
    SurveyConfig,
)
from services.survey.metrics import SurveyMetrics
from services.survey.ports import (
    AggregateStore,
    AlertRepository,
    ResponseRepository,
    SurveyRepository,
    TokenSource,
)
from services.survey.views import bucket_view
from shared.clock import Clock, to_millis
from shared.events.cases import (
    CaseAssigned,
    CaseClosed,
    CaseCommandIssued,
    CaseCommandPayload,
    CaseReceived,
    CaseResolved,
    CaseStatusChanged,
    Channel,
    Kind,
)
from shared.events.envelope import new_event_id
from shared.events.intake import RawPayloadReceived, RawPayloadReceivedPayload
from shared.events.survey import (
    AnswerValue,
    PublicSatisfactionCounted,
    PublicSatisfactionPayload,
    SatisfactionAlertPayload,
    SatisfactionAlertRaised,
    SurveyRequested,
    SurveyRequestedPayload,
    SurveyResponded,
    SurveyRespondedPayload,
)
from shared.outbox import Emission
from shared.thai import BANGKOK, normalize_text

# The status routing gives a case once the improvement action is assigned; later
# timeline entries (seq >= 2) supersede it.
ASSIGNED_SEQ = 1


def new_token() -> str:
    """Unguessable and URL-safe: the token is the only key to answer a survey."""
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class CsvResult:
    accepted: list[str]
    already_recorded: list[str]
    rejected: list[dict[str, Any]]


class SurveyHandlers:
    def __init__(
        self,
        surveys: SurveyRepository,
        responses: ResponseRepository,
        aggregates: AggregateStore,
        alerts: AlertRepository,
        clock: Clock,
        metrics: SurveyMetrics,
        config: SurveyConfig,
        *,
        org_id: str,
        token_ttl: timedelta,
        public_base_url: str,
        tokens: TokenSource = new_token,
        max_csv_rows: int = 5_000,
    ) -> None:
        self.surveys = surveys
        self.responses = responses
        self.aggregates = aggregates
        self.alerts = alerts
        self.clock = clock
        self.metrics = metrics
        self.config = config
        self.org_id = org_id
        self.token_ttl = token_ttl
        self.public_base_url = public_base_url
        self.tokens = tokens
        self.max_csv_rows = max_csv_rows

    def questionnaire(self, version: str) -> Questionnaire:
        try:
            return self.config.questionnaires[version]
        except KeyError:
            raise UnknownQuestionnaire(f"no questionnaire version {version!r}") from None

    def campaign(self, campaign_id: str) -> Campaign:
        try:
            return self.config.campaigns[campaign_id]
        except KeyError:
            raise CampaignNotFound(f"no campaign {campaign_id!r}") from None

    # ------------------------------------------------------------------- asking

    async def on_case_resolved(self, event: CaseResolved) -> Survey | None:
        p = event.payload
        if p.kind is Kind.IMPROVEMENT_ACTION:
            # Our own improvement actions are tracked, not surveyed.
            await self.alerts.track(p.case_id, "resolved", p.seq, p.resolved_at)
            return None
        # One survey per resolution: a case reopened and resolved again is asked again.
        survey_id = f"svy-{p.case_id}-{p.seq}"
        existing = await self.surveys.get(survey_id)
        if existing is not None:
            await self.surveys.flush(survey_id)  # a crash may have left it unpublished
            return existing
        now = to_millis(self.clock.now())
        token = self.tokens()
        questionnaire = self.config.case_questionnaire
        survey = Survey(
            survey_id=survey_id,
            token=token,
            org_id=event.org_id,
            case_id=p.case_id,
            case_seq=p.seq,
            kind=p.kind.value,
            channel=p.channel.value,
            department=p.department,
            category=p.category,
            officer_id=p.officer_id,
            contact_ref=p.contact_ref,
            resolved_at=to_millis(p.resolved_at),
            requested_at=now,
            expires_at=now + self.token_ttl,
            questionnaire_version=questionnaire.version,
            link=self.public_base_url + token,
        )
        requested = SurveyRequested(
            event_id=new_event_id(survey_id, "requested"),
            org_id=event.org_id,
            correlation_id=event.correlation_id or p.case_id,
            payload=SurveyRequestedPayload(
                survey_id=survey_id,
                case_id=p.case_id,
                channel=p.channel.value,
                recipient_ref=p.contact_ref,
                token=token,
                link=survey.link,
                expires_at=survey.expires_at,
                department=p.department,
                questionnaire_version=questionnaire.version,
            ),
        )
        if not await self.surveys.add(survey, [Emission.of(requested)]):
            stored = await self.surveys.get(survey_id)  # a concurrent delivery won
            await self.surveys.flush(survey_id)
            return stored
        self.metrics.requested.labels(survey.channel).inc()
        await self.surveys.flush(survey_id)
        return survey

    async def open_survey(self, token: str) -> tuple[Survey, Questionnaire, bool]:
        """The survey behind a token, if it can still be answered; and whether it was."""
        survey = await self.surveys.by_token(token)
        if survey is None:
            raise SurveyNotFound("no survey with this token")
        answered = bool(await self.responses.answered([response_id_for(survey)]))
        if not answered:
            rules.check_open(survey, self.clock.now())
        return survey, self.questionnaire(survey.questionnaire_version), answered

    async def surveys_of_case(self, case_id: str) -> list[tuple[Survey, bool]]:
        found = await self.surveys.of_case(case_id)
        done = await self.responses.answered([response_id_for(s) for s in found])
        return [(s, response_id_for(s) in done) for s in found]

    # ------------------------------------------------------------------- answering

    async def respond(self, token: str, submission: ResponseSubmission) -> Response:
        survey = await self.surveys.by_token(token)
        if survey is None:
            raise SurveyNotFound("no survey with this token")
        response_id = response_id_for(survey)
        if await self.responses.answered([response_id]):
            raise AlreadyAnswered(f"survey {survey.survey_id} was answered already")
        now = self.clock.now()
        at = rules.responded_at(submission.responded_at, now, earliest=survey.resolved_at)
        rules.check_open(survey, at)
        questionnaire = self.questionnaire(survey.questionnaire_version)
        response = Response(
            response_id=response_id,
            org_id=survey.org_id,
            source="case",
            questionnaire_version=questionnaire.version,
            channel=survey.channel,
            responded_at=at,
            recorded_at=to_millis(now),
            answers=rules.parse_answers(questionnaire, submission.answers),
            survey_id=survey.survey_id,
            case_id=survey.case_id,
            department=survey.department,
            category=survey.category,
            entered_by=submission.entered_by,
        )
        emissions = [self._responded(response)]
        if (reason := rules.reopen_reason(questionnaire, response)) is not None:
            emissions.append(self._reopen(response, survey, reason))
        return await self._record(response, emissions)

    async def respond_campaign(self, campaign_id: str, submission: ResponseSubmission) -> Response:
        campaign = self.campaign(campaign_id)
        questionnaire = self.questionnaire(campaign.questionnaire)
        channel: Literal["paper", "web"]
        if submission.form_no is not None:
            form_no = normalize_text(submission.form_no)
            response_id, channel = f"rsp-{campaign.id}-form-{form_no}", "paper"
        else:
            form_no = None
            ref = submission.submission_id or uuid.uuid4().hex
            response_id, channel = f"rsp-{campaign.id}-web-{ref}", "web"
        if await self.responses.answered([response_id]):
            raise AlreadyAnswered(f"{response_id} was recorded already")
        now = self.clock.now()
        opens = datetime.combine(campaign.opens, datetime.min.time(), BANGKOK)
        at = rules.responded_at(submission.responded_at, now, earliest=opens)
        if not campaign.is_open_on(at):
            raise CampaignClosed(
                f"campaign {campaign.id} runs {campaign.opens} - {campaign.closes}"
            )
        response = Response(
            response_id=response_id,
            org_id=self.org_id,
            source="campaign",
            questionnaire_version=questionnaire.version,
            channel=channel,
            responded_at=at,
            recorded_at=to_millis(now),
            answers=rules.parse_answers(questionnaire, submission.answers),
            campaign_id=campaign.id,
            form_no=form_no,
            entered_by=submission.entered_by,
        )
        return await self._record(response, [self._responded(response)])

    async def upload_campaign_csv(self, campaign_id: str, text: str) -> CsvResult:
        """Paper forms keyed in as CSV: one row per form, `form_no` makes each idempotent.

        Rows are independent: a bad row is reported with its problem, the rest count.
        """
        self.campaign(campaign_id)
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        # Read whole before any row is recorded: a file the csv module gives up on halfway
        # (a cell over its field limit, say) is refused with nothing of it kept.
        try:
            header = [h.strip() for h in reader.fieldnames or []]
            rows = list(itertools.islice(reader, self.max_csv_rows + 1))
        except csv.Error as exc:
            raise UnreadableCsv(f"not readable as CSV: {exc}") from exc
        if "form_no" not in header:
            raise InvalidAnswers(
                [{"field": "form_no", "message": "the CSV needs a form_no column", "type": "csv"}]
            )
        accepted: list[str] = []
        already: list[str] = []
        rejected: list[dict[str, Any]] = []
        for line, row in enumerate(rows, start=2):
            if line - 1 > self.max_csv_rows:
                rejected.append(
                    {
                        "row": line,
                        "field": "body",
                        "message": f"over {self.max_csv_rows} rows; not read",
                    }
                )
                break
            row = {(k or "").strip(): v for k, v in row.items()}
            form_no = normalize_text(row.get("form_no") or "")
            if not form_no:
                rejected.append({"row": line, "field": "form_no", "message": "required"})
                continue
            try:
                when = row.get("responded_at") or ""
                at = rules.parse_form_date(when, self.clock.now()) if when.strip() else None
            except ValueError:
                rejected.append(
                    {
                        "row": line,
                        "form_no": form_no,
                        "field": "responded_at",
                        "message": f"not a date: {when!r}",
                    }
                )
                continue
            try:
                submission = ResponseSubmission(
                    answers=rules.answers_from_row(row), form_no=form_no, responded_at=at
                )
                response = await self.respond_campaign(campaign_id, submission)
                accepted.append(response.response_id)
            except AlreadyAnswered:
                already.append(form_no)
            except InvalidAnswers as exc:
                rejected.extend({"row": line, "form_no": form_no, **d} for d in exc.details)
            except CampaignClosed as exc:
                rejected.append(
                    {"row": line, "form_no": form_no, "field": "responded_at", "message": str(exc)}
                )
        return CsvResult(accepted, already, rejected)

    async def _record(self, response: Response, emissions: list[Emission]) -> Response:
        # The public website's figures travel with the answer, in the same outbox.
        emissions = [*emissions, _public(response)]
        if not await self.responses.add(response, emissions):
            raise AlreadyAnswered(f"{response.response_id} was recorded already")
        self.metrics.responses.labels(response.source, response.channel).inc()
        await self.responses.flush(response.response_id)
        return response

    def _responded(self, r: Response) -> Emission:
        event = SurveyResponded(
            event_id=new_event_id(r.response_id, "responded"),
            org_id=r.org_id,
            correlation_id=r.case_id or r.campaign_id,
            payload=SurveyRespondedPayload(
                response_id=r.response_id,
                source=r.source,
                survey_id=r.survey_id,
                campaign_id=r.campaign_id,
                case_id=r.case_id,
                form_no=r.form_no,
                questionnaire_version=r.questionnaire_version,
                department=r.department,
                category=r.category,
                channel=r.channel,
                responded_at=r.responded_at,
                fiscal_year=r.fiscal_year,
                month=r.month,
                answers=tuple(
                    AnswerValue(question_id=a.question_id, type=a.type, value=a.value)
                    for a in r.answers
                ),
            ),
        )
        return Emission.of(event)

    @staticmethod
    def _reopen(r: Response, survey: Survey, reason: str) -> Emission:
        command = CaseCommandIssued(
            event_id=new_event_id(r.response_id, "reopen"),
            org_id=r.org_id,
            correlation_id=survey.case_id,
            payload=CaseCommandPayload(
                case_id=survey.case_id,
                action="reopen",
                params={
                    "reason": reason,
                    "survey_id": survey.survey_id,
                    "response_id": r.response_id,
                },
                command_id=f"survey-reopen-{r.response_id}",
            ),
        )
        return Emission.of(command)

    # ------------------------------------------------------------------- aggregating

    async def on_survey_responded(self, event: SurveyResponded) -> Response:
        response_id = event.payload.response_id
        stored = await self.responses.load(response_id)
        if stored is None:
            # The stored response is the source of truth; an event replayed into a fresh
            # database stores it first, so the topic alone can rebuild everything.
            response = response_from_event(event)
            await self.responses.ensure(response)
        elif stored.counted:
            return stored.response  # a redelivery: every aggregate has it already
        else:
            response = stored.response
        added = rules.figures_of(response)
        for slice_ in rules.slices_of(response):
            kept = await self.aggregates.change(slice_, _adding(slice_, response_id, added))
            if kept is not None and slice_.by == "department":
                self._gauge(rules.bucket_of(kept))
        month = None
        if (key := rules.month_of(response)) is not None:
            day = rules.day_of(response).day
            month = await self.aggregates.change_month(
                key, lambda current: rules.count_in_month(current, key, day, response_id, added)
            )
        await self._raise_alerts(response, month)
        # Last: a crash before it redelivers the response, and what it reached skips it.
        await self.responses.mark_counted([response_id])
        return response

    async def rebuild(self) -> dict[str, int]:
        """The exact full recount from the stored responses, for the operator: every
        bucket and department month is set to it, and buckets nothing backs are dropped.

        Safe while responses keep arriving: what was added live to a bucket but not seen
        by the recount is found by its applied id, loaded and kept (docs/survey-aggregates.md).
        """
        recount = _Recount()
        async for stored in self.responses.scan():
            recount.add(stored.response, stored.counted)
        uncounted = [i for i, counted in recount.scanned.items() if not counted]
        # Before the buckets are set: a delivery that reads the response from now on skips
        # it, and one already in flight finds it in the applied lists set below.
        await self.responses.mark_counted(uncounted)
        late: dict[str, Response | None] = {}
        for slice_, figures, waiting in recount.bucket_items():
            await self._recount_bucket(slice_, figures, waiting, recount.scanned, late)
        for month, days, waiting in recount.month_items():
            await self._recount_month(month, days, waiting, recount.scanned, late)
        removed = 0
        # An aggregate no recounted response backs goes, unless a response the recount did
        # not see (one that arrived meanwhile) was added to it.
        for kept in await self.aggregates.all_kept():
            if kept.slice.key not in recount.buckets and all(
                i in recount.scanned for i in kept.applied
            ):
                await self.aggregates.delete(kept.slice)
                removed += 1
        for m in await self.aggregates.all_months():
            if m.of.key not in recount.months and all(i in recount.scanned for i in m.applied):
                await self.aggregates.delete_month(m.of)
                removed += 1
        await self.refresh_gauges()
        return {
            "responses": len(recount.scanned),
            "slices": len(recount.buckets),
            "months": len(recount.months),
            "removed": removed,
        }

    async def _recount_bucket(
        self,
        slice_: Slice,
        figures: Figures,
        waiting: list[str],
        scanned: dict[str, bool],
        late: dict[str, Response | None],
    ) -> None:
        def decide(current: KeptBucket | None) -> KeptBucket | None:
            return rules.recount_bucket(current, slice_, figures, waiting, scanned, late)

        await self._loading_late(lambda: self.aggregates.change(slice_, decide), late)

    async def _recount_month(
        self,
        month: MonthKey,
        days: dict[int, Figures],
        waiting: list[str],
        scanned: dict[str, bool],
        late: dict[str, Response | None],
    ) -> None:
        def decide(current: DepartmentMonth | None) -> DepartmentMonth | None:
            return rules.recount_month(current, month, days, waiting, scanned, late)

        await self._loading_late(lambda: self.aggregates.change_month(month, decide), late)

    async def _loading_late(
        self, write: Callable[[], Awaitable[object]], late: dict[str, Response | None]
    ) -> None:
        """Write, after loading the responses added live that the recount did not see."""
        while True:
            try:
                await write()
                return
            except rules.Unseen as unseen:
                for response_id in unseen.response_ids:
                    stored = await self.responses.load(response_id)
                    late[response_id] = stored.response if stored else None

    async def refresh_gauges(self) -> None:
        for bucket in await self.aggregates.all():
            if bucket.slice.by == "department":
                self._gauge(bucket)

    def _gauge(self, bucket: Bucket) -> None:
        labels = (bucket.slice.value, str(bucket.slice.fiscal_year))
        tally = bucket.tally()
        self.metrics.department_responses.labels(*labels).set(bucket.responses)
        if tally.count:
            self.metrics.percent_satisfied.labels(*labels).set(100 * tally.satisfied / tally.count)
            self.metrics.mean_score.labels(*labels).set(tally.total / tally.count)

    async def satisfaction(self, org_id: str, fiscal_year: int, by: str | None) -> dict[str, Any]:
        total = await self.aggregates.get(Slice(org_id, fiscal_year, "org", org_id))
        empty = Bucket(Slice(org_id, fiscal_year, "org", org_id), 0, ())
        body: dict[str, Any] = {
            "org_id": org_id,
            "fiscal_year": fiscal_year,
            "by": by or "org",
            "total": bucket_view(total or empty, self.config),
        }
        if by == "question":
            body["items"] = body["total"]["questions"]
        elif by:
            buckets = await self.aggregates.of_dimension(org_id, fiscal_year, by)
            body["items"] = [bucket_view(b, self.config) for b in buckets]
        return body

    # ------------------------------------------------------------------- improving

    async def _raise_alerts(self, response: Response, month: DepartmentMonth | None) -> None:
        policy = self.config.policy
        questionnaire = self.questionnaire(response.questionnaire_version)
        labels = self.config.labels
        decisions = rules.response_alerts(policy, response, questionnaire, labels)
        if month is not None:
            decisions += await self._window_alerts(response, month)
        for decision in decisions:
            await self._raise(decision, response)

    async def _window_alerts(
        self, response: Response, month: DepartmentMonth
    ) -> list[AlertDecision]:
        """Each window rule judged on the sum of the department's days in its window."""
        decisions = []
        # The month just written is at hand; the window's earlier months are read by id.
        months = {month.of: month}
        for rule in rules.window_rules(self.config.policy):
            first, last = rules.window_of(rule, response)
            for key in rules.window_months(response, first, last):
                if key not in months:
                    months[key] = await self.aggregates.month(key) or DepartmentMonth(key)
            window = rules.window_figures(months.values(), first, last)
            bucket = rules.bucket_from_counts(
                Slice(response.org_id, response.fiscal_year, "window", month.of.department),
                window.responses,
                window.counts,
            )
            decision = rules.window_alert(
                rule, response, window.responses, bucket.tally(), self.config.labels
            )
            if decision is not None:
                decisions.append(decision)
        return decisions

    async def _raise(self, d: AlertDecision, cause: Response) -> None:
        now = to_millis(self.clock.now())
        alert = Alert(decision=d, org_id=cause.org_id, raised_at=now)
        raised = SatisfactionAlertRaised(
            event_id=new_event_id(d.alert_id, "raised"),
            org_id=cause.org_id,
            correlation_id=d.case_id or d.alert_id,
            payload=SatisfactionAlertPayload(
                alert_id=d.alert_id,
                rule=d.rule,
                department=d.department,
                description_th=d.description_th,
                fiscal_year=d.fiscal_year,
                response_id=d.response_id,
                case_id=d.case_id,
                window_responses=d.window_responses,
                window_percent_satisfied=d.window_percent_satisfied,
            ),
        )
        # The improvement action enters like any other matter: through intake (which
        # makes it a case, once per alert id) and routing (which gives it to the head
        # of the department).
        submission = {
            "channel": Channel.INTERNAL.value,
            "kind": Kind.IMPROVEMENT_ACTION.value,
            "text": d.description_th,
            "department_hint": d.department,
            "channel_message_id": d.alert_id,
        }
        raw = RawPayloadReceived(
            event_id=new_event_id(d.alert_id, "improvement-action"),
            org_id=cause.org_id,
            correlation_id=d.alert_id,
            payload=RawPayloadReceivedPayload(
                channel=Channel.INTERNAL.value,
                received_at=now,
                content_type="application/json",
                body=json.dumps(submission, ensure_ascii=False),
                channel_message_id=d.alert_id,
            ),
        )
        emissions = [
            Emission.of(raised),
            Emission.of(raw, key=d.alert_id),
        ]
        if await self.alerts.add(alert, emissions):
            self.metrics.alerts.labels(d.rule).inc()
        await self.alerts.flush(d.alert_id)

    async def on_case_received(self, event: CaseReceived) -> None:
        p = event.payload
        if (
            p.channel is Channel.INTERNAL
            and p.kind is Kind.IMPROVEMENT_ACTION
            and p.channel_message_id
        ):
            await self.alerts.link_case(p.channel_message_id, p.case_id)

    async def on_case_assigned(self, event: CaseAssigned) -> None:
        if event.payload.kind is Kind.IMPROVEMENT_ACTION:
            await self.alerts.track(
                event.payload.case_id, "assigned", ASSIGNED_SEQ, event.occurred_at
            )

    async def on_case_status_changed(self, event: CaseStatusChanged) -> None:
        p = event.payload
        await self.alerts.track(p.case_id, p.to_status, p.seq, event.occurred_at)

    async def on_case_closed(self, event: CaseClosed) -> None:
        p = event.payload
        await self.alerts.track(p.case_id, "closed", p.seq, p.closed_at)


def _public(r: Response) -> Emission:
    """The anonymous fact of an answer for `public.satisfaction`: scores only."""
    fact_id = hashlib.sha256(r.response_id.encode("utf-8")).hexdigest()[:32]
    fact = PublicSatisfactionCounted(
        event_id=new_event_id(r.response_id, "public"),
        org_id=r.org_id,
        correlation_id=fact_id,
        payload=PublicSatisfactionPayload(
            fact_id=fact_id,
            source=r.source,
            fiscal_year=r.fiscal_year,
            department=r.department,
            scores={
                a.question_id: a.value
                for a in r.answers
                if a.type == "scale" and isinstance(a.value, int)
            },
        ),
    )
    return Emission.of(fact)


def response_id_for(survey: Survey) -> str:
    return "rsp-" + survey.survey_id.removeprefix("svy-")


def response_from_event(event: SurveyResponded) -> Response:
    p = event.payload
    return Response(
        response_id=p.response_id,
        org_id=event.org_id,
        source=p.source,
        questionnaire_version=p.questionnaire_version,
        channel=p.channel,
        responded_at=to_millis(p.responded_at),
        recorded_at=to_millis(event.occurred_at),
        answers=tuple(Answer(a.question_id, a.type, a.value) for a in p.answers),
        survey_id=p.survey_id,
        campaign_id=p.campaign_id,
        case_id=p.case_id,
        form_no=p.form_no,
        department=p.department,
        category=p.category,
    )


def _adding(
    slice_: Slice, response_id: str, added: Figures
) -> Callable[[KeptBucket | None], KeptBucket | None]:
    def decide(current: KeptBucket | None) -> KeptBucket | None:
        return rules.count_in(current, slice_, response_id, added)

    return decide


@dataclass
class _Recount:
    """Every bucket and department month summed from a scan of the stored responses."""

    scanned: dict[str, bool] = field(default_factory=dict)  # response id -> counted
    buckets: dict[str, tuple[Slice, Figures]] = field(default_factory=dict)
    months: dict[str, tuple[MonthKey, dict[int, Figures]]] = field(default_factory=dict)
    # Per bucket and per month: its responses not marked counted when scanned.
    bucket_uncounted: dict[str, list[str]] = field(default_factory=dict)
    month_uncounted: dict[str, list[str]] = field(default_factory=dict)

    def add(self, response: Response, counted: bool) -> None:
        response_id = response.response_id
        self.scanned[response_id] = counted
        added = rules.figures_of(response)
        for slice_ in rules.slices_of(response):
            _, figures = self.buckets.get(slice_.key, (slice_, Figures()))
            self.buckets[slice_.key] = (slice_, figures + added)
            if not counted:
                self.bucket_uncounted.setdefault(slice_.key, []).append(response_id)
        if (month := rules.month_of(response)) is not None:
            _, days = self.months.setdefault(month.key, (month, {}))
            day = rules.day_of(response).day
            days[day] = days.get(day, Figures()) + added
            if not counted:
                self.month_uncounted.setdefault(month.key, []).append(response_id)

    def bucket_items(self) -> list[tuple[Slice, Figures, list[str]]]:
        return [
            (slice_, figures, self.bucket_uncounted.get(key, []))
            for key, (slice_, figures) in sorted(self.buckets.items())
        ]

    def month_items(self) -> list[tuple[MonthKey, dict[int, Figures], list[str]]]:
        return [
            (month, days, self.month_uncounted.get(key, []))
            for key, (month, days) in sorted(self.months.items())
        ]
