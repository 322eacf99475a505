//! The demo practices' clinical data: owners and their animals, three years of
//! visits with notes, weights, problems, allergies, prescriptions and vaccinations,
//! the rooms and surgery table, and a week of bookings from today.
//!
//! Everything is written through the store's public functions, so the audit trail
//! records it exactly as it records the front desk and the vets: first one
//! system-scoped transaction per practice for the records, then one acting as the vet,
//! who signs (finalises) most past visits and writes the odd addendum, which must name
//! a person. Visits of the last day stay open, as the editing period leaves them.
//! The values come from a generator seeded per practice: every run builds the same
//! clinic (ids and dates move with the day of the run, nothing else does). The fixed
//! data it draws from (species, complaints, drugs, names) is in [`super::catalogue`].

use super::super::CommandError;
use super::catalogue::{
    ALLERGIES, CLIENT_NOTES, FAMILY_NAMES, GIVEN_NAMES, INSURERS, MAIL_DOMAINS, MELOXICAM, OBESITY,
    ProblemSpec, Rx, SPECIES, STREETS, Scenario, Species, TOWNS, Visit,
};
use paddock_domain::{
    AppointmentKind, AppointmentStatus, ClientId, CodeSystem, DateOfBirth, Email, EncounterId,
    EncounterKind, Microchip, PatientId, PatientSex, PerMinute, PracticeId, PrescriptionStatus,
    ResourceId, ResourceKind, TemperatureC, UserId, WeightKg,
};
use paddock_store::appointments::bookings::{self, Booking};
use paddock_store::appointments::resources;
use paddock_store::clinical::clients::{self, ClientDetails};
use paddock_store::clinical::encounters::{self, NewEncounter, Soap};
use paddock_store::clinical::patients::{self, PatientDetails, Standing};
use paddock_store::clinical::record::{
    self, NewAllergy, NewPrescription, NewProblem, NewVaccination, NewVitals,
};
use paddock_store::{AdminDb, Db, RequestMeta, TenantTx, identity::principal};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sqlx::types::chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// Clients (owners) per practice.
const CLIENTS: usize = 300;
/// Patients per practice: one per client, the rest to clients with several animals.
const PATIENTS: usize = 400;
/// How far back the records go.
const HISTORY_DAYS: i64 = 3 * 365;
/// Days of bookings from today.
const BOOKED_DAYS: i64 = 7;
/// The largest national part of an ISO 11784 number (38 bits).
const MAX_NATIONAL_ID: u64 = (1 << 38) - 1;

/// The staff the clinical records name.
#[derive(Debug, Clone, Copy)]
pub struct Staff {
    /// Sees patients, signs notes, prescribes, operates.
    pub vet: UserId,
    /// Runs the nurse clinics, gives vaccines.
    pub technician: UserId,
}

/// What was created in one practice.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Owners.
    pub clients: usize,
    /// Animals.
    pub patients: usize,
    /// Visits.
    pub encounters: usize,
    /// Visits signed by the vet (the other past ones were locked by the record clock;
    /// those of the last day are still open).
    pub signed: usize,
    /// Vital-sign records (the weight history).
    pub vitals: usize,
    /// Problems and diagnoses.
    pub problems: usize,
    /// Allergies.
    pub allergies: usize,
    /// Prescriptions.
    pub prescriptions: usize,
    /// Vaccinations given.
    pub vaccinations: usize,
    /// Vaccinations due within the next 30 days.
    pub vaccinations_due_soon: usize,
    /// Rooms and tables.
    pub resources: usize,
    /// Bookings in the coming week.
    pub appointments: usize,
}

/// Builds the clinic of `practice`; `seed` picks every value. `db` is where the vet
/// signs the notes, as a member (a handle like the server's).
pub async fn seed(
    admin: &AdminDb,
    db: &Db,
    practice: PracticeId,
    staff: Staff,
    seed: u64,
    now: DateTime<Utc>,
) -> Result<Counts, CommandError> {
    let mut tx = admin.begin_system(practice).await?;
    let mut clinic = Clinic {
        rng: StdRng::seed_from_u64(seed),
        staff,
        now,
        today: now.date_naive(),
        midnight: midnight(now.date_naive())?,
        counts: Counts::default(),
        chips: HashSet::new(),
        patients: Vec::new(),
        to_sign: Vec::new(),
        addenda: Vec::new(),
    };
    let owners = clinic.clients(&mut tx).await?;
    clinic.animals(&mut tx, &owners).await?;
    clinic.bookings(&mut tx).await?;
    tx.commit().await?;

    let meta = RequestMeta::system("demo-seed");
    let vet = principal::resolve(db, staff.vet, practice, &meta)
        .await?
        .ok_or("the demo vet has no active membership")?;
    let mut tx = db.begin(&vet, &meta).await?;
    for (encounter, at) in &clinic.to_sign {
        encounters::finalise(&mut tx, *encounter, *at).await?;
        clinic.counts.signed += 1;
    }
    for (encounter, body) in &clinic.addenda {
        encounters::add_addendum(&mut tx, *encounter, body).await?;
    }
    tx.commit().await?;
    Ok(clinic.counts)
}

/// The animal a visit is for.
struct Animal<'a> {
    id: Uuid,
    name: &'a str,
    species: &'static Species,
    /// Its weight once grown.
    adult_kg: f64,
    /// Overweight as an adult.
    heavy: bool,
    /// Its age today.
    age_days: i64,
}

/// One booking to make.
struct Slot {
    /// Midnight of the day.
    day: DateTime<Utc>,
    /// Minutes after midnight.
    start_minute: u64,
    minutes: u64,
    kind: AppointmentKind,
    staff: UserId,
    resource: Uuid,
}

/// A patient as the seeding remembers it, to book it later.
#[derive(Clone)]
struct Seeded {
    id: Uuid,
    owner: Uuid,
    species: &'static Species,
    alive: bool,
}

/// The generator's state for one practice.
struct Clinic {
    rng: StdRng,
    staff: Staff,
    now: DateTime<Utc>,
    today: NaiveDate,
    midnight: DateTime<Utc>,
    counts: Counts,
    chips: HashSet<String>,
    patients: Vec<Seeded>,
    /// Past visits the vet signs afterwards, with the time of signing.
    to_sign: Vec<(EncounterId, DateTime<Utc>)>,
    /// Addenda the vet writes to signed visits.
    addenda: Vec<(EncounterId, String)>,
}

/// 00:00 UTC of `day`.
fn midnight(day: NaiveDate) -> Result<DateTime<Utc>, CommandError> {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("no midnight on {day}").into())
}

/// `time` moved by `days` (either way).
fn shift(time: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let span = Duration::from_secs(days.unsigned_abs() * 86_400);
    if days >= 0 { time + span } else { time - span }
}

/// `time` moved by `minutes` later.
fn later(time: DateTime<Utc>, minutes: u64) -> DateTime<Utc> {
    time + Duration::from_secs(minutes * 60)
}

/// ISO weekday of `day`: 1 Monday ... 7 Sunday.
fn weekday(day: NaiveDate) -> u32 {
    day.format("%u").to_string().parse().unwrap_or(1)
}

/// A random element of `list` (an empty list is a programming error, reported).
fn pick<'a, T>(rng: &mut StdRng, list: &'a [T]) -> Result<&'a T, CommandError> {
    list.choose(rng)
        .ok_or_else(|| CommandError::from("an empty list of demo values"))
}

impl Clinic {
    /// The owners, with contact details and preferences; returns their ids.
    async fn clients(&mut self, tx: &mut TenantTx) -> Result<Vec<ClientId>, CommandError> {
        let mut ids = Vec::with_capacity(CLIENTS);
        let mut emails = HashSet::new();
        for n in 0..CLIENTS {
            let given = *pick(&mut self.rng, GIVEN_NAMES)?;
            let family = *pick(&mut self.rng, FAMILY_NAMES)?;
            let mut email = format!(
                "{}.{}@{}",
                ascii_lower(given),
                ascii_lower(family),
                pick(&mut self.rng, MAIL_DOMAINS)?
            );
            if !emails.insert(email.clone()) {
                email = format!(
                    "{}.{}{}@{}",
                    ascii_lower(given),
                    ascii_lower(family),
                    n,
                    pick(&mut self.rng, MAIL_DOMAINS)?
                );
            }
            // Ofcom's ranges for drama: 07700 900xxx and 01632 960xxx reach nobody.
            let mobile = format!("+44 7700 900{:03}", self.rng.gen_range(0..1000));
            let phone = self
                .rng
                .gen_bool(0.3)
                .then(|| format!("01632 960{:03}", self.rng.gen_range(0..1000)));
            let address = format!(
                "{} {}\n{}\n{}",
                self.rng.gen_range(1..180),
                pick(&mut self.rng, STREETS)?,
                pick(&mut self.rng, TOWNS)?,
                postcode(&mut self.rng)
            );
            let notes = self
                .rng
                .gen_bool(0.12)
                .then(|| pick(&mut self.rng, CLIENT_NOTES).map(|s| (*s).to_owned()))
                .transpose()?;
            let sms = self.rng.gen_bool(0.6);
            let details = ClientDetails {
                given_name: given.to_owned(),
                family_name: family.to_owned(),
                email: self
                    .rng
                    .gen_bool(0.9)
                    .then(|| Email::parse("email", &email))
                    .transpose()?,
                mobile: Some(paddock_domain::Phone::parse("mobile", &mobile)?),
                phone: phone
                    .map(|p| paddock_domain::Phone::parse("phone", &p))
                    .transpose()?,
                address: Some(address),
                contact_by_email: true,
                contact_by_sms: sms,
                reminders: self.rng.gen_bool(0.9),
                notes,
            };
            ids.push(clients::create(tx, &details).await?.id);
            self.counts.clients += 1;
        }
        Ok(ids)
    }

    /// Every client gets an animal; the rest go to clients who already have one, and
    /// one in twenty is co-owned by another client.
    async fn animals(
        &mut self,
        tx: &mut TenantTx,
        owners: &[ClientId],
    ) -> Result<(), CommandError> {
        for n in 0..PATIENTS {
            let owner = match owners.get(n) {
                Some(owner) => *owner,
                None => *pick(&mut self.rng, owners)?,
            };
            let mut owned = vec![(owner, true)];
            if self.rng.gen_bool(0.05) {
                let other = *pick(&mut self.rng, owners)?;
                if other != owner {
                    owned.push((other, false));
                }
            }
            self.animal(tx, &owned).await?;
        }
        Ok(())
    }

    /// One animal and its medical history.
    async fn animal(
        &mut self,
        tx: &mut TenantTx,
        owners: &[(ClientId, bool)],
    ) -> Result<(), CommandError> {
        let species = self.species()?;
        let breed = pick(&mut self.rng, species.breeds)?;
        let age_days = self.rng.gen_range(species.age_days.0..=species.age_days.1);
        let born = shift(self.midnight, -age_days);
        let sex = self.sex(species, age_days);
        let alive = !self.rng.gen_bool(0.02);
        // The last visit of an animal that died is the day it died.
        let visits = self.visit_days(age_days, species, alive)?;
        let died_on = (!alive)
            .then(|| visits.last().map(|(day, _)| day.date_naive()))
            .flatten();
        let standing = match died_on {
            Some(day) => Standing::Deceased(day),
            None => Standing::Active,
        };
        let insured = matches!(species.name, "Canine" | "Feline") && self.rng.gen_bool(0.4);
        let insurer = insured
            .then(|| pick(&mut self.rng, INSURERS).map(|s| (*s).to_owned()))
            .transpose()?;
        let details = PatientDetails {
            name: (*pick(&mut self.rng, species.names)?).to_owned(),
            species: species.name.to_owned(),
            breed: Some(breed.name.to_owned()),
            sex,
            date_of_birth: Some(DateOfBirth {
                date: born.date_naive(),
                estimated: self.rng.gen_bool(species.estimated_dob),
            }),
            colour: Some((*pick(&mut self.rng, species.colours)?).to_owned()),
            microchip: self.microchip(species.chipped)?,
            insurance_policy: insured
                .then(|| format!("PP{:08}", self.rng.gen_range(0..100_000_000))),
            insurer,
            standing,
        };
        let patient = patients::create(tx, &details, owners).await?;
        self.counts.patients += 1;
        let primary = owners.first().map_or(Uuid::nil(), |(id, _)| id.as_uuid());
        self.patients.push(Seeded {
            id: patient.id.as_uuid(),
            owner: primary,
            species,
            alive,
        });

        // An adult weight for the animal, then its weight at each visit.
        let adult = self.rng.gen_range(breed.adult_kg.0..=breed.adult_kg.1);
        let heavy = age_days >= species.adult_at_days && self.rng.gen_bool(0.15);
        if heavy {
            self.problem(tx, patient.id, None, &OBESITY, shift(self.midnight, -30))
                .await?;
        }
        if matches!(species.name, "Canine" | "Feline") && self.rng.gen_bool(0.08) {
            let allergy = pick(&mut self.rng, ALLERGIES)?;
            record::add_allergy(
                tx,
                patient.id,
                &NewAllergy {
                    substance: allergy.0.to_owned(),
                    reaction: Some(allergy.1.to_owned()),
                    severity: allergy.2,
                },
            )
            .await?;
            self.counts.allergies += 1;
        }
        let animal = Animal {
            id: patient.id.as_uuid(),
            name: &patient.name,
            species,
            adult_kg: adult,
            heavy,
            age_days,
        };
        let mut previous: Option<&'static Scenario> = None;
        let last = visits.len().saturating_sub(1);
        for (index, (started, kind)) in visits.iter().enumerate() {
            let kind = if !alive && index == last {
                Visit::Euthanasia
            } else {
                *kind
            };
            previous = self
                .visit(tx, &animal, *started, kind, previous)
                .await?
                .or(previous);
        }
        Ok(())
    }

    /// A species, by its share of the practice's patients.
    fn species(&mut self) -> Result<&'static Species, CommandError> {
        let total: u32 = SPECIES.iter().map(|s| s.share).sum();
        let mut roll = self.rng.gen_range(0..total);
        for species in SPECIES {
            if roll < species.share {
                return Ok(species);
            }
            roll -= species.share;
        }
        pick(&mut self.rng, SPECIES)
    }

    /// Sex and neuter status: most adult dogs, cats and rabbits here are neutered.
    fn sex(&mut self, species: &Species, age_days: i64) -> PatientSex {
        if species.sex_often_unknown && self.rng.gen_bool(0.5) {
            return PatientSex::Unknown;
        }
        let female = self.rng.gen_bool(0.5);
        let neutered = species.neutered && age_days > 240 && self.rng.gen_bool(0.75);
        match (female, neutered) {
            (true, true) => PatientSex::FemaleSpayed,
            (true, false) => PatientSex::Female,
            (false, true) => PatientSex::MaleNeutered,
            (false, false) => PatientSex::Male,
        }
    }

    /// A unique, valid ISO 11784 number for a share `chipped` of animals: the UK's
    /// country code or a manufacturer's code, then a 12-digit national part that fits
    /// the transponder's 38 bits.
    fn microchip(&mut self, chipped: f64) -> Result<Option<Microchip>, CommandError> {
        if !self.rng.gen_bool(chipped) {
            return Ok(None);
        }
        loop {
            let code = *pick(&mut self.rng, &[826u16, 826, 826, 985, 977, 941, 956])?;
            let national = self.rng.gen_range(0..=MAX_NATIONAL_ID);
            let digits = format!("{code:03}{national:012}");
            if self.chips.insert(digits.clone()) {
                return Ok(Some(Microchip::parse("microchip", &digits)?));
            }
        }
    }

    /// One to four visits in the last three years (never before the animal was
    /// eight weeks old), oldest first, with their kinds. Three in four animals of a
    /// vaccinated species come for a booster (some for the one a year before too); for
    /// a fifth of those the next one falls due within the month, for a tenth it is
    /// overdue.
    fn visit_days(
        &mut self,
        age_days: i64,
        species: &Species,
        alive: bool,
    ) -> Result<Vec<(DateTime<Utc>, Visit)>, CommandError> {
        let earliest = (age_days - 56).clamp(1, HISTORY_DAYS);
        // A very young animal has had only so many days to be seen on.
        let count = self
            .rng
            .gen_range(1..=4usize)
            .min(usize::try_from(earliest + 1).unwrap_or(1));
        let mut days: Vec<(i64, Visit)> = Vec::with_capacity(count);
        if !species.vaccines.is_empty() && alive && self.rng.gen_bool(0.75) {
            let roll = self.rng.gen_range(0..10);
            let ago = match roll {
                0 | 1 => 365 - self.rng.gen_range(0..30), // due within the month
                2 => 365 + self.rng.gen_range(1..90),     // overdue
                _ => self.rng.gen_range(20..330),
            };
            if ago <= earliest {
                days.push((ago, Visit::Vaccination));
                if ago + 365 <= earliest && count > 1 && self.rng.gen_bool(0.5) {
                    days.push((ago + 365, Visit::Vaccination));
                }
            }
        }
        while days.len() < count {
            let ago = self.rng.gen_range(0..=earliest);
            if days.iter().any(|(d, _)| *d == ago) {
                continue;
            }
            let visit = *pick(&mut self.rng, species.visits)?;
            days.push((ago, visit));
        }
        // Oldest first; visits today have not happened later than now.
        days.sort_by_key(|(ago, _)| std::cmp::Reverse(*ago));
        let mut out = Vec::with_capacity(days.len());
        for (ago, visit) in days {
            let slot = self.rng.gen_range(0..26u64);
            let mut start = later(shift(self.midnight, -ago), 9 * 60 + slot * 20);
            if start > self.now {
                start = shift(start, -1);
            }
            out.push((start, visit));
        }
        Ok(out)
    }

    /// One visit: the encounter with its notes, vitals, and what it led to. Returns
    /// the complaint it was about, if any, for a recheck to refer to.
    async fn visit(
        &mut self,
        tx: &mut TenantTx,
        animal: &Animal<'_>,
        started: DateTime<Utc>,
        visit: Visit,
        previous: Option<&'static Scenario>,
    ) -> Result<Option<&'static Scenario>, CommandError> {
        let (species, name) = (animal.species, animal.name);
        let patient = PatientId::from_uuid(animal.id);
        let age_then = animal.age_days - (self.midnight - started).num_days();
        let weight_grams = weight_at(
            animal.adult_kg,
            age_then,
            species.adult_at_days,
            animal.heavy,
            &mut self.rng,
        );
        let temp = self
            .rng
            .gen_range(species.temp_tenths.0..=species.temp_tenths.1);
        let heart = self.rng.gen_range(species.heart.0..=species.heart.1);
        let breaths = self.rng.gen_range(species.breaths.0..=species.breaths.1);
        let kg = format!("{}.{:03}", weight_grams / 1000, weight_grams % 1000);
        let fill = |text: &str| {
            text.replace("{name}", name)
                .replace("{kg}", &kg)
                .replace("{temp}", &format!("{}.{}", temp / 10, temp % 10))
                .replace("{hr}", &heart.to_string())
                .replace("{rr}", &breaths.to_string())
        };
        let vaccine = match visit {
            Visit::Vaccination => species.vaccines.choose(&mut self.rng),
            _ => None,
        };
        let scenario: Option<&'static Scenario> = match visit {
            Visit::Problem => {
                let fitting: Vec<&'static Scenario> = species
                    .problems
                    .iter()
                    .flat_map(|group| group.iter())
                    .filter(|s| age_then >= s.min_age_days)
                    .collect();
                fitting.choose(&mut self.rng).copied()
            }
            _ => None,
        };
        let (kind, reason, soap) = match (visit, scenario, vaccine) {
            (Visit::Vaccination, _, Some(v)) => (
                EncounterKind::Vaccination,
                "Annual booster".to_owned(),
                Soap {
                    subjective: fill("Here for {name}'s booster. Well at home; eating, drinking and toileting normally."),
                    objective: fill("Weight {kg} kg. T {temp} °C, HR {hr}, RR {rr}. Full examination unremarkable: heart and lungs normal on auscultation, abdomen soft, coat good."),
                    assessment: "Healthy; fit to vaccinate.".to_owned(),
                    plan: format!("{} given. Parasite control discussed. Next booster in {} months.", v.name, v.months),
                },
            ),
            (Visit::Problem, Some(s), _) => (
                EncounterKind::Consultation,
                s.reason.to_owned(),
                Soap {
                    subjective: fill(s.subjective),
                    objective: fill(s.objective),
                    assessment: fill(s.assessment),
                    plan: fill(s.plan),
                },
            ),
            (Visit::Recheck, ..) => {
                (
                    EncounterKind::Recheck,
                    previous.map_or_else(
                        || "Recheck".to_owned(),
                        |p| format!("Recheck: {}", p.reason.to_lowercase()),
                    ),
                    Soap {
                        subjective: fill("Owner reports {name} much improved since the last visit; medication given as directed."),
                        objective: fill("Weight {kg} kg. T {temp} °C, HR {hr}, RR {rr}. Bright and alert; previous findings resolving."),
                        assessment: "Responding well to treatment.".to_owned(),
                        plan: "Finish the current course. Return if signs recur.".to_owned(),
                    },
                )
            }
            (Visit::Dental, ..) => (
                EncounterKind::Dental,
                "Dental scale and polish".to_owned(),
                Soap {
                    subjective: fill("Admitted for dental under general anaesthetic; starved from 10 pm. Owner noticed bad breath."),
                    objective: fill("Pre-GA weight {kg} kg, T {temp} °C, HR {hr}. Grade 2 periodontal disease; calculus on upper premolars; one fractured incisor."),
                    assessment: "Periodontal disease, grade 2.".to_owned(),
                    plan: "Scale and polish, one extraction (fractured incisor). Soft food for 3 days, meloxicam for 3 days, dental recheck in 2 weeks.".to_owned(),
                },
            ),
            (Visit::Surgery, ..) => (
                EncounterKind::Surgery,
                "Mass removal".to_owned(),
                Soap {
                    subjective: fill("Admitted for removal of the skin mass on the flank found at the last visit. Starved from 10 pm."),
                    objective: fill("Pre-GA weight {kg} kg, T {temp} °C, HR {hr}, RR {rr}. 2 cm soft, mobile subcutaneous mass, left flank."),
                    assessment: "Subcutaneous mass, probable lipoma; excised with margins.".to_owned(),
                    plan: "Histopathology submitted. Buster collar, rest, meloxicam. Post-op check in 3 days, sutures out in 10 days.".to_owned(),
                },
            ),
            (Visit::Emergency, ..) => (
                EncounterKind::Emergency,
                "Ate chocolate".to_owned(),
                Soap {
                    subjective: fill("{name} ate about 100 g of dark chocolate roughly 1 hour ago. No vomiting yet."),
                    objective: fill("Weight {kg} kg. T {temp} °C, HR {hr} (mildly elevated), RR {rr}. Restless; otherwise normal examination."),
                    assessment: "Theobromine ingestion, potentially toxic dose.".to_owned(),
                    plan: "Emesis induced with apomorphine; chocolate recovered. Activated charcoal given. Monitor at home overnight; call if tremors or vomiting.".to_owned(),
                },
            ),
            (Visit::Telephone, ..) => (
                EncounterKind::Telephone,
                "Telephone advice".to_owned(),
                Soap {
                    subjective: fill("Owner called: {name} has had one episode of soft stool, otherwise bright and eating."),
                    objective: "Not examined (telephone).".to_owned(),
                    assessment: "Mild, self-limiting diarrhoea likely.".to_owned(),
                    plan: "Bland diet for 48 hours, fresh water. Book in if it persists or there is blood, vomiting or lethargy.".to_owned(),
                },
            ),
            (Visit::Euthanasia, ..) => (
                EncounterKind::Euthanasia,
                "Euthanasia".to_owned(),
                Soap {
                    subjective: fill("Quality of life discussed at length with the family; {name} no longer eating and struggling to stand."),
                    objective: fill("Weight {kg} kg. Weak, muscle wasting, pale mucous membranes."),
                    assessment: "Poor quality of life; prognosis hopeless.".to_owned(),
                    plan: "Euthanasia with pentobarbital IV with the family present. Individual cremation requested; condolence card sent.".to_owned(),
                },
            ),
            _ => (
                EncounterKind::Consultation,
                "Health check".to_owned(),
                Soap {
                    subjective: fill("Routine health check. No concerns at home."),
                    objective: fill("Weight {kg} kg. T {temp} °C, HR {hr}, RR {rr}. Examination unremarkable."),
                    assessment: "Healthy.".to_owned(),
                    plan: "Continue current diet and parasite control.".to_owned(),
                },
            ),
        };
        let encounter = encounters::create(
            tx,
            &NewEncounter {
                patient_id: patient,
                kind,
                started_at: started,
                attending: Some(self.staff.vet),
                reason: Some(reason),
                soap,
            },
        )
        .await?;
        self.counts.encounters += 1;
        let day = started.date_naive();
        if visit != Visit::Telephone {
            record::record_vitals(
                tx,
                patient,
                &NewVitals {
                    encounter_id: Some(encounter.id),
                    recorded_at: later(started, 5),
                    weight: WeightKg::from_grams(weight_grams),
                    temperature: species
                        .has_temperature
                        .then(|| TemperatureC::from_tenths(temp))
                        .flatten(),
                    heart_rate: Some(PerMinute::heart_rate("heart_rate", heart)?),
                    respiratory_rate: Some(PerMinute::respiratory_rate(
                        "respiratory_rate",
                        breaths,
                    )?),
                },
            )
            .await?;
            self.counts.vitals += 1;
        }
        if let Some(v) = vaccine {
            let months = i64::from(v.months);
            let due = shift(started, months * 365 / 12).date_naive();
            let given_by = if self.rng.gen_bool(0.5) {
                self.staff.vet
            } else {
                self.staff.technician
            };
            record::vaccinate(
                tx,
                patient,
                &NewVaccination {
                    encounter_id: Some(encounter.id),
                    vaccine: v.name.to_owned(),
                    manufacturer: Some(v.manufacturer.to_owned()),
                    lot_number: format!(
                        "{}{:05}{}",
                        v.lot_prefix,
                        self.rng.gen_range(0..100_000),
                        char::from(b'A' + self.rng.gen_range(0..26u8))
                    ),
                    lot_expires_on: Some(shift(started, self.rng.gen_range(120..500)).date_naive()),
                    given_on: day,
                    next_due_on: Some(due),
                    administered_by: given_by,
                    rabies_tag: v
                        .rabies
                        .then(|| format!("RB-{:06}", self.rng.gen_range(0..1_000_000))),
                },
            )
            .await?;
            self.counts.vaccinations += 1;
            let in_a_month = shift(self.midnight, 30).date_naive();
            if due >= self.today && due <= in_a_month {
                self.counts.vaccinations_due_soon += 1;
            }
        }
        if let Some(s) = scenario {
            if let Some(problem) = &s.problem {
                self.problem(tx, patient, Some(encounter.id), problem, started)
                    .await?;
            }
            if let Some(rx) = &s.prescription {
                self.prescribe(tx, patient, encounter.id, rx, started)
                    .await?;
            }
        }
        if visit == Visit::Dental || visit == Visit::Surgery {
            self.prescribe(tx, patient, encounter.id, &MELOXICAM, started)
                .await?;
        }
        // Notes lock once the editing period has passed: most were signed by the vet
        // a few hours after the visit; the rest the record clock locked at the deadline.
        if (self.now - started).num_hours() >= 24 {
            if self.rng.gen_bool(0.85) {
                let at = later(started, self.rng.gen_range(60..300));
                self.to_sign.push((encounter.id, at));
                if self.rng.gen_bool(0.05) {
                    let body =
                        fill("Owner phoned two days later: {name} doing well. No further action.");
                    self.addenda.push((encounter.id, body));
                }
            } else {
                encounters::finalise(tx, encounter.id, later(started, 24 * 60)).await?;
            }
        }
        Ok(scenario)
    }

    /// A problem or diagnosis; acute ones resolve ten days later if that has passed.
    async fn problem(
        &mut self,
        tx: &mut TenantTx,
        patient: PatientId,
        encounter: Option<EncounterId>,
        problem: &ProblemSpec,
        onset: DateTime<Utc>,
    ) -> Result<(), CommandError> {
        let added = record::add_problem(
            tx,
            patient,
            &NewProblem {
                encounter_id: encounter,
                kind: problem.kind,
                description: problem.description.to_owned(),
                code: problem
                    .snomed
                    .map(|code| (CodeSystem::Snomed, code.to_owned())),
                onset_on: Some(onset.date_naive()),
            },
        )
        .await?;
        self.counts.problems += 1;
        let resolved = shift(onset, 10);
        if problem.acute && resolved < self.midnight {
            record::resolve_problem(tx, patient, added.id, resolved.date_naive()).await?;
        }
        Ok(())
    }

    /// A prescription by the vet; a course that has run its days is completed.
    async fn prescribe(
        &mut self,
        tx: &mut TenantTx,
        patient: PatientId,
        encounter: EncounterId,
        rx: &Rx,
        started: DateTime<Utc>,
    ) -> Result<(), CommandError> {
        let written = record::prescribe(
            tx,
            patient,
            &NewPrescription {
                encounter_id: Some(encounter),
                drug: rx.drug.to_owned(),
                dose: rx.dose.to_owned(),
                route: rx.route,
                frequency: rx.frequency.to_owned(),
                duration_days: Some(rx.days),
                prescriber: self.staff.vet,
                starts_on: started.date_naive(),
                notes: rx.notes.map(str::to_owned),
            },
        )
        .await?;
        self.counts.prescriptions += 1;
        if shift(started, i64::from(rx.days)) < self.midnight {
            record::set_prescription_status(tx, patient, written.id, PrescriptionStatus::Completed)
                .await?;
        }
        Ok(())
    }

    /// The rooms and table, then a week of bookings from today: the vet consults in
    /// room 1 (mornings and afternoons, 20-minute slots; surgery mornings on Tuesday
    /// and Thursday), the technician runs nurse clinics in room 2 (30-minute slots),
    /// Saturday mornings only, closed on Sunday. Nearer days are fuller; today's
    /// bookings already past are completed (or no-shows).
    async fn bookings(&mut self, tx: &mut TenantTx) -> Result<(), CommandError> {
        let room1 = resources::add(tx, "Consult room 1", ResourceKind::Room).await?;
        let room2 = resources::add(tx, "Consult room 2", ResourceKind::Room).await?;
        let table = resources::add(tx, "Surgery table", ResourceKind::SurgeryTable).await?;
        self.counts.resources += 3;
        let alive: Vec<Seeded> = self.patients.iter().filter(|p| p.alive).cloned().collect();
        for offset in 0..BOOKED_DAYS {
            let day = shift(self.midnight, offset);
            let weekday = weekday(day.date_naive());
            if weekday == 7 {
                continue;
            }
            // 80% full today, about 40% by the end of the week.
            let fill = 0.8 - 0.4 * (offset as f64) / (BOOKED_DAYS as f64);
            let surgery_day = matches!(weekday, 2 | 4);
            let mut vet_slots: Vec<(u64, u64)> = Vec::new();
            if weekday == 6 {
                vet_slots.extend((0..9).map(|i| (9 * 60 + i * 20, 20)));
            } else {
                if !surgery_day {
                    vet_slots.extend((0..11).map(|i| (9 * 60 + i * 20, 20)));
                }
                vet_slots.extend((0..10).map(|i| (14 * 60 + i * 20, 20)));
            }
            for (start, minutes) in vet_slots {
                if self.rng.gen_bool(fill) {
                    let kind = *pick(
                        &mut self.rng,
                        &[
                            AppointmentKind::Consultation,
                            AppointmentKind::Consultation,
                            AppointmentKind::Consultation,
                            AppointmentKind::Vaccination,
                            AppointmentKind::Recheck,
                        ],
                    )?;
                    let slot = Slot {
                        day,
                        start_minute: start,
                        minutes,
                        kind,
                        staff: self.staff.vet,
                        resource: room1.id.as_uuid(),
                    };
                    self.book(tx, &alive, slot).await?;
                }
            }
            if surgery_day {
                for start in [9 * 60, 10 * 60 + 30] {
                    if self.rng.gen_bool(0.9) {
                        let kind = *pick(
                            &mut self.rng,
                            &[AppointmentKind::Surgery, AppointmentKind::Dental],
                        )?;
                        let slot = Slot {
                            day,
                            start_minute: start,
                            minutes: 90,
                            kind,
                            staff: self.staff.vet,
                            resource: table.id.as_uuid(),
                        };
                        self.book(tx, &alive, slot).await?;
                    }
                }
            }
            let nurse: Vec<u64> = if weekday == 6 {
                (0..4).map(|i| 9 * 60 + i * 30).collect()
            } else {
                (0..4)
                    .map(|i| 10 * 60 + i * 30)
                    .chain((0..4).map(|i| 14 * 60 + i * 30))
                    .collect()
            };
            for start in nurse {
                if self.rng.gen_bool(fill * 0.8) {
                    let kind = *pick(
                        &mut self.rng,
                        &[
                            AppointmentKind::Vaccination,
                            AppointmentKind::Recheck,
                            AppointmentKind::Other,
                        ],
                    )?;
                    let slot = Slot {
                        day,
                        start_minute: start,
                        minutes: 30,
                        kind,
                        staff: self.staff.technician,
                        resource: room2.id.as_uuid(),
                    };
                    self.book(tx, &alive, slot).await?;
                }
            }
        }
        Ok(())
    }

    /// Books `slot` for a random living patient and its primary owner.
    async fn book(
        &mut self,
        tx: &mut TenantTx,
        alive: &[Seeded],
        slot: Slot,
    ) -> Result<(), CommandError> {
        let Slot {
            day,
            start_minute,
            minutes,
            kind,
            staff,
            resource,
        } = slot;
        let patient = pick(&mut self.rng, alive)?;
        let reasons = match kind {
            AppointmentKind::Vaccination => &[
                "Booster vaccination",
                "First vaccination",
                "Second puppy/kitten vaccination",
            ][..],
            AppointmentKind::Recheck => &[
                "Recheck ears",
                "Recheck skin",
                "Post-op check",
                "Suture removal",
                "Weight clinic",
            ][..],
            AppointmentKind::Surgery => &["Mass removal", "Routine neuter", "Wound repair"][..],
            AppointmentKind::Dental => &["Dental scale and polish", "Dental extraction"][..],
            AppointmentKind::Other => &[
                "Nail clip",
                "Anal glands",
                "Microchip check",
                "Weight clinic",
            ][..],
            _ => patient.species.booking_reasons,
        };
        let starts = later(day, start_minute);
        let booked = bookings::book(
            tx,
            &Booking {
                patient_id: Some(PatientId::from_uuid(patient.id)),
                client_id: Some(ClientId::from_uuid(patient.owner)),
                staff: Some(staff),
                resource_id: Some(ResourceId::from_uuid(resource)),
                starts_at: starts,
                ends_at: later(starts, minutes),
                kind,
                reason: Some((*pick(&mut self.rng, reasons)?).to_owned()),
            },
        )
        .await?;
        self.counts.appointments += 1;
        let status = if later(starts, minutes) <= self.now {
            if self.rng.gen_bool(0.93) {
                Some(AppointmentStatus::Completed)
            } else {
                Some(AppointmentStatus::NoShow)
            }
        } else if starts <= self.now {
            Some(AppointmentStatus::InProgress)
        } else if self.rng.gen_bool(0.4) {
            Some(AppointmentStatus::Confirmed)
        } else {
            None
        };
        if let Some(status) = status {
            bookings::set_status(tx, booked.id, status).await?;
        }
        Ok(())
    }
}

/// The weight, in grams, of an animal `age_days` old whose adult weight is
/// `adult_kg`: growing until it is adult, then within a few percent of it (more for
/// the overweight ones), never below 10 g.
fn weight_at(adult_kg: f64, age_days: i64, adult_at: i64, heavy: bool, rng: &mut StdRng) -> u32 {
    let growth = if age_days < adult_at {
        0.25 + 0.75 * (age_days.max(0) as f64) / (adult_at as f64)
    } else {
        1.0
    };
    let drift = rng.gen_range(-0.04..0.04)
        + if heavy && age_days >= adult_at {
            0.18
        } else {
            0.0
        };
    let grams = adult_kg * 1000.0 * growth * (1.0 + drift);
    // In range by construction: 10 g up to a giant breed's 90 kg.
    grams.clamp(10.0, 1_500_000.0).round() as u32
}

/// `Family`, `O'Brien`, `Da Silva` as an email's local part: ascii letters only.
fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A postcode-shaped string of an invented district (`RV7 3QD`).
fn postcode(rng: &mut StdRng) -> String {
    let letters = b"ABDEFGHJLNPQRSTUWXYZ";
    let letter = |rng: &mut StdRng| letters.choose(rng).map_or('A', |b| char::from(*b));
    format!(
        "RV{} {}{}{}",
        rng.gen_range(1..20),
        rng.gen_range(1..10),
        letter(rng),
        letter(rng)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_grow_to_the_adult_weight_and_stay_in_range() {
        let mut rng = StdRng::seed_from_u64(1);
        let puppy = weight_at(30.0, 90, 365, false, &mut rng);
        let adult = weight_at(30.0, 2000, 365, false, &mut rng);
        assert!(puppy < adult, "{puppy} < {adult}");
        assert!((28_000..=32_000).contains(&adult), "{adult}");
        let budgie = weight_at(0.03, 10, 120, false, &mut rng);
        assert!(WeightKg::from_grams(budgie).is_some(), "{budgie}");
    }

    #[test]
    fn every_species_draws_valid_values() {
        for species in SPECIES {
            assert!(!species.breeds.is_empty() && !species.names.is_empty());
            assert!(!species.visits.is_empty() && !species.problems.is_empty());
            for t in [species.temp_tenths.0, species.temp_tenths.1] {
                assert!(!species.has_temperature || TemperatureC::from_tenths(t).is_some());
            }
            assert!(PerMinute::heart_rate("h", species.heart.1).is_ok());
            assert!(PerMinute::respiratory_rate("r", species.breaths.1).is_ok());
        }
    }

    #[test]
    fn chips_are_valid_and_unique() {
        let mut clinic = Clinic {
            rng: StdRng::seed_from_u64(7),
            staff: Staff {
                vet: UserId::new(),
                technician: UserId::new(),
            },
            now: Utc::now(),
            today: Utc::now().date_naive(),
            midnight: midnight(Utc::now().date_naive()).unwrap(),
            counts: Counts::default(),
            chips: HashSet::new(),
            patients: Vec::new(),
            to_sign: Vec::new(),
            addenda: Vec::new(),
        };
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            let chip = clinic.microchip(1.0).unwrap().unwrap();
            assert!(seen.insert(chip.as_str().to_owned()));
        }
    }

    #[test]
    fn helpers_for_days_and_names() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(); // a Monday
        assert_eq!(weekday(day), 1);
        let noon = midnight(day).unwrap() + Duration::from_secs(12 * 3600);
        assert_eq!(
            shift(noon, -1).date_naive(),
            NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
        );
        assert_eq!(
            shift(noon, 2).date_naive(),
            NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
        );
        assert_eq!(ascii_lower("O'Brien"), "obrien");
        assert_eq!(ascii_lower("Da Silva"), "dasilva");
        let mut rng = StdRng::seed_from_u64(3);
        assert!(postcode(&mut rng).starts_with("RV"));
    }
}
