//! The dashboard's template and the rows each panel shows, built from the store's
//! panels. Every time and day boundary the dashboard uses passes through
//! [`window_at`] and [`written`], both in the practice's time zone: "today" is the
//! practice's local day (23 or 25 hours when the clocks change) and every time shown
//! is on its clock.

use crate::layout::Nav;
use askama::Template;
use askama_web::WebTemplate;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use paddock_domain::AppointmentStatus;
use paddock_domain::{AppointmentId, Permission, PracticeZone, UserId};
use paddock_store::Principal;
use paddock_store::appointments::bookings::Appointment;
use paddock_store::dashboard::{
    ChainStatus, DayBook, DueVaccination, Listed, LockedSignIn, OpenEncounters, Panels, RoleChange,
    Window,
};
use uuid::Uuid;

/// The day and the week of vaccinations the panels cover at `now` in `zone`: the
/// practice's local today, and vaccinations due from today through six days on.
pub fn window_at(now: DateTime<Utc>, zone: PracticeZone) -> Window {
    let today = zone.date_of(now);
    let (day_from, day_to) = zone.day_bounds(today);
    Window {
        now,
        day_from,
        day_to,
        today,
        due_by: today + Duration::days(6),
    }
}

/// How a time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// `09:30`, for times of today.
    Clock,
    /// `Thu 3 Dec 09:30`.
    DayAndClock,
}

/// Every time the dashboard shows, written on the practice's clock.
pub fn written(at: DateTime<Utc>, how: Written, zone: PracticeZone) -> String {
    let local = zone.local(at);
    match how {
        Written::Clock => local.format("%H:%M").to_string(),
        Written::DayAndClock => local.format("%a %-d %b %H:%M").to_string(),
    }
}

/// A calendar date (`Thu 3 Dec`), which has no zone.
fn day(date: NaiveDate) -> String {
    date.format("%a %-d %b").to_string()
}

/// A stored code as people read it: `checked_in` is "Checked in".
fn label(code: &str) -> String {
    let spaced = code.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// The home page.
#[derive(Template, WebTemplate)]
#[template(path = "dashboard/home.html")]
pub struct DashboardPage {
    pub nav: Nav,
    /// The practices the member may switch to.
    pub practices: Vec<(Uuid, String)>,
    /// Today, as the panels mean it.
    pub today: String,
    pub appointments: Option<AppointmentsPanel>,
    pub arrivals: Option<ArrivalsPanel>,
    pub encounters: Option<EncountersPanel>,
    pub vaccinations: Option<VaccinationsPanel>,
    pub locked: Option<Vec<LockedRow>>,
    pub role_changes: Option<RoleChangesPanel>,
    pub chain: Option<ChainPanel>,
}

/// One of today's appointments.
pub struct AppointmentRow {
    pub id: AppointmentId,
    pub time: String,
    pub patient: String,
    /// The patient's record, for members who may read patients.
    pub patient_href: Option<String>,
    pub kind: String,
    pub staff: String,
    /// The stored status (a CSS class) and its words.
    pub status: String,
    pub state: String,
    /// Booked with the member viewing the page.
    pub yours: bool,
}

/// Today's appointments: the member's own first, then everyone else's, each by time.
pub struct AppointmentsPanel {
    pub rows: Vec<AppointmentRow>,
    pub yours: usize,
    /// The day has more than the rows shown.
    pub more: bool,
}

/// The front desk's view of the day.
pub struct ArrivalsPanel {
    /// Arrived (checked in, being seen or done).
    pub arrived: i64,
    /// Still expected (booked or confirmed).
    pub expected: i64,
    pub no_shows: i64,
    /// In the waiting room (checked in, not yet seen).
    pub waiting: Vec<AppointmentRow>,
    pub expected_rows: Vec<AppointmentRow>,
    pub no_show_rows: Vec<AppointmentRow>,
}

/// An encounter awaiting finalisation.
pub struct EncounterRow {
    pub href: String,
    pub patient: String,
    pub kind: String,
    pub started: String,
    pub locks_at: String,
    /// `in 3 h 20 min`.
    pub locks_in: String,
}

pub struct EncountersPanel {
    pub rows: Vec<EncounterRow>,
    pub total: i64,
    pub lock_hours: i32,
}

pub struct VaccinationRow {
    pub patient: String,
    pub patient_href: Option<String>,
    pub vaccine: String,
    pub due: String,
}

pub struct VaccinationsPanel {
    pub rows: Vec<VaccinationRow>,
    pub total: i64,
    /// The last day counted.
    pub due_by: String,
}

pub struct LockedRow {
    pub name: String,
    pub until: String,
    /// `every address` or `one address`.
    pub scope: &'static str,
}

pub struct RoleChangeRow {
    pub at: String,
    pub member: String,
    pub from: String,
    pub to: String,
    pub by: String,
}

pub struct RoleChangesPanel {
    pub rows: Vec<RoleChangeRow>,
    pub total: i64,
}

pub struct ChainPanel {
    /// `#1234`, or empty before the first seal.
    pub sealed_seq: String,
    pub sealed_up_to: String,
    pub pending: i64,
    pub oldest_pending: String,
}

impl DashboardPage {
    /// The page for `principal`, from what the store read.
    pub fn new(
        nav: Nav,
        practices: Vec<(Uuid, String)>,
        panels: Panels,
        principal: &Principal,
        window: &Window,
    ) -> Self {
        let links = principal.permissions().contains(Permission::PatientsRead);
        let me = principal.user_id();
        let zone = nav.zone;
        let (appointments, arrivals) = match panels.day_book {
            Some(book) => {
                let (appointments, arrivals) = day_panels(&book, me, links, zone);
                (Some(appointments), Some(arrivals))
            }
            None => (None, None),
        };
        Self {
            nav,
            practices,
            today: day(window.today),
            appointments,
            arrivals,
            encounters: panels
                .open_encounters
                .map(|open| encounters_panel(open, window.now, zone)),
            vaccinations: panels
                .vaccinations_due
                .map(|due| vaccinations_panel(due, links, window.due_by)),
            locked: panels
                .locked
                .map(|locked| locked.into_iter().map(|l| locked_row(l, zone)).collect()),
            role_changes: panels
                .role_changes
                .map(|changes| role_changes_panel(changes, zone)),
            chain: panels.chain.map(|chain| chain_panel(chain, zone)),
        }
    }
}

fn appointment_row(a: &Appointment, me: UserId, links: bool, zone: PracticeZone) -> AppointmentRow {
    AppointmentRow {
        id: a.id,
        time: written(a.starts_at, Written::Clock, zone),
        patient: a.patient_name.clone().unwrap_or_else(|| "—".to_owned()),
        patient_href: a
            .patient_id
            .filter(|_| links)
            .map(|id| format!("/patients/{id}")),
        kind: label(a.kind.as_str()),
        staff: a.staff_name.clone().unwrap_or_default(),
        status: a.status.as_str().to_owned(),
        state: match a.status.as_str() {
            "no_show" => "No-show".to_owned(),
            other => label(other),
        },
        yours: a.staff_id == Some(me),
    }
}

fn day_panels(
    book: &DayBook,
    me: UserId,
    links: bool,
    zone: PracticeZone,
) -> (AppointmentsPanel, ArrivalsPanel) {
    let rows = |wanted: &[&str]| -> Vec<AppointmentRow> {
        book.appointments
            .iter()
            .filter(|a| wanted.contains(&a.status.as_str()))
            .map(|a| appointment_row(a, me, links, zone))
            .collect()
    };
    let arrivals = ArrivalsPanel {
        arrived: ["checked_in", "in_progress", "completed"]
            .iter()
            .map(|s| book.count(s))
            .sum(),
        expected: book.count("booked") + book.count("confirmed"),
        no_shows: book.count("no_show"),
        waiting: rows(&["checked_in"]),
        expected_rows: rows(&["booked", "confirmed"]),
        no_show_rows: rows(&["no_show"]),
    };
    let (mut all, others): (Vec<AppointmentRow>, Vec<AppointmentRow>) = book
        .appointments
        .iter()
        .filter(|a| a.status != AppointmentStatus::Cancelled)
        .map(|a| appointment_row(a, me, links, zone))
        .partition(|row| row.yours);
    let yours = all.len();
    all.extend(others);
    let appointments = AppointmentsPanel {
        rows: all,
        yours,
        more: book.more,
    };
    (appointments, arrivals)
}

/// `in 3 h 20 min` (rounded down to the minute).
fn remaining(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let minutes = (to - from).num_minutes().max(0);
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("in {m} min"),
        (h, 0) => format!("in {h} h"),
        (h, m) => format!("in {h} h {m} min"),
    }
}

fn encounters_panel(
    open: OpenEncounters,
    now: DateTime<Utc>,
    zone: PracticeZone,
) -> EncountersPanel {
    EncountersPanel {
        rows: open
            .listed
            .rows
            .into_iter()
            .map(|e| EncounterRow {
                href: format!("/encounters/{}", e.id),
                patient: e.patient_name,
                kind: label(&e.kind),
                started: written(e.started_at, Written::DayAndClock, zone),
                locks_at: written(e.lock_after, Written::DayAndClock, zone),
                locks_in: remaining(now, e.lock_after),
            })
            .collect(),
        total: open.listed.total,
        lock_hours: open.lock_hours,
    }
}

fn vaccinations_panel(
    due: Listed<DueVaccination>,
    links: bool,
    due_by: NaiveDate,
) -> VaccinationsPanel {
    VaccinationsPanel {
        rows: due
            .rows
            .into_iter()
            .map(|v| VaccinationRow {
                patient_href: links.then(|| format!("/patients/{}", v.patient_id)),
                patient: v.patient_name,
                vaccine: v.vaccine,
                due: day(v.due_on),
            })
            .collect(),
        total: due.total,
        due_by: day(due_by),
    }
}

fn locked_row(locked: LockedSignIn, zone: PracticeZone) -> LockedRow {
    LockedRow {
        name: locked.display_name,
        until: written(locked.locked_until, Written::DayAndClock, zone),
        scope: if locked.scope == "account" {
            "every address"
        } else {
            "one address"
        },
    }
}

fn role_changes_panel(changes: Listed<RoleChange>, zone: PracticeZone) -> RoleChangesPanel {
    let or_dash = |name: Option<String>| name.unwrap_or_else(|| "—".to_owned());
    RoleChangesPanel {
        rows: changes
            .rows
            .into_iter()
            .map(|c| RoleChangeRow {
                at: written(c.occurred_at, Written::DayAndClock, zone),
                member: or_dash(c.member_name),
                from: or_dash(c.from_role),
                to: or_dash(c.to_role),
                by: or_dash(c.by_name),
            })
            .collect(),
        total: changes.total,
    }
}

fn chain_panel(chain: ChainStatus, zone: PracticeZone) -> ChainPanel {
    ChainPanel {
        sealed_seq: chain
            .sealed_seq
            .map(|seq| format!("#{seq}"))
            .unwrap_or_default(),
        sealed_up_to: chain
            .sealed_up_to
            .map(|at| written(at, Written::DayAndClock, zone))
            .unwrap_or_default(),
        pending: chain.pending,
        oldest_pending: chain
            .oldest_pending
            .map(|at| written(at, Written::DayAndClock, zone))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_today_in_utc_and_the_next_seven_days_of_vaccinations() {
        let now = DateTime::parse_from_rfc3339("2027-03-28T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let window = window_at(now, PracticeZone::UTC);
        assert_eq!(window.day_from.to_rfc3339(), "2027-03-28T00:00:00+00:00");
        assert_eq!(window.day_to.to_rfc3339(), "2027-03-29T00:00:00+00:00");
        assert_eq!(window.due_by.to_string(), "2027-04-03");
        assert_eq!(written(now, Written::Clock, PracticeZone::UTC), "23:30");
        assert_eq!(
            written(now, Written::DayAndClock, PracticeZone::UTC),
            "Sun 28 Mar 23:30"
        );
    }

    #[test]
    fn the_window_is_the_practices_local_day_and_times_are_on_its_clock() {
        let london = PracticeZone::parse("time_zone", "Europe/London").unwrap();
        let at = |raw: &str| {
            DateTime::parse_from_rfc3339(raw)
                .unwrap()
                .with_timezone(&Utc)
        };
        // 23:30 UTC on 28 March 2027 is already 00:30 BST on the 29th in London.
        let window = window_at(at("2027-03-28T23:30:00Z"), london);
        assert_eq!(window.today.to_string(), "2027-03-29");
        assert_eq!(window.day_from.to_rfc3339(), "2027-03-28T23:00:00+00:00");
        assert_eq!(window.day_to.to_rfc3339(), "2027-03-29T23:00:00+00:00");
        assert_eq!(window.due_by.to_string(), "2027-04-04");
        assert_eq!(
            written(at("2027-03-28T23:30:00Z"), Written::DayAndClock, london),
            "Mon 29 Mar 00:30"
        );
        // The day the clocks go forward lasts 23 hours, the day they go back 25.
        let spring = window_at(at("2027-03-28T12:00:00Z"), london);
        assert_eq!((spring.day_to - spring.day_from).num_hours(), 23);
        let autumn = window_at(at("2027-10-31T12:00:00Z"), london);
        assert_eq!((autumn.day_to - autumn.day_from).num_hours(), 25);
        assert_eq!(
            written(at("2027-07-14T08:00:00Z"), Written::Clock, london),
            "09:00"
        );
    }

    #[test]
    fn codes_and_time_left_read_as_words() {
        assert_eq!(label("checked_in"), "Checked in");
        assert_eq!(label(""), "");
        let now = Utc::now();
        assert_eq!(
            remaining(now, now + Duration::minutes(200)),
            "in 3 h 20 min"
        );
        assert_eq!(remaining(now, now + Duration::minutes(120)), "in 2 h");
        assert_eq!(remaining(now, now + Duration::seconds(59)), "in 0 min");
    }
}
