//! The appointment book: a day view (one column per staff member) and a week view
//! (one column per day), moved with previous/next links, and the booking form.
//!
//! Double booking is refused by the database's exclusion constraints; the form shows
//! that refusal naming the booking it clashes with, and keeps everything typed.
//! Days and times are the practice's (its time zone): a calendar day is the practice's
//! local day (23 or 25 hours when the clocks change), and the form's date and time
//! are read on its wall clock.

use super::views::{
    AppointmentView, BookingForm, BookingFormPage, CalendarColumn, CalendarPage, PatientChoice,
};
use crate::context::{CsrfForm, Ctx, Page, PageId};
use crate::form::{FieldMessages, Pairs, Refusal, staff_options};
use crate::format::{capitalised, day_long, day_short, href};
use crate::input::MAX_SEARCH;
use crate::input::{date, optional_id, optional_text, time_of_day};
use crate::layout::Nav;
use crate::return_to::ReturnTo;
use crate::{AppError, AppState};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, Duration, NaiveDate};
use paddock_domain::{
    AppointmentId, AppointmentKind, AppointmentStatus, PatientId, Permission, PracticeZone,
    ResourceId, UserId,
};
use paddock_store::appointments::bookings::{self, Appointment, Booking, Clash, RangeQuery};
use paddock_store::appointments::resources;
use paddock_store::page::{Cursor, MAX_LIMIT};
use paddock_store::{StoreError, TenantTx, clinical::patients};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The appointment book's page routes.
pub fn pages() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/appointments", get(calendar_page).post(book_submit))
        .route("/appointments/new", get(new_page))
        .route("/appointments/{id}/status", post(status_submit))
}

/// The most bookings one view reads (pages of [`MAX_LIMIT`]); a week busier than this
/// shows its first bookings and says how many it shows.
const MAX_PAGES: usize = 25;
/// The durations the form offers, in minutes.
const DURATIONS: &[u32] = &[10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 480];
/// The longest booking the database accepts, in minutes.
const MAX_MINUTES: u32 = 24 * 60;
/// The form field a store refusal's missing row belongs to.
const NOT_FOUND_FIELDS: &[(&str, &str)] = &[("patient", "patient_id"), ("client", "patient_id")];

/// Day or week.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Day,
    Week,
}

impl View {
    fn name(self) -> &'static str {
        match self {
            View::Day => "day",
            View::Week => "week",
        }
    }
}

/// The Monday of `day`'s week.
fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

fn day_href(day: NaiveDate) -> String {
    format!("/appointments?day={day}")
}

fn week_href(day: NaiveDate) -> String {
    format!("/appointments?week={}", monday_of(day))
}

/// Only fixed notices can be shown through the query string.
fn notice_text(key: Option<&str>) -> Option<String> {
    match key? {
        "booked" => Some("Appointment booked.".to_owned()),
        "status" => Some("Appointment updated.".to_owned()),
        _ => None,
    }
}

/// `GET /appointments?day=YYYY-MM-DD` (day view, the default, today when no date) or
/// `?week=YYYY-MM-DD` / `?view=week&day=...` (the week holding that date). Days are
/// the practice's local days.
pub(crate) async fn calendar_page(
    Page { ctx, nav }: Page,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    let permissions = ctx.principal.permissions();
    let read_patients = permissions.contains(Permission::PatientsRead);
    let can_write = permissions.contains(Permission::AppointmentsWrite);
    let nav = nav.at("appointments");
    let zone = nav.zone;
    let pairs = Pairs::new(query);
    let today = zone.date_of(ctx.now());
    let mut errors = FieldMessages::none();
    let (view, raw) = match (pairs.get("week"), pairs.get("day")) {
        (Some(week), _) => (View::Week, Some(("week", week))),
        (None, day) if pairs.get("view") == Some("week") => (View::Week, day.map(|d| ("day", d))),
        (None, day) => (View::Day, day.map(|d| ("day", d))),
    };
    let anchor = raw
        .and_then(|(field, raw)| errors.check(date(field, raw)))
        .unwrap_or(today);
    let (first, last) = match view {
        View::Day => (anchor, anchor),
        View::Week => (monday_of(anchor), monday_of(anchor) + Duration::days(6)),
    };
    let range = RangeQuery {
        from: Some(zone.day_bounds(first).0),
        to: Some(zone.day_bounds(last).1),
        ..RangeQuery::default()
    };
    let booked = ctx.run(async |tx| all_in_range(tx, &range).await).await?;
    let total = booked.len();
    let columns = match view {
        View::Day => day_columns(booked, read_patients, zone),
        View::Week => week_columns(booked, first, read_patients, zone),
    };
    let (prev, next, title) = match view {
        View::Day => (
            day_href(anchor - Duration::days(1)),
            day_href(anchor + Duration::days(1)),
            day_long(anchor),
        ),
        View::Week => (
            week_href(first - Duration::days(7)),
            week_href(first + Duration::days(7)),
            format!("Week of {} to {}", day_short(first), day_short(last)),
        ),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = CalendarPage {
        nav,
        view: view.name(),
        title,
        prev_href: prev,
        next_href: next,
        today_href: match view {
            View::Day => day_href(today),
            View::Week => week_href(today),
        },
        day_href: day_href(anchor),
        week_href: week_href(anchor),
        new_href: can_write.then(|| href("/appointments/new", &[("day", &anchor.to_string())])),
        date: first.to_string(),
        can_write,
        columns,
        total,
        notice: notice_text(pairs.get("notice")),
        errors: errors.summary(),
    };
    Ok((status, body).into_response())
}

/// A status button on the calendar, with the view to return to.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct StatusInput {
    status: String,
    back: String,
}

/// `POST /appointments/{id}/status`: checks a booking in, completes or cancels it from
/// the calendar, then shows the same view again.
pub(crate) async fn status_submit(
    Page { ctx, .. }: Page,
    PageId(id): PageId<AppointmentId>,
    CsrfForm(input): CsrfForm<StatusInput>,
) -> Result<Response, AppError> {
    let status = AppointmentStatus::parse("status", &input.status)
        .map_err(|error| AppError::Validation(vec![error]))?;
    // Parsed before the change is made: only back into the calendar, never an address
    // from elsewhere, and never one that cannot be answered.
    let back = ReturnTo::parse(&input.back)
        .and_then(|back| back.within("/appointments"))
        .unwrap_or_else(|| ReturnTo::fixed("/appointments"));
    ctx.run(async |tx| bookings::set_status(tx, id, status).await)
        .await?;
    Ok(Redirect::to(&back.with_notice("status")).into_response())
}

/// Every live booking overlapping the range, by start time (up to [`MAX_PAGES`] pages).
async fn all_in_range(
    tx: &mut TenantTx,
    range: &RangeQuery,
) -> Result<Vec<Appointment>, StoreError> {
    let mut all = Vec::new();
    let mut after: Option<Cursor> = None;
    for _ in 0..MAX_PAGES {
        let page = bookings::list(tx, range, MAX_LIMIT, after.as_ref()).await?;
        let next = page.next_cursor;
        all.extend(page.items);
        match next {
            Some(cursor) => after = Some(Cursor::decode("cursor", &cursor)?),
            None => break,
        }
    }
    Ok(all)
}

/// "09:00–09:20" on the practice's clock, with the end's day when it ends on another.
fn appointment_view(a: &Appointment, read_patients: bool, zone: PracticeZone) -> AppointmentView {
    let ends_on = zone.date_of(a.ends_at);
    let time = if zone.date_of(a.starts_at) == ends_on {
        format!(
            "{}–{}",
            zone.format_time(a.starts_at),
            zone.format_time(a.ends_at)
        )
    } else {
        format!(
            "{}–{} {}",
            zone.format_time(a.starts_at),
            day_short(ends_on),
            zone.format_time(a.ends_at)
        )
    };
    AppointmentView {
        id: a.id,
        time,
        starts_iso: a.starts_at.to_rfc3339(),
        patient: a
            .patient_name
            .clone()
            .unwrap_or_else(|| "(no patient)".to_owned()),
        patient_href: a
            .patient_id
            .filter(|_| read_patients)
            .map(|id| format!("/patients/{id}")),
        staff: a.staff_name.clone().unwrap_or_default(),
        resource: a.resource_name.clone().unwrap_or_default(),
        kind: a.kind.to_string(),
        reason: a.reason.clone().unwrap_or_default(),
        status: a.status.label(),
        freed: !a.status.holds_slot(),
    }
}

/// One column per staff member (by name), then one for bookings of a resource only.
fn day_columns(
    booked: Vec<Appointment>,
    read_patients: bool,
    zone: PracticeZone,
) -> Vec<CalendarColumn> {
    let mut by_staff: BTreeMap<(String, UserId), Vec<AppointmentView>> = BTreeMap::new();
    let mut resource_only = Vec::new();
    for a in &booked {
        let view = appointment_view(a, read_patients, zone);
        match a.staff_id {
            Some(staff) => by_staff
                .entry((a.staff_name.clone().unwrap_or_default(), staff))
                .or_default()
                .push(view),
            None => resource_only.push(view),
        }
    }
    let mut columns: Vec<CalendarColumn> = by_staff
        .into_iter()
        .map(|((name, _), items)| CalendarColumn {
            heading: name,
            href: None,
            items,
        })
        .collect();
    if !resource_only.is_empty() {
        columns.push(CalendarColumn {
            heading: "Rooms and equipment".to_owned(),
            href: None,
            items: resource_only,
        });
    }
    columns
}

/// One column per day, Monday first, each the practice's local day; a booking that
/// began the week before shows on Monday.
fn week_columns(
    booked: Vec<Appointment>,
    monday: NaiveDate,
    read_patients: bool,
    zone: PracticeZone,
) -> Vec<CalendarColumn> {
    let mut columns: Vec<CalendarColumn> = (0..7)
        .map(|offset| {
            let day = monday + Duration::days(offset);
            CalendarColumn {
                heading: day.format("%a %-d %b").to_string(),
                href: Some(day_href(day)),
                items: Vec::new(),
            }
        })
        .collect();
    for a in &booked {
        let offset = (zone.date_of(a.starts_at) - monday).num_days().clamp(0, 6);
        if let Some(column) = usize::try_from(offset)
            .ok()
            .and_then(|i| columns.get_mut(i))
        {
            column.items.push(appointment_view(a, read_patients, zone));
        }
    }
    columns
}

/// `GET /appointments/new`: the booking form, prefilled from the address (`day`,
/// `time`, `staff_id`, `patient_id`); `q` searches for the patient.
pub(crate) async fn new_page(
    Page { ctx, nav }: Page,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    // No store call of this page books anything, so the form itself needs the right.
    ctx.require(Permission::AppointmentsWrite)?;
    let pairs = Pairs::new(query);
    let today = nav.zone.date_of(ctx.now());
    let day = pairs
        .get("day")
        .and_then(|raw| date("day", raw).ok())
        .unwrap_or(today);
    let form = BookingForm {
        patient_id: pairs.text("patient_id"),
        patient_label: None,
        staff_id: pairs
            .get("staff_id")
            .map(str::to_owned)
            .unwrap_or_else(|| ctx.principal.user_id().as_uuid().to_string()),
        resource_id: pairs.text("resource_id"),
        date: day.to_string(),
        time: pairs
            .get("time")
            .and_then(|raw| time_of_day("time", raw).ok())
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_else(|| "09:00".to_owned()),
        duration: "15".to_owned(),
        kind: AppointmentKind::Consultation.as_str().to_owned(),
        reason: String::new(),
    };
    let mut q = pairs.text("q");
    if q.chars().count() > MAX_SEARCH {
        q = q.chars().take(MAX_SEARCH).collect();
    }
    // A control character is the form's error, and no search runs (the store would
    // refuse it too, as an error page).
    let mut errors = FieldMessages::none();
    let status = match paddock_domain::field::no_control_characters("q", &q) {
        Ok(()) => StatusCode::OK,
        Err(error) => {
            errors.extend([error]);
            q.clear();
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    let shown = BookingState {
        form,
        q,
        errors,
        clash: None,
    };
    let readers = Readers::of(&ctx);
    let choices = ctx
        .run(async |tx| form_choices(tx, &shown, readers).await)
        .await?;
    Ok(booking_page(nav, shown, choices, status))
}

/// What the booking form shows besides its choices.
struct BookingState {
    form: BookingForm,
    q: String,
    errors: FieldMessages,
    /// The refusing clash, in words, and the day it is on.
    clash: Option<(String, NaiveDate)>,
}

impl BookingState {
    /// The form as posted, with why it was refused.
    fn refused(form: BookingForm, errors: FieldMessages) -> Self {
        Self {
            form,
            q: String::new(),
            errors,
            clash: None,
        }
    }
}

/// What the member may read, which decides what the form offers.
#[derive(Clone, Copy)]
struct Readers {
    patients: bool,
    appointments: bool,
}

impl Readers {
    fn of(ctx: &Ctx) -> Self {
        let permissions = ctx.principal.permissions();
        Self {
            patients: permissions.contains(Permission::PatientsRead),
            appointments: permissions.contains(Permission::AppointmentsRead),
        }
    }
}

/// What the form offers, read from the store: the staff and resources to choose from,
/// the chosen patient's name and the patients the search found.
struct Choices {
    staff: Vec<(String, String)>,
    resources: Vec<(String, String)>,
    patient_label: Option<String>,
    found: Vec<PatientChoice>,
}

async fn form_choices(
    tx: &mut TenantTx,
    shown: &BookingState,
    can: Readers,
) -> Result<Choices, StoreError> {
    let form = &shown.form;
    let staff = staff_options(tx).await?;
    let resources = if can.appointments {
        resources::list(tx)
            .await?
            .into_iter()
            .map(|r| (r.id.to_string(), r.name))
            .collect()
    } else {
        Vec::new()
    };
    // Name the chosen patient, so the person booking sees whom they book.
    let mut patient_label = None;
    if can.patients
        && shown.errors.get("patient_id").is_none()
        && let Ok(id) = PatientId::parse("patient_id", &form.patient_id)
    {
        match patients::get(tx, id).await {
            Ok(p) => patient_label = Some(patient_label_of(&p)),
            Err(StoreError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    let found = if can.patients && !shown.q.is_empty() {
        patients::search(tx, Some(&shown.q), 10, None)
            .await?
            .items
            .iter()
            .map(|p| PatientChoice {
                label: patient_label_of(p),
                href: href(
                    "/appointments/new",
                    &[
                        ("patient_id", &p.id.to_string()),
                        ("day", &form.date),
                        ("time", &form.time),
                        ("staff_id", &form.staff_id),
                    ],
                ),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Choices {
        staff,
        resources,
        patient_label,
        found,
    })
}

/// The booking form page, as typed, with its choices.
fn booking_page(nav: Nav, shown: BookingState, choices: Choices, status: StatusCode) -> Response {
    let BookingState {
        mut form,
        q,
        errors,
        clash,
    } = shown;
    form.patient_label = choices.patient_label;
    let kinds = AppointmentKind::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), capitalised(&k.label())))
        .collect();
    let durations = DURATIONS
        .iter()
        .map(|m| {
            let label = match (m / 60, m % 60) {
                (0, minutes) => format!("{minutes} min"),
                (hours, 0) => format!("{hours} h"),
                (hours, minutes) => format!("{hours} h {minutes} min"),
            };
            (m.to_string(), label)
        })
        .collect();
    // Links carry the form's day only when it is a date (it is typed text here).
    let day = date("date", &form.date).ok().map(|d| d.to_string());
    let day = day.as_deref().unwrap_or_default();
    let cancel_href = href("/appointments", &[("day", day)]);
    let change_patient_href = href(
        "/appointments/new",
        &[("day", day), ("staff_id", &form.staff_id)],
    );
    let (clash, clash_href) = match clash {
        Some((text, day)) => (Some(text), Some(day_href(day))),
        None => (None, None),
    };
    (
        status,
        BookingFormPage {
            nav: nav.at("appointments"),
            form,
            staff: choices.staff,
            resources: choices.resources,
            kinds,
            durations,
            q,
            choices: choices.found,
            errors,
            cancel_href,
            change_patient_href,
            clash,
            clash_href,
        },
    )
        .into_response()
}

/// "Rex (Canine, Alex Fixture)".
fn patient_label_of(p: &patients::Patient) -> String {
    match &p.primary_owner_name {
        Some(owner) => format!("{} ({}, {owner})", p.name, p.species),
        None => format!("{} ({})", p.name, p.species),
    }
}

/// The booking form as posted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct BookingInput {
    patient_id: String,
    staff_id: String,
    resource_id: String,
    date: String,
    time: String,
    duration: String,
    kind: String,
    reason: String,
}

impl BookingInput {
    fn into_form(self) -> BookingForm {
        BookingForm {
            patient_id: self.patient_id,
            patient_label: None,
            staff_id: self.staff_id,
            resource_id: self.resource_id,
            date: self.date,
            time: self.time,
            duration: self.duration,
            kind: self.kind,
            reason: self.reason,
        }
    }
}

/// The booking a form describes (its client still to be filled in), or every field's
/// message. The date and time are on the practice's clock: a time the clocks skip is
/// refused on `time`.
fn parse_booking(form: &BookingForm, zone: PracticeZone) -> Result<Booking, FieldMessages> {
    let mut errors = FieldMessages::none();
    let patient = errors.check(optional_id("patient_id", &form.patient_id));
    let staff = errors.check(optional_id("staff_id", &form.staff_id));
    let resource = errors.check(optional_id("resource_id", &form.resource_id));
    if matches!((staff, resource), (Some(None), Some(None))) {
        errors.add(
            "staff_id",
            "choose a staff member, a room or equipment, or both",
        );
    }
    let starts_at = errors.check_wall_clock(&zone, &form.date, &form.time);
    let minutes = errors.check(
        form.duration
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|m| (5..=MAX_MINUTES).contains(m))
            .ok_or_else(|| {
                paddock_domain::FieldError::new(
                    "duration",
                    format!("must be 5 to {MAX_MINUTES} minutes"),
                )
            }),
    );
    let kind = errors.check(AppointmentKind::parse("kind", &form.kind));
    let reason = errors.check(optional_text("reason", &form.reason, 500));
    match (patient, staff, resource, starts_at, minutes, kind, reason) {
        (
            Some(patient),
            Some(staff),
            Some(resource),
            Some(starts_at),
            Some(minutes),
            Some(kind),
            Some(reason),
        ) if errors.is_empty() => Ok(Booking {
            patient_id: patient.map(PatientId::from_uuid),
            client_id: None,
            staff: staff.map(UserId::from_uuid),
            resource_id: resource.map(ResourceId::from_uuid),
            starts_at,
            ends_at: starts_at + Duration::minutes(i64::from(minutes)),
            kind,
            reason,
        }),
        _ => Err(errors),
    }
}

/// How a posted booking ended: booked, or the form again with why not.
enum Booked {
    Done(Appointment),
    Refused(StatusCode, BookingState, Choices),
}

/// `POST /appointments`: books it and shows its day, or the form again with why not.
pub(crate) async fn book_submit(
    Page { ctx, nav }: Page,
    CsrfForm(input): CsrfForm<BookingInput>,
) -> Result<Response, AppError> {
    let zone = nav.zone;
    let form = input.into_form();
    let readers = Readers::of(&ctx);
    let mut booking = match parse_booking(&form, zone) {
        Ok(booking) => booking,
        Err(errors) => {
            // Refused before any work: nothing is booked, and only a member who may
            // book sees the form again.
            ctx.require(Permission::AppointmentsWrite)?;
            let shown = BookingState::refused(form, errors);
            let choices = ctx
                .run(async |tx| form_choices(tx, &shown, readers).await)
                .await?;
            return Ok(booking_page(
                nav,
                shown,
                choices,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let booked = ctx
        .run(async |tx| {
            // The booking is the patient's primary owner's too (whom the desk calls).
            if let Some(patient) = booking.patient_id
                && readers.patients
            {
                match patients::get(tx, patient).await {
                    Ok(found) => booking.client_id = found.primary_owner_id,
                    Err(error) => return refused(tx, form, error, readers, zone).await,
                }
            }
            match bookings::book(tx, &booking).await {
                Ok(appointment) => Ok(Booked::Done(appointment)),
                Err(error) => refused(tx, form, error, readers, zone).await,
            }
        })
        .await?;
    match booked {
        Booked::Done(appointment) => {
            let day = zone.date_of(appointment.starts_at);
            Ok(Redirect::to(&format!("/appointments?day={day}&notice=booked")).into_response())
        }
        Booked::Refused(status, shown, choices) => Ok(booking_page(nav, shown, choices, status)),
    }
}

/// The form again for a refusal the person can fix: a double booking (naming the
/// booking it clashes with) or a field the store refused. The store refused before
/// writing, or inside a savepoint it rolled back, so the request's transaction still
/// reads the form's choices and commits nothing of the booking. Any other error is the
/// error page, its transaction rolled back.
async fn refused(
    tx: &mut TenantTx,
    form: BookingForm,
    error: StoreError,
    readers: Readers,
    zone: PracticeZone,
) -> Result<Booked, StoreError> {
    let (status, shown) = match error {
        StoreError::DoubleBooked(clash) => {
            let existing = if readers.appointments {
                bookings::get(tx, clash.appointment_id).await.ok()
            } else {
                None
            };
            let mut errors = FieldMessages::none();
            errors.add(
                if clash.on == "staff" {
                    "staff_id"
                } else {
                    "resource_id"
                },
                "is already booked at that time",
            );
            let text = clash_text(&clash, existing.as_ref(), zone);
            let shown = BookingState {
                clash: Some((text, zone.date_of(clash.starts_at))),
                ..BookingState::refused(form, errors)
            };
            (StatusCode::CONFLICT, shown)
        }
        other => {
            let (status, errors) = Refusal::form_of(other, NOT_FOUND_FIELDS)?;
            let shown = BookingState::refused(form, errors);
            (status, shown)
        }
    };
    let choices = form_choices(tx, &shown, readers).await?;
    Ok(Booked::Refused(status, shown, choices))
}

/// The clash in words: who (or what) is double-booked, and the existing booking's
/// time on the practice's clock (and patient, when the clashing booking could be read).
fn clash_text(clash: &Clash, existing: Option<&Appointment>, zone: PracticeZone) -> String {
    let name = existing.and_then(|a| {
        if clash.on == "staff" {
            a.staff_name.clone()
        } else {
            a.resource_name.clone()
        }
    });
    let who = match (name, clash.on) {
        (Some(name), _) => name,
        (None, "staff") => "This staff member".to_owned(),
        (None, _) => "This room or equipment".to_owned(),
    };
    let what = existing
        .and_then(|a| a.patient_name.clone())
        .map(|patient| format!(" (with {patient})"))
        .unwrap_or_default();
    let (starts_on, ends_on) = (zone.date_of(clash.starts_at), zone.date_of(clash.ends_at));
    let abbreviation = zone.abbreviation(clash.starts_at);
    let when = if starts_on == ends_on {
        format!(
            "from {} to {} {abbreviation} on {}",
            zone.format_time(clash.starts_at),
            zone.format_time(clash.ends_at),
            day_long(starts_on)
        )
    } else {
        format!(
            "from {} {} to {} {} {abbreviation}",
            day_short(starts_on),
            zone.format_time(clash.starts_at),
            day_short(ends_on),
            zone.format_time(clash.ends_at)
        )
    };
    let instead = if clash.on == "staff" {
        "staff member"
    } else {
        "room or equipment"
    };
    format!("{who} already has a booking{what} {when}. Choose another time, or another {instead}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn weeks_start_on_monday() {
        let sunday = NaiveDate::from_ymd_opt(2027, 3, 21).unwrap();
        let monday = NaiveDate::from_ymd_opt(2027, 3, 15).unwrap();
        assert_eq!(monday_of(sunday), monday);
        assert_eq!(monday_of(monday), monday);
        assert_eq!(week_href(sunday), "/appointments?week=2027-03-15");
    }

    #[test]
    fn a_clash_names_the_existing_bookings_time() {
        let clash = Clash {
            on: "staff",
            appointment_id: AppointmentId::from_uuid(uuid::Uuid::nil()),
            starts_at: Utc.with_ymd_and_hms(2027, 3, 15, 10, 0, 0).unwrap(),
            ends_at: Utc.with_ymd_and_hms(2027, 3, 15, 10, 30, 0).unwrap(),
        };
        assert_eq!(
            clash_text(&clash, None, PracticeZone::UTC),
            "This staff member already has a booking from 10:00 to 10:30 UTC on Monday 15 \
             March 2027. Choose another time, or another staff member."
        );
        let existing = Appointment {
            id: AppointmentId::from_uuid(uuid::Uuid::nil()),
            patient_id: None,
            patient_name: Some("Rex".into()),
            client_id: None,
            staff_id: None,
            staff_name: Some("Vera Vet".into()),
            resource_id: None,
            resource_name: None,
            starts_at: clash.starts_at,
            ends_at: clash.ends_at,
            kind: paddock_domain::AppointmentKind::Consultation,
            status: paddock_domain::AppointmentStatus::Booked,
            reason: None,
            deleted_at: None,
        };
        assert!(
            clash_text(&clash, Some(&existing), PracticeZone::UTC)
                .starts_with("Vera Vet already has a booking (with Rex) from 10:00 to 10:30")
        );
    }

    #[test]
    fn a_booking_needs_a_staff_member_or_a_resource_and_a_sane_length() {
        let form = BookingForm {
            date: "2027-03-15".into(),
            time: "10:00".into(),
            duration: "0".into(),
            kind: "consultation".into(),
            ..BookingForm::default()
        };
        let errors = parse_booking(&form, PracticeZone::UTC).unwrap_err();
        assert!(errors.get("staff_id").is_some());
        assert!(errors.get("duration").is_some());
        assert!(errors.get("date").is_none());
    }
}
