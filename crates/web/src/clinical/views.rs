//! The clinical pages' templates: clients, patients and their charts, encounters.

use super::weight_chart::WeightChart;
use crate::form::FieldMessages;
use crate::layout::Nav;
use askama::Template;
use askama_web::WebTemplate;
use uuid::Uuid;

// --- clients ---------------------------------------------------------------------

/// A client in a list.
pub struct ClientRow {
    pub id: Uuid,
    /// "Family, Given".
    pub name: String,
    pub email: String,
    /// Mobile, else the other number.
    pub phone: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "clinical/clients/list.html")]
pub struct ClientsPage {
    pub nav: Nav,
    /// The search as typed.
    pub q: String,
    pub rows: Vec<ClientRow>,
    pub errors: Vec<String>,
    /// The next page, when there is one.
    pub next_href: Option<String>,
    /// Back to the first page, when paged.
    pub first_href: Option<String>,
    /// May register clients.
    pub can_write: bool,
}

/// One client's details as the client page shows them.
pub struct ClientView {
    pub id: Uuid,
    pub full_name: String,
    pub email: String,
    pub mobile: String,
    pub phone: String,
    pub address_lines: Vec<String>,
    /// "email, SMS" or "none".
    pub contact_by: String,
    pub reminders: bool,
    pub notes: String,
    pub registered: String,
}

/// A patient in a list.
pub struct PatientRow {
    pub id: Uuid,
    pub name: String,
    /// "Canine · Border Collie".
    pub kind: String,
    pub sex: String,
    pub microchip: String,
    pub owner_name: String,
    /// The owner's page, for those who may read clients.
    pub owner_href: Option<String>,
    /// `active`, `deceased` or `transferred`.
    pub status: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "clinical/clients/detail.html")]
pub struct ClientPage {
    pub nav: Nav,
    pub client: ClientView,
    /// Their patients; `None` without `patients.read`.
    pub patients: Option<Vec<PatientRow>>,
    /// May register a patient for this client.
    pub can_add_patient: bool,
    /// May edit the client's details.
    pub can_edit: bool,
    pub notice: Option<String>,
}

/// The new-client form as typed.
#[derive(Default)]
pub struct ClientForm {
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub mobile: String,
    pub phone: String,
    pub address: String,
    pub contact_by_email: bool,
    pub contact_by_sms: bool,
    pub reminders: bool,
    pub notes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "clinical/clients/form.html")]
pub struct ClientFormPage {
    pub nav: Nav,
    pub form: ClientForm,
    pub errors: FieldMessages,
    /// The client being edited; `None` on the new-client form.
    pub editing: Option<uuid::Uuid>,
}

// --- patients --------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "clinical/patients/list.html")]
pub struct PatientsPage {
    pub nav: Nav,
    pub q: String,
    pub rows: Vec<PatientRow>,
    pub errors: Vec<String>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    /// May register patients.
    pub can_write: bool,
}

/// The new-patient form as typed.
#[derive(Default)]
pub struct PatientForm {
    /// The owner (a client id).
    pub owner_id: String,
    /// The owner's name, when the id is a known client.
    pub owner_name: Option<String>,
    pub name: String,
    pub species: String,
    pub breed: String,
    pub sex: String,
    pub date_of_birth: String,
    pub dob_estimated: bool,
    pub colour: String,
    pub microchip: String,
    pub insurer: String,
    pub insurance_policy: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "clinical/patients/form.html")]
pub struct PatientFormPage {
    pub nav: Nav,
    pub form: PatientForm,
    /// (code, label) of every sex and neuter status.
    pub sexes: Vec<(String, String)>,
    pub errors: FieldMessages,
}

/// A patient's facts, as every page about it heads them.
pub struct PatientFacts {
    pub id: Uuid,
    pub name: String,
    pub species: String,
    pub breed: String,
    pub sex: String,
    /// "3 y 4 m" (with "about" when the birth date is estimated).
    pub age: String,
    pub date_of_birth: String,
    pub colour: String,
    pub microchip: String,
    pub insurer: String,
    pub insurance_policy: String,
    /// `active`, `deceased` or `transferred`.
    pub status: String,
    pub deceased_on: String,
}

/// One owner of a patient.
pub struct OwnerView {
    pub name: String,
    pub href: String,
    pub primary: bool,
    pub phone: String,
    pub email: String,
}

/// An allergy, as the banner shows it.
pub struct AllergyView {
    pub substance: String,
    pub reaction: String,
    /// "life threatening".
    pub severity: String,
    /// The severity code, as a class (`severity-severe`).
    pub severity_code: String,
}

/// A vaccine whose next dose is due soon or overdue.
pub struct VaccinationDue {
    pub vaccine: String,
    pub due_on: String,
    pub overdue: bool,
    pub last_given: String,
}

/// An active problem or diagnosis.
pub struct ProblemView {
    pub description: String,
    /// `problem` or `diagnosis`.
    pub kind: String,
    /// "SNOMED 272981000".
    pub code: String,
    pub onset_on: String,
}

/// A current prescription.
pub struct PrescriptionView {
    pub drug: String,
    /// "0.7 ml oral, once daily with food, 5 days".
    pub directions: String,
    pub prescriber: String,
    pub starts_on: String,
    pub notes: String,
}

/// One encounter on the chart's timeline.
pub struct TimelineRow {
    pub id: Uuid,
    pub started: String,
    pub started_iso: String,
    pub kind: String,
    pub reason: String,
    pub vet: String,
    pub finalised: bool,
    /// The assessment's first line, if any.
    pub summary: String,
}

/// The clinical part of the chart (only with `records.read`).
pub struct ClinicalView {
    /// Active allergies, most severe first.
    pub allergies: Vec<AllergyView>,
    pub vaccinations_due: Vec<VaccinationDue>,
    pub problems: Vec<ProblemView>,
    pub prescriptions: Vec<PrescriptionView>,
    pub weight: Option<WeightChart>,
    /// "21.4 kg on Mon 15 Mar 2027".
    pub latest_weight: String,
    pub latest_temperature: String,
    pub timeline: Vec<TimelineRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "clinical/patients/chart.html")]
pub struct ChartPage {
    pub nav: Nav,
    pub patient: PatientFacts,
    /// Empty without `clients.read`.
    pub owners: Vec<OwnerView>,
    /// `None`: the member may see the patient but not its medical record.
    pub clinical: Option<ClinicalView>,
    /// May open an encounter.
    pub can_write_records: bool,
    /// May book an appointment.
    pub can_book: bool,
}

// --- encounters ------------------------------------------------------------------

/// The new-encounter form as typed.
#[derive(Default)]
pub struct EncounterForm {
    pub kind: String,
    pub date: String,
    pub time: String,
    pub attending_id: String,
    pub reason: String,
    pub subjective: String,
    pub objective: String,
    pub assessment: String,
    pub plan: String,
    pub weight_kg: String,
    pub temperature_c: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "clinical/encounters/new.html")]
pub struct EncounterFormPage {
    pub nav: Nav,
    pub patient_id: Uuid,
    pub patient_name: String,
    /// Active allergies, so the notes are written with them in sight.
    pub allergies: Vec<AllergyView>,
    pub form: EncounterForm,
    /// (code, label).
    pub kinds: Vec<(String, String)>,
    /// (user id, name) of who can attend.
    pub staff: Vec<(String, String)>,
    pub errors: FieldMessages,
}

/// The notes of an encounter (as stored, or as typed into the edit form).
#[derive(Default)]
pub struct NotesForm {
    /// The attending vet's user id ("" for none).
    pub attending_id: String,
    pub reason: String,
    pub subjective: String,
    pub objective: String,
    pub assessment: String,
    pub plan: String,
}

/// Vital signs taken in an encounter.
pub struct VitalsView {
    pub at: String,
    pub weight: String,
    pub temperature: String,
    pub heart_rate: String,
    pub respiratory_rate: String,
}

/// An addendum, with who wrote it and when.
pub struct AddendumView {
    pub id: Uuid,
    pub author: String,
    pub at: String,
    pub at_iso: String,
    pub body: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "clinical/encounters/view.html")]
pub struct EncounterPage {
    pub nav: Nav,
    pub id: Uuid,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub allergies: Vec<AllergyView>,
    pub kind: String,
    pub started: String,
    pub vet: String,
    /// `open` or `finalised`.
    pub status: String,
    /// "Finalised 2027-03-15 10:20 UTC", or when it locks by itself.
    pub status_detail: String,
    /// The notes as stored.
    pub notes: NotesForm,
    /// The edit form (the stored notes, or what was typed when a save was refused).
    pub form: NotesForm,
    /// (user id, name) of who can attend.
    pub staff: Vec<(String, String)>,
    pub vitals: Vec<VitalsView>,
    pub addenda: Vec<AddendumView>,
    /// Open and within its editing period, and the member may write records.
    pub can_edit: bool,
    pub can_finalise: bool,
    /// Finalised, and the member may write records.
    pub can_add_addendum: bool,
    /// The addendum as typed, when adding it was refused.
    pub addendum: String,
    pub errors: FieldMessages,
    /// Text typed into a form the record no longer accepts, kept so it is not lost.
    pub unsaved: Option<String>,
    pub notice: Option<String>,
}
