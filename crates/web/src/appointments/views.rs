//! The appointment book's templates: the calendar and the booking form.

use crate::form::FieldMessages;
use crate::layout::Nav;
use askama::Template;
use askama_web::WebTemplate;
use paddock_domain::AppointmentId;

// --- appointments ----------------------------------------------------------------

/// A booking in the calendar.
pub struct AppointmentView {
    pub id: AppointmentId,
    /// "09:00–09:20".
    pub time: String,
    pub starts_iso: String,
    pub patient: String,
    pub patient_href: Option<String>,
    pub staff: String,
    pub resource: String,
    pub kind: String,
    pub reason: String,
    pub status: String,
    /// Cancelled or no-show: shown struck through.
    pub freed: bool,
}

/// A column of the calendar: one staff member's day, or one day of the week.
pub struct CalendarColumn {
    pub heading: String,
    /// The day view of that day (week view only).
    pub href: Option<String>,
    pub items: Vec<AppointmentView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "appointments/calendar.html")]
pub struct CalendarPage {
    pub nav: Nav,
    /// `day` or `week`.
    pub view: &'static str,
    pub title: String,
    pub prev_href: String,
    pub next_href: String,
    pub today_href: String,
    pub day_href: String,
    pub week_href: String,
    pub new_href: Option<String>,
    /// The day (or the week's Monday), `YYYY-MM-DD`, for the jump-to-date form.
    pub date: String,
    /// May change bookings (the status buttons show).
    pub can_write: bool,
    pub columns: Vec<CalendarColumn>,
    pub total: usize,
    pub notice: Option<String>,
    pub errors: Vec<String>,
}

/// The booking form as typed.
#[derive(Default)]
pub struct BookingForm {
    pub patient_id: String,
    /// "Rex (Alex Fixture)", when the id is a known patient.
    pub patient_label: Option<String>,
    pub staff_id: String,
    pub resource_id: String,
    pub date: String,
    pub time: String,
    pub duration: String,
    pub kind: String,
    pub reason: String,
}

/// A patient found by the booking form's search.
pub struct PatientChoice {
    pub label: String,
    pub href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "appointments/new.html")]
pub struct BookingFormPage {
    pub nav: Nav,
    pub form: BookingForm,
    /// (user id, name).
    pub staff: Vec<(String, String)>,
    /// (resource id, name).
    pub resources: Vec<(String, String)>,
    pub kinds: Vec<(String, String)>,
    /// (minutes, label).
    pub durations: Vec<(String, String)>,
    /// The patient search as typed, and what it found.
    pub q: String,
    pub choices: Vec<PatientChoice>,
    pub errors: FieldMessages,
    /// Back to the calendar (the form's day, when it is a date).
    pub cancel_href: String,
    /// The form again without its patient.
    pub change_patient_href: String,
    /// The double booking that refused the form, in words.
    pub clash: Option<String>,
    /// The day view showing the clashing booking.
    pub clash_href: Option<String>,
}
